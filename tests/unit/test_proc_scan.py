"""The one /proc scan (kernel.proc.processes): lazy fields, and a process that goes away or
cannot be read is empty, never an error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ocix.kernel.proc import Process, processes
from tests.helpers import wait_for


def fake_proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    (proc / "10").mkdir(parents=True)
    (proc / "10" / "cmdline").write_bytes(b"/usr/bin/dockerd\0--data-root\0/x y\0")
    (proc / "10" / "comm").write_text("dockerd\n")
    (proc / "11").mkdir()  # a kernel thread: empty cmdline
    (proc / "11" / "cmdline").write_bytes(b"")
    (proc / "12").mkdir()  # gone between the listing and the reads: nothing in it
    (proc / "13").mkdir()  # a process that rewrote its title: no trailing NUL
    (proc / "13" / "cmdline").write_bytes(b"postgres: writer")
    (proc / "self").mkdir()
    (proc / "sys").mkdir()
    return proc


def test_processes_lists_only_pids_and_reads_each_field_on_demand(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path)
    found = {p.pid: p for p in processes(proc)}
    assert sorted(found) == [10, 11, 12, 13]
    assert found[10].argv() == ["/usr/bin/dockerd", "--data-root", "/x y"]
    assert found[10].comm() == "dockerd"
    assert found[10].uid() == os.getuid()
    assert found[11].argv() == []
    assert found[13].argv() == ["postgres: writer"]
    gone = found[12]
    assert (gone.argv(), gone.comm(), gone.fd_targets()) == ([], "", [])
    (proc / "12").rmdir()
    assert gone.uid() is None


def test_a_missing_proc_root_is_an_empty_scan(tmp_path: Path) -> None:
    assert list(processes(tmp_path / "none")) == []


def test_the_real_proc_shows_a_child_with_its_argv_and_fds() -> None:
    child = subprocess.Popen(["sleep", "30"], stdin=subprocess.PIPE)
    try:
        # Popen returns once the child forked; its argv is sleep's only after the exec.
        wait_for("the child to exec sleep", lambda: Process(child.pid).argv() == ["sleep", "30"])
        mine = [p for p in processes() if p.pid == child.pid]
        assert len(mine) == 1
        assert mine[0].argv() == ["sleep", "30"] and mine[0].comm() == "sleep"
        assert mine[0].uid() == os.getuid()
        assert any(t.startswith("pipe:[") for t in mine[0].fd_targets())
    finally:
        child.kill()
        child.wait()
    assert Process(child.pid).argv() == []  # reaped: gone
