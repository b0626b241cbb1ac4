"""`ocix info`'s rootless rows on a fake /proc: which process holds the user namespace, its
uid_map, and that a missing or broken rootless lab never fails the command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocix.jobs.host import rootless as rootlessinfo
from ocix.jobs.host.daemons import Daemon, DaemonUserns
from ocix.jobs.host.info import HostInfo
from ocix.kernel.host import CgroupLayout, Lsm, Seccomp
from ocix.kernel.userns import CAPS_STAY_INSIDE


def fake_proc(tmp_path: Path, procs: dict[str, tuple[list[str], int, str]]) -> Path:
    """procs: pid ("self" too) -> (argv, user ns inode, uid_map text)."""
    proc = tmp_path / "proc"
    for pid, (argv, inode, uid_map) in procs.items():
        d = proc / pid
        (d / "ns").mkdir(parents=True)
        os.symlink(f"user:[{inode}]", d / "ns" / "user")
        (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
        (d / "uid_map").write_text(uid_map)
    return proc


LAB_MAP = "         0       1001          1\n         1     100000      65536\n"


def test_the_dockerd_of_this_lab_is_found_and_its_map_read(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {
        "self": (["ocix"], 4026531837, "0 0 4294967295\n"),
        "40": (["dockerd", "--data-root", "/home/u/lab-other/docker"], 4026532100, LAB_MAP),
        "50": (["dockerd", "--data-root", "/home/u/lab-mine/docker"], 4026532200, LAB_MAP),
    })
    pid = rootlessinfo.find_process(os.getuid(), "dockerd", "/home/u/lab-mine/", proc)
    assert pid == 50
    assert rootlessinfo.find_process(os.getuid() + 1, "dockerd", "/home/u/lab-mine/", proc) is None
    u = rootlessinfo.userns_of(50, "dockerd", proc)
    assert u == DaemonUserns(50, "dockerd", True, 4026532200, ["0 1001 1", "1 100000 65536"])
    assert u.why == "A" + CAPS_STAY_INSIDE[1:]
    assert rootlessinfo.userns_of(99, "dockerd", proc) is None  # gone: no row, no error


def test_a_process_in_the_hosts_user_namespace_is_shared(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {"self": (["ocix"], 7, "0 0 4294967295\n"),
                                "3": (["catatonit", "-P"], 7, "0 0 4294967295\n")})
    u = rootlessinfo.userns_of(3, "catatonit", proc)
    assert u is not None and (u.isolated, u.uid_map) == (False, ["0 0 4294967295"])


def test_the_pause_pid_comes_from_podmans_pid_file(tmp_path: Path) -> None:
    assert rootlessinfo.pause_pid(str(tmp_path)) is None
    (tmp_path / "libpod" / "tmp").mkdir(parents=True)
    (tmp_path / "libpod" / "tmp" / "pause.pid").write_text("1234")
    assert rootlessinfo.pause_pid(str(tmp_path)) == 1234


def test_no_rootless_lab_means_no_rows_and_a_broken_record_one_row(tmp_path: Path) -> None:
    assert rootlessinfo.rootless_daemons(None) == []
    assert rootlessinfo.rootless_daemons(str(tmp_path)) == []
    (tmp_path / "rootless.json").write_text('{"user": "root", "surprise": 1, "uid": "x"}')
    (row,) = rootlessinfo.rootless_daemons(str(tmp_path))
    assert (row.name, row.state) == ("rootless lab", "unreachable")
    assert row.note.startswith("cannot read its record: ")


def test_info_shows_the_user_namespace_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocix.jobs.host import info as hostinfo
    from tests.helpers import run_cli

    u = DaemonUserns(12, "catatonit", True, 4026532177, ["0 1001 1", "1 100000 65536"])
    h = HostInfo("6.1", CgroupLayout("v2", "/sys/fs/cgroup"), Seccomp(True, True, []),
                 Lsm(False, None, False), [],
                 [Daemon("podman-rootless", "podman as ocixlab", "running", user_namespace=u)])
    monkeypatch.setattr(hostinfo, "host_info", lambda *a: h)
    r = run_cli(["info"], env={"COLUMNS": "1000"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("ROOTLESS DAEMON"))
    assert lines[i + 2].split() == ["podman-rootless", "catatonit", "(12)", "isolated",
                                    "4026532177", "0", "1001", "1", "/", "1", "100000", "65536"]
    assert lines[i + 3] == u.why
