"""The kernel's evidence about a held container init: find it, wait for it, read it, release it.

Every path starts its container with model.HOLD_SCRIPT: a shell that traps SIGUSR1 and
sleeps. Once the trap shows in /proc/PID/status (SigCgt), ocix reads namespaces, cgroups,
capabilities and the parent process, then sends SIGUSR1; the trap execs the user's command in
place of the shell (docs/compare.md).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from ...errors import OcixError
from ...kernel.proc import PROC, Process, ProcessNotFoundError, processes
from .context import Deadline
from .model import (
    HOLD_SCRIPT,
    NAMESPACE_TYPES,
    RELEASE_SIGNAL_BIT,
    RLIMITS,
    Cgroup,
    Namespace,
    Parent,
    PathResult,
)

POLL = 0.02


def is_held(pid: int, name: str, proc: Path = PROC) -> bool:
    """True while `pid` is still the hold shell named `name` (not yet the user's command)."""
    argv = Process(pid, proc).argv()
    return len(argv) >= 4 and argv[2] == HOLD_SCRIPT and argv[3] == name


def find_held(name: str, deadline: Deadline, proc: Path = PROC) -> int:
    """The pid of the hold shell whose $0 is `name` (for paths whose API gives no pid)."""
    while True:
        for p in processes(proc):
            if is_held(p.pid, name, proc):
                return p.pid
        deadline.sleep(POLL, f"waiting for the container process {name} to appear")


def _sigcgt(pid: int, proc: Path) -> int:
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError as e:
        raise ProcessNotFoundError(f"the container's init (pid {pid}) exited before ocix could "
                                   "read it") from e
    for line in text.splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def wait_held(pid: int, name: str, deadline: Deadline, proc: Path = PROC) -> None:
    """Until `pid` is the hold shell (not the runtime's init still setting up, which catches
    SIGUSR1 too) and has its SIGUSR1 trap in place."""
    while not (_sigcgt(pid, proc) >> RELEASE_SIGNAL_BIT & 1 and is_held(pid, name, proc)):
        deadline.sleep(POLL, f"waiting for the container's init (pid {pid}) to be ready")


def release(pid: int, name: str, deadline: Deadline, proc: Path = PROC) -> None:
    """SIGUSR1 until the shell has exec'd the user's command (a signal lost in a race is resent)."""
    last = 0.0
    while is_held(pid, name, proc):
        if time.monotonic() - last > 0.5:
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                return
            last = time.monotonic()
        deadline.sleep(POLL, f"waiting for the container's init (pid {pid}) to run the command")


def parent_of(pid: int, proc: Path = PROC) -> Parent | None:
    """The init's parent from /proc/PID/stat (field 4, after the parenthesised comm)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
    argv = Process(ppid, proc).argv()
    if ppid == os.getpid():
        name = "ocix"
    else:
        try:
            name = os.path.basename(os.readlink(proc / str(ppid) / "exe"))
        except OSError:
            name = os.path.basename(argv[0]) if argv else ""
    return Parent(ppid, name, " ".join(argv))


def root_mount_dir(pid: int, proc: Path = PROC) -> str | None:
    """Where the container's / comes from: an overlay's upper layer dir, or the bind source."""
    try:
        lines = (proc / str(pid) / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or fields[4] != "/" or len(tail) < 3:
            continue
        if tail[0] == "overlay":
            for opt in tail[2].split(","):
                if opt.startswith("upperdir="):
                    return os.path.dirname(opt.removeprefix("upperdir="))
        return fields[3]
    return None


def limits_of(pid: int, proc: Path = PROC) -> dict[str, str]:
    """RLIMITS from /proc/PID/limits as "soft/hard" ("unlimited" stays a word)."""
    try:
        lines = (proc / str(pid) / "limits").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for name, label in RLIMITS.items():
        for line in lines:
            if line.startswith(label + " "):
                fields = line[len(label):].split()
                if len(fields) >= 2:
                    out[name] = f"{fields[0]}/{fields[1]}"
    return out


def mount_points(pid: int, proc: Path = PROC) -> list[str]:
    """The init's mount points (field 5 of /proc/PID/mountinfo), in the kernel's order."""
    try:
        lines = (proc / str(pid) / "mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [f[4] for f in (line.split() for line in lines) if len(f) > 4]


def read_into(result: PathResult, pid: int) -> None:
    """Namespaces (the user one with its uid_map), cgroup, capabilities, no_new_privs, seccomp,
    parent, rlimits and mount points of `pid`."""
    from ...kernel.view import kernel_view

    try:
        view = kernel_view(pid)
    except OcixError as e:
        raise OcixError(f"cannot read the kernel view of pid {pid}: {e.message}") from e
    result.pid = view.pid
    result.namespaces = {n.type: Namespace(n.inode, n.isolated)
                         for n in view.namespaces if n.type in NAMESPACE_TYPES}
    result.user_namespace = result.namespaces.get("user")
    result.uid_map = [f"{m.inside} {m.outside} {m.count}" for m in view.uid_map]
    memory = next((c for c in view.cgroups if "memory" in c.controllers), None)
    v2 = next((c for c in view.cgroups if c.version == 2), None)
    chosen = memory or v2 or (view.cgroups[0] if view.cgroups else None)
    r = view.resources
    result.cgroup = Cgroup(chosen.path if chosen else "", r.memory_limit, r.pids_limit,
                           r.cpu_quota_us, r.cpu_period_us)
    result.cap_eff = view.caps.effective.hex
    result.capabilities = list(view.caps.effective.names)
    result.no_new_privs = view.no_new_privs
    result.seccomp = view.seccomp_mode
    result.parent = parent_of(pid)
    result.rlimits = limits_of(pid)
    result.mounts = mount_points(pid)


def inspect_pid(info: dict[str, Any], what: str) -> int:
    """The init pid in a container inspect document (docker's and podman's agree); an error
    naming `what` when it is not running."""
    state = info.get("State") or {}
    pid = int(state.get("Pid") or 0)
    if pid <= 0:
        raise OcixError(f"{what} is not running: {state.get('Error') or 'no pid'}")
    return pid


def inspect_rootfs(info: dict[str, Any]) -> str | None:
    """The overlay's merged dir in a container inspect document, when the driver names one."""
    rootfs: str | None = ((info.get("GraphDriver") or {}).get("Data") or {}).get("MergedDir")
    return rootfs
