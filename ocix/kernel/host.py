"""What the host kernel offers containers: the cgroup layout, seccomp, LSMs, socket owners.

All of it comes from /proc and /sys (docs/info.md says which file answers what); every
reader takes its root as a parameter so the parsing is tested on recorded files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .proc import PROC, Process, processes

SYS = Path("/sys")
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class CgroupLayout:
    mode: str  # "v1", "v2", "hybrid" (v1 controllers plus a cgroup2 mount) or "none"
    v2_mount: str  # where cgroup2 is mounted, "" if nowhere
    v1_controllers: list[str] = field(default_factory=list)  # by hierarchy, e.g. "cpu", "name=systemd"
    v2_controllers: list[str] = field(default_factory=list)  # enabled in the cgroup2 root


# Super options of a v1 cgroup mount that are not controllers.
_V1_FLAGS = {"rw", "ro", "xattr", "clone_children", "noprefix", "cpuset_v2_mode"}


def cgroup_layout(mountinfo: str | None = None, root: Path = Path("/")) -> CgroupLayout:
    """v1, v2 or hybrid, from the cgroup mounts under /sys/fs/cgroup (mountinfo's fstype)."""
    if mountinfo is None:
        mountinfo = (PROC / "self/mountinfo").read_text()
    v1: list[str] = []
    v2_mount = ""
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        target, fstype, options = fields[4], rest[0], rest[2]
        if not (target == CGROUP_ROOT or target.startswith(CGROUP_ROOT + "/")):
            continue
        if fstype == "cgroup2":
            v2_mount = target
        elif fstype == "cgroup":
            opts = [o for o in options.split(",")
                    if o.startswith("name=") or ("=" not in o and o not in _V1_FLAGS)]
            v1.append(",".join(opts))
    v2_controllers: list[str] = []
    if v2_mount:
        try:
            v2_controllers = (root / v2_mount.lstrip("/") / "cgroup.controllers").read_text().split()
        except OSError:
            pass
    if v2_mount == CGROUP_ROOT:
        mode = "v2"
    elif v2_mount and v1:
        mode = "hybrid"
    elif v1:
        mode = "v1"
    else:
        mode = "v2" if v2_mount else "none"
    return CgroupLayout(mode, v2_mount, sorted(v1), v2_controllers)


@dataclass(frozen=True)
class Seccomp:
    supported: bool  # the kernel has seccomp (a Seccomp: line in /proc/self/status)
    filter: bool  # seccomp-bpf filters, what container runtimes install
    actions: list[str] = field(default_factory=list)  # /proc/sys/kernel/seccomp/actions_avail
    own_mode: int | None = None  # this process: 0 off, 1 strict, 2 filter


def seccomp(proc_root: Path = PROC) -> Seccomp:
    mode: int | None = None
    try:
        for line in (proc_root / "self/status").read_text().splitlines():
            if line.startswith("Seccomp:"):
                mode = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        actions = (proc_root / "sys/kernel/seccomp/actions_avail").read_text().split()
    except OSError:
        actions = []
    return Seccomp(supported=mode is not None, filter=bool(actions), actions=actions,
                   own_mode=mode)


@dataclass(frozen=True)
class Lsm:
    apparmor: bool  # the AppArmor module is enabled
    apparmor_profiles: int | None  # loaded profiles, when securityfs shows them
    selinux: bool
    active: list[str] = field(default_factory=list)  # /sys/kernel/security/lsm, in order


def lsm(sys_root: Path = SYS) -> Lsm:
    def read(rel: str) -> str | None:
        try:
            return (sys_root / rel).read_text().strip()
        except OSError:
            return None

    enabled = read("module/apparmor/parameters/enabled") == "Y"
    profiles_text = read("kernel/security/apparmor/profiles")
    profiles = len(profiles_text.splitlines()) if profiles_text is not None else None
    active = [x for x in (read("kernel/security/lsm") or "").split(",") if x]
    apparmor = enabled or "apparmor" in active
    return Lsm(apparmor=apparmor, apparmor_profiles=profiles if apparmor else None,
               selinux=(sys_root / "fs/selinux/enforce").exists() or "selinux" in active,
               active=active)


@dataclass(frozen=True)
class SocketOwner:
    """The process listening on a unix socket: `ps aux | grep dockerd`, found by the socket."""

    pid: int
    command: str
    uid: int
    user_namespace: bool  # in a user namespace other than the host's (e.g. rootlesskit)

    @property
    def rootless(self) -> bool:
        return self.uid != 0 or self.user_namespace


def listening_inode(path: str, proc_root: Path = PROC) -> int | None:
    """The inode of the listening unix socket bound to `path`, from /proc/net/unix."""
    try:
        lines = (proc_root / "net/unix").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        # Num RefCount Protocol Flags Type St Inode Path; flags 00010000 = accepting connections
        if len(cols) >= 8 and cols[7] == path and int(cols[3], 16) & 0x10000:
            return int(cols[6])
    return None


def socket_owner(path: str, proc_root: Path = PROC) -> SocketOwner | None:
    """Who listens on `path`: scans /proc/*/fd for the socket's inode (needs root for others)."""
    inode = listening_inode(os.path.realpath(path), proc_root) or listening_inode(path, proc_root)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    host_userns = _readlink(proc_root / "1/ns/user")
    for p in processes(proc_root):
        if target in p.fd_targets():
            return _owner(p, host_userns)
    return None


def _owner(p: Process, host_userns: str | None) -> SocketOwner:
    uid = 0
    try:
        for line in (p.dir / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                uid = int(line.split()[2])  # effective uid
    except (OSError, ValueError):
        pass
    command = next(iter(p.argv()), "")
    userns = _readlink(p.dir / "ns/user")
    return SocketOwner(p.pid, command, uid, bool(host_userns and userns and userns != host_userns))


def _readlink(p: Path) -> str | None:
    try:
        return os.readlink(p)
    except OSError:
        return None
