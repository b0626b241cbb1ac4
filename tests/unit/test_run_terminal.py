"""-i -t with a stdin that is not a terminal is refused before anything is created, as docker
refuses it: a pipe's EOF would close the container's terminal before the shell read it."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli

UNREACHABLE = {"CONTAINERD_ADDRESS": "/nonexistent/containerd.sock"}
LINES = ["Error: -i with -t needs a terminal on stdin, and stdin is not one",
         "Hint: drop -t to pipe input into the process"]


@pytest.mark.parametrize("args", [["run", "--rm", "-it", "busybox", "sh"],
                                  ["run", "--rm", "-i", "-t", "busybox", "sh"],
                                  ["tasks", "exec", "-it", "web", "sh"],
                                  ["tasks", "exec", "-t", "-i", "web", "sh"]])
def test_interactive_terminal_from_a_pipe_is_usage_exit_2(args: list[str]) -> None:
    r = run_cli(args, env=UNREACHABLE, input="id; exit 3\n")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines() == LINES


@pytest.mark.parametrize("args", [["run", "--rm", "-i", "busybox", "sh"],
                                  ["run", "--rm", "-t", "busybox", "sh"],
                                  ["tasks", "exec", "-i", "web", "sh"]])
def test_without_both_flags_it_goes_on_to_the_daemon(args: list[str]) -> None:
    r = run_cli(args, env=UNREACHABLE, input="id\n")
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "Error: containerd socket /nonexistent/containerd.sock does not exist"
