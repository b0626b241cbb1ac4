"""`ocix explain`: every topic loads, stays short, and every ocix command it names parses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ocix.cli.main import COMMANDS
from ocix.cli.teach import command_problem
from ocix.teach import explain
from ocix.teach.probe import PROBE_KINDS, probe
from tests.helpers import run_cli

REQUIRED = ["docker", "containerd", "cri", "cri-o", "podman", "runc", "oci", "shims",
            "namespaces", "cgroups", "capabilities", "storage", "rootless"]
# Commands other branches are adding.  A line that names one of these is allowed to miss
# while the command is absent from COMMANDS; once it is registered, it must parse like any other.
PLANNED = {"info", "caps", "compare", "cri", "df", "layers", "snapshots", "content", "leases",
           "events", "why"}
PLANNED_SUBCOMMANDS = {("images", "inspect"), ("images", "history"), ("images", "diff")}
PLANNED_FLAGS = {"--with-podman"}  # `ocix lab up --with-podman`


def test_every_required_topic_exists_in_order() -> None:
    assert explain.topic_names()[:len(REQUIRED)] == REQUIRED


@pytest.mark.parametrize("name", REQUIRED)
def test_topic_is_complete_and_short(name: str) -> None:
    t = explain.load(name)
    assert t.title and t.summary and t.commands and t.parts
    assert len(t.text.splitlines()) <= 40
    assert "→" in t.diagram or "─▶" in t.diagram
    for part in t.parts:
        assert part.probe.partition(":")[0] in PROBE_KINDS, part


def _named_commands() -> list[tuple[str, str]]:
    """Every `ocix …` command a topic lists, plus every one quoted in backticks in its text."""
    out = []
    for t in explain.all_topics():
        out += [(t.name, c) for c in t.commands]
        out += [(t.name, c) for c in re.findall(r"`(ocix [^`]+)`", t.text)]
    return out


@pytest.mark.parametrize(("topic", "line"), _named_commands(), ids=lambda v: v)
def test_named_command_exists_and_accepts_its_flags(topic: str, line: str) -> None:
    problem = command_problem(line)
    if problem is None:
        return
    words = line.split()[1:]
    words = [w for w in words if not w.startswith("-")]
    top = words[0]
    if top in PLANNED and top not in COMMANDS:
        assert problem == f"needs `ocix {top}` (not in this build)"
        return
    if tuple(words[:2]) in PLANNED_SUBCOMMANDS and "not in this build" in problem:
        return
    flag = re.search(r"No such option '([^']+)'", problem)
    if flag and flag.group(1) in PLANNED_FLAGS:
        return
    pytest.fail(f"{topic}: {line!r}: {problem}")


def test_command_problem_catches_bad_flags_and_names() -> None:
    assert command_problem("ocix kernel --pid 1") is None
    assert command_problem("ocix -n k8s.io containers ls") is None
    assert command_problem("ocix run --rm busybox echo hi") is None
    assert command_problem("ocix kernel --no-such-flag") == \
        "`ocix kernel`: No such option '--no-such-flag'."
    assert command_problem("ocix nosuchcommand") == \
        "needs `ocix nosuchcommand` (not in this build)"
    assert command_problem("ocix images nosuch") == "needs `ocix images nosuch` (not in this build)"
    assert command_problem("docker ps") == "does not start with `ocix`"


def test_unknown_topic_is_one_line_exit_1() -> None:
    r = run_cli(["explain", "nope"])
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: no topic 'nope'\nHint: topics: docker, containerd,")


def test_alias_resolves() -> None:
    assert explain.resolve_name("CRIO") == "cri-o"


def test_json_lists_topics_and_a_topic() -> None:
    r = run_cli(["explain", "--json"])
    assert [t["name"] for t in json.loads(r.stdout)["topics"]][:13] == REQUIRED
    r = run_cli(["explain", "namespaces", "--json"])
    data = json.loads(r.stdout)
    assert data["topic"] == "namespaces"
    kernel = next(p for p in data["parts"] if p["probe"] == "kernel:namespaces")
    assert kernel["present"] is True and "pid" in kernel["detail"].split()
    assert {"command": "ocix kernel --pid $$", "available": True, "problem": ""} in data["commands"]


def test_probes_report_absence_without_raising() -> None:
    m = probe("x", "binary:ocix-no-such-binary")
    assert (m.present, m.running, m.detail) == (False, None, "ocix-no-such-binary is not on PATH")
    m = probe("y", "process:ocix-nothing")
    assert (m.present, m.running) == (False, False)


def test_html_into_a_file_is_one_line_exit_1(tmp_path: Path) -> None:
    """--html DIR where DIR is a file: one line naming it, no traceback, nothing left behind."""
    not_dir = tmp_path / "notes.txt"
    not_dir.write_text("x")
    r = run_cli(["explain", "--html", str(not_dir)])
    assert r.exit_code == 1
    assert r.stderr == (f"Error: cannot write {not_dir}/docker.html: {not_dir} is not a "
                        "directory\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
