"""The tour's data: 25 steps, each complete, each action and command resolvable; its helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ocix.cli.main import COMMANDS
from ocix.cli.teach import command_problem
from ocix.lab.parts import PARTS
from ocix.teach import engine as tour_engine
from ocix.teach import session, tour
from ocix.teach import steps as tour_steps
from tests.helpers import run_cli

# Commands that other changes add; until then a step naming them reports it instead of passing.
PLANNED = {"info", "caps", "df", "layers", "snapshots"}
PLANNED_SUBCOMMANDS = {("images", "history")}

STEPS = tour.load_steps()


def test_the_25_handout_steps_then_cri_and_podman_in_order() -> None:
    assert [s.number for s in STEPS] == list(range(1, 28))
    assert [s.action for s in STEPS[25:]] == ["cri_pod", "podman"]


def test_from_kernel_runs_every_step_bottom_up() -> None:
    order = tour.from_kernel_order()
    assert sorted(order) == [s.number for s in STEPS]  # every step once
    assert order[:2] == [24, 25]  # unshare, then runc on a bundle
    assert order.index(21) < order.index(3) < order.index(26)  # containerd, Docker, the CRI


@pytest.mark.parametrize("step", STEPS, ids=lambda s: str(s.number))
def test_step_is_complete(step: tour.Step) -> None:
    assert step.title and step.handout and step.look_for and step.explanation
    assert step.action in tour_steps.ACTIONS
    assert not step.fixture or step.fixture in tour_steps.FIXTURES
    assert set(step.needs) <= set(PARTS)
    assert step.ocix_command
    assert len(step.explanation.split()) < 120  # one paragraph


def _run_lines() -> list[tuple[int, str]]:
    return [(s.number, line) for s in STEPS for line in s.run]


@pytest.mark.parametrize(("number", "line"), _run_lines(), ids=lambda v: str(v))
def test_every_command_a_step_runs_parses(number: int, line: str) -> None:
    filled = re.sub(r"\{[a-z_]+\}", "X", line)
    problem = command_problem(filled)
    if problem is None:
        return
    words = [w for w in filled.split()[1:] if not w.startswith("-")]
    planned = (words[0] in PLANNED and words[0] not in COMMANDS) or \
        tuple(words[:2]) in PLANNED_SUBCOMMANDS
    assert planned and problem.endswith("(not in this build)"), f"step {number}: {problem}"


def test_keep_blocks() -> None:
    text = "Process  1\nUser  0\n\nNAMESPACE  X\nmnt 1\n\nCGROUP\n0 2 -"
    assert session.keep_blocks(text, ["NAMESPACE"]) == "NAMESPACE  X\nmnt 1"
    assert session.keep_blocks(text, ["Process", "CGROUP"]) == "Process  1\nUser  0\n\nCGROUP\n0 2 -"
    assert session.keep_blocks(text, []) == text


def test_demux_splits_docker_frames() -> None:
    payload = b"\x01\x00\x00\x00\x00\x00\x00\x03out\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert tour_engine.demux(payload) == [(1, b"out"), (2, b"err\n")]


def test_missing_command_is_reported_not_run() -> None:
    session = tour.Session({}, lambda line: "needs `ocix nope` (not in this build)", "/nonexistent")
    step = tour.Step(99, "t", "h", "l", "commands", "e", run=["ocix nope"])
    r = tour.run_step(session, step, {})
    assert (r.ok, r.skipped_reason, r.output) == (False, "needs `ocix nope` (not in this build)", "")


def test_unavailable_part_skips_with_the_reason() -> None:
    session = tour.Session({}, command_problem, "/nonexistent")
    step = tour.Step(99, "t", "h", "l", "commands", "e", run=["ocix version"], needs=["docker"])
    r = tour.run_step(session, step, {"docker": "needs dockerd"})
    assert (r.ok, r.skipped_reason) == (False, "needs dockerd")


def test_cleanups_run_newest_first_and_report_failures() -> None:
    session = tour.Session({}, command_problem, "/nonexistent")
    order: list[str] = []

    def boom() -> None:
        raise OSError("busy")

    session.on_close("a", lambda: order.append("a"))
    session.on_close("b", boom)
    session.on_close("c", lambda: order.append("c"))
    assert session.close() == ["b: busy"]
    assert order == ["c", "a"]


def test_list_json_and_unknown_step() -> None:
    r = run_cli(["tour", "--list", "--json"])
    assert r.exit_code == 0
    steps = json.loads(r.stdout)["steps"]
    assert steps[23]["title"] == "unshare: a pid namespace by hand"
    r = run_cli(["tour", "--step", "28"])
    assert r.exit_code == 1
    assert r.stderr == "Error: no tour step 28\nHint: steps are 1-27: `ocix tour --list`\n"


def test_daemon_rootless_reads_the_table_and_the_blocks() -> None:
    from ocix.teach.session import daemon_rootless

    row = "{:<12} {:<13} {:<9} {:<9} {}".format
    table = "\n".join([row("DAEMON", "ADDRESS", "STATE", "ROOTLESS", "PID"), "─" * 50,
                       row("containerd", "/lab/c.sock", "running", "no", "12"),
                       row("docker", "unix:///x", "running", "yes", "13")]) + "\n"
    assert daemon_rootless(table) == {"containerd": "no", "docker": "yes"}
    blocks = ("DAEMON containerd\n  ADDRESS   /lab/c.sock\n  ROOTLESS  no\n\n"
              "DAEMON docker\n  ADDRESS   unix:///x\n  ROOTLESS  yes\n  PID       13\n")
    assert daemon_rootless(blocks) == {"containerd": "no", "docker": "yes"}


def test_kept_fixtures_share_the_container_of_steps_8_to_11() -> None:
    from ocix.teach import tour

    steps = tour.load_steps()
    users = [s.number for s in steps if s.fixture == "docker_sleeper"]
    assert users == [8, 9, 10, 11]
    pick = lambda *ns: [s for s in steps if s.number in ns]  # noqa: E731
    assert tour.kept_fixtures(steps, pick(9)) == {"docker_sleeper"}
    assert tour.kept_fixtures(steps, pick(9, 10)) == {"docker_sleeper"}
    assert tour.kept_fixtures(steps, pick(10, 11)) == set()  # the last user removes it
    assert tour.kept_fixtures(steps, steps) == set()
    assert tour.kept_fixtures(steps, pick(12, 13)) == set()  # containerd_image: nothing kept


def test_ancestors_walk_up_to_pid_1() -> None:
    import os

    from ocix.teach.pods import ancestors, ppid_of

    chain = ancestors(os.getpid())
    assert chain[0] == os.getpid() and chain[1] == os.getppid() == ppid_of(os.getpid())
    assert chain[-1] == 1


def test_the_cri_step_reads_the_id_next_to_a_pull_note() -> None:
    from ocix.teach.pods import printed_id

    pod = "c" * 64
    assert printed_id(f"$ ocix cri create …\n{pod}\nPulled busybox (sha256:{'8' * 64})") == pod


@pytest.mark.parametrize("args", [["--record", "rec"], ["--list", "--record", "rec"]])
def test_record_without_steps_is_usage_exit_2(tmp_path: Path, args: list[str]) -> None:
    """It listed the steps and wrote nothing, silently."""
    r = run_cli(["tour", *[str(tmp_path / a) if a == "rec" else a for a in args]])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines()[-1] == ("Error: --record writes the steps run: give --step N, "
                                         "--all or --from-kernel")
    assert list(tmp_path.iterdir()) == []
