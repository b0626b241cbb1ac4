"""`ocix info`'s pure parts: cgroup layout from mountinfo, seccomp/LSM from files, socket owners,
and probes of sockets nobody answers on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ocix.jobs.host.daemons import containerd_probe, docker_probe
from ocix.jobs.host.info import runtime_binaries
from ocix.kernel.host import cgroup_layout, listening_inode, lsm, seccomp, socket_owner

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
62 27 0:52 / /tmp/x/rootfs rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c
"""
V2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
V1 = "\n".join(HYBRID.splitlines()[:4]) + "\n"


def test_cgroup_modes(tmp_path: Path) -> None:
    (tmp_path / "sys/fs/cgroup/unified").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/unified/cgroup.controllers").write_text("hugetlb\n")
    h = cgroup_layout(HYBRID, tmp_path)
    assert (h.mode, h.v2_mount, h.v1_controllers, h.v2_controllers) == (
        "hybrid", "/sys/fs/cgroup/unified", ["cpu", "memory", "name=systemd"], ["hugetlb"])
    (tmp_path / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory pids\n")
    v2 = cgroup_layout(V2, tmp_path)
    assert (v2.mode, v2.v1_controllers, v2.v2_controllers) == ("v2", [], ["cpu", "memory", "pids"])
    assert cgroup_layout(V1, tmp_path).mode == "v1"
    assert cgroup_layout("", tmp_path).mode == "none"


def test_seccomp_from_proc_files(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t1\n")
    assert seccomp(tmp_path).supported and seccomp(tmp_path).own_mode == 2
    assert not seccomp(tmp_path).filter  # no actions_avail: strict mode only
    (tmp_path / "sys/kernel/seccomp").mkdir(parents=True)
    (tmp_path / "sys/kernel/seccomp/actions_avail").write_text("kill_process errno allow\n")
    assert seccomp(tmp_path).actions == ["kill_process", "errno", "allow"]
    (tmp_path / "self/status").write_text("Name:\tx\n")
    assert not seccomp(tmp_path).supported


def test_apparmor_from_sys_files(tmp_path: Path) -> None:
    assert lsm(tmp_path).apparmor is False and lsm(tmp_path).apparmor_profiles is None
    (tmp_path / "module/apparmor/parameters").mkdir(parents=True)
    (tmp_path / "module/apparmor/parameters/enabled").write_text("Y\n")
    (tmp_path / "kernel/security/apparmor").mkdir(parents=True)
    (tmp_path / "kernel/security/apparmor/profiles").write_text(
        "docker-default (enforce)\n/usr/bin/man (enforce)\n")
    (tmp_path / "kernel/security/lsm").write_text("lockdown,capability,apparmor")
    got = lsm(tmp_path)
    assert (got.apparmor, got.apparmor_profiles, got.selinux, got.active) == (
        True, 2, False, ["lockdown", "capability", "apparmor"])


def test_the_listener_of_a_socket_is_this_process(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)
        assert listening_inode(path) is None  # bound, not listening yet
        s.listen()
        owner = socket_owner(path)
        assert owner is not None
        assert (owner.pid, owner.uid, owner.user_namespace) == (os.getpid(), os.geteuid(), False)
        assert owner.rootless is (os.geteuid() != 0)


def _dead_socket(tmp_path: Path) -> str:
    path = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # the file stays; connecting is refused
    return path


def test_probes_of_a_dead_socket_report_unreachable(tmp_path: Path) -> None:
    path = _dead_socket(tmp_path)
    d = docker_probe(f"unix://{path}")
    assert (d.state, d.note) == ("unreachable", f"cannot reach dockerd at unix://{path}: Connection refused")
    c = containerd_probe(path)
    assert c.state == "unreachable" and c.note.startswith(f"cannot reach containerd at {path}: ")


def test_probes_of_a_missing_socket_report_absent(tmp_path: Path) -> None:
    d = containerd_probe(str(tmp_path / "none.sock"))
    assert (d.state, d.note, d.storage) == ("absent", f"no socket at {tmp_path}/none.sock", [])


def test_runtime_binaries_are_both_listed() -> None:
    names = [r.name for r in runtime_binaries()]
    assert names == ["runc", "crun"]
