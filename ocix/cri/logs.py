"""Container logs in the CRI log format, read from the node's disk the way crictl reads them.

Each line of a CRI log file is `<RFC 3339 time> <stdout|stderr> <P|F> <text>`: `P` marks a
partial line that continues on the next record of the same stream, `F` a full one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError


@dataclass(frozen=True)
class LogEntry:
    time: str  # of the record that ended the line
    stream: str  # stdout or stderr
    text: str


def parse(lines: Iterable[str]) -> Iterator[LogEntry]:
    """Records -> whole lines; partial records are joined per stream, malformed lines skipped."""
    partial: dict[str, str] = {}
    for raw in lines:
        parts = raw.rstrip("\n").split(" ", 3)
        if len(parts) < 3 or parts[1] not in ("stdout", "stderr"):
            continue
        stamp, stream, tag = parts[0], parts[1], parts[2]
        text = parts[3] if len(parts) > 3 else ""
        if tag == "P":
            partial[stream] = partial.get(stream, "") + text
            continue
        yield LogEntry(stamp, stream, partial.pop(stream, "") + text)


def _open(path: str) -> Path:
    p = Path(path)
    if not path:
        raise NotFoundError("the runtime reports no log path for this container",
                            hint="give the pod a log_directory and the container a log_path")
    if not p.exists():
        raise NotFoundError(f"log file {path} does not exist on this host",
                            hint="logs are read from the node's disk: run ocix on the node "
                                 "itself, not through a forwarded CRI socket")
    return p


def read(path: str, tail: int | None = None) -> list[LogEntry]:
    """The log's lines, or its last `tail` ones."""
    with _open(path).open(encoding="utf-8", errors="replace") as f:
        entries = parse(f)
        return list(deque(entries, maxlen=tail)) if tail is not None and tail >= 0 else list(entries)


def follow(path: str, running: Callable[[], bool], tail: int | None = None,
           interval: float = 0.25) -> Iterator[LogEntry]:
    """The log's lines (or the last `tail`), then new ones while `running()` stays true."""
    with _open(path).open(encoding="utf-8", errors="replace") as f:
        yield from deque(parse(f), maxlen=tail) if tail is not None and tail >= 0 else parse(f)
        pending = ""
        while True:
            chunk = f.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split("\n")
                yield from parse(complete)
                continue
            if not running():
                yield from parse([pending, *f.read().split("\n")])
                return
            time.sleep(interval)
