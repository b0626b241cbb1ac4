"""The handbook as HTML: `ocix explain --html DIR` (every topic a page, its diagram as SVG,
its live marks from this host, links between the topics) and `ocix tour --record DIR` (each
step's command, output and explanation from a real run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..teach.explain import Topic
from ..teach.session import StepResult
from .page import Section, render, write

CHAR_W, LINE_H = 7.6, 17  # the diagram's monospace cell, in SVG units


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    lines: list[tuple[int, str]]  # (baseline y, text)


def diagram(text: str) -> Diagram:
    """ASCII art as SVG text lines, spaces kept, so it scales with the page."""
    lines = text.splitlines() or [""]
    width = int(max(len(x) for x in lines) * CHAR_W) + 20
    return Diagram(width, len(lines) * LINE_H + 12,
                   [(LINE_H * (i + 1), x) for i, x in enumerate(lines)])


def _nav(topics: list[Topic]) -> list[tuple[str, str]]:
    return [("index.html", "all topics"), *((f"{t.name}.html", t.name) for t in topics)]


def explain_pages(directory: str, topics: list[Topic],
                  commands: dict[str, list[tuple[str, str | None]]]) -> list[Path]:
    """index.html plus TOPIC.html for each topic; `commands` maps a topic to (command, why it
    does not run in this build or None)."""
    root = Path(directory)
    nav = _nav(topics)
    written = []
    for t in topics:
        section = Section("topic", t.title, "topic.html.j2", {
            "topic": t, "diagram": diagram(t.diagram), "commands": commands.get(t.name, []),
            "others": [o for o in topics if o.name != t.name]})
        path = root / f"{t.name}.html"
        write(path, render([section], f"ocix explain {t.name}", nav))
        written.append(path)
    index = Section("topics", "The container stack, topic by topic", "topics.html.j2",
                    {"topics": topics})
    path = root / "index.html"
    write(path, render([index], "ocix explain: the handbook", nav))
    return [path, *written]


def tour_pages(directory: str, results: list[StepResult], total: int,
               meta: dict[str, Any]) -> list[Path]:
    """step-NN.html for each step run, and index.html listing them with their results."""
    root = Path(directory)
    nav = [("index.html", "all steps"), *((f"step-{r.number:02d}.html", str(r.number))
                                          for r in results)]
    written = []
    for r in results:
        section = Section("step", f"Step {r.number} of {total}: {r.title}", "step.html.j2",
                          {"step": r})
        path = root / f"step-{r.number:02d}.html"
        write(path, render([section], f"ocix tour: step {r.number}", nav))
        written.append(path)
    index = Section("steps", "A recorded run of the tour", "steps.html.j2",
                    {"steps": results, "total": total, "meta": meta})
    path = root / "index.html"
    write(path, render([index], "ocix tour: a recorded run", nav))
    return [path, *written]
