"""What /proc says about one process (status lines, namespaces, id maps), and the one scan of
every process (`processes`).

Every function takes the pid and a `proc_root` so tests can point it at a fake tree.
A vanished pid becomes ProcessNotFoundError; a /proc entry we may not read, ProcAccessError.
A scan's `Process` instead reads a vanished or unreadable process as empty.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError, OcixError

PROC = Path("/proc")
# The kernel's ns/ links; pid_for_children/time_for_children are 4.12+/5.6+.
NAMESPACE_TYPES: tuple[str, ...] = (
    "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children",
    "user", "uts",
)
_NS_LINK = re.compile(r"^([a-z_]+):\[(\d+)\]$")


class ProcessNotFoundError(NotFoundError):
    """The pid does not exist (or exited while we were reading it)."""


class ProcAccessError(OcixError):
    """/proc/PID exists but this process may not read it (ptrace access mode checks)."""


PidRef = int | str  # a pid, or "self"


def pid_dir(pid: PidRef, proc_root: Path = PROC) -> Path:
    d = proc_root / str(pid)
    if not d.is_dir():
        raise ProcessNotFoundError(f"no process {pid}: {d} does not exist",
                                   hint="has the task exited? list running tasks first")
    return d


def _oserror(pid: PidRef, path: Path, e: OSError) -> OcixError:
    if e.errno in (errno.ENOENT, errno.ESRCH):
        return ProcessNotFoundError(f"process {pid} is gone (reading {path}: {e.strerror})")
    if e.errno in (errno.EACCES, errno.EPERM):
        if os.geteuid() != 0:
            hint = ("run as root; a process in a user namespace that is not ours (or a "
                    "non-dumpable one) may stay unreadable even then")
        else:  # root already: the kernel refuses ptrace-level access to this process
            hint = ("even root may not read the ns links of a non-dumpable process or one in a "
                    "user namespace that is not ours (on this VM, pid 1); any other pid works, "
                    "e.g. your shell: ocix kernel --pid $$" if str(pid) == "1" else
                    "even root may not read the ns links of a non-dumpable process or one in a "
                    "user namespace that is not ours")
        return ProcAccessError(f"cannot read {path}: {e.strerror}", hint=hint)
    return OcixError(f"cannot read {path}: {e}")


def read_text(pid: PidRef, name: str, proc_root: Path = PROC) -> str:
    """/proc/PID/<name> as text, with the errors above."""
    path = pid_dir(pid, proc_root) / name
    try:
        return path.read_text(errors="replace")
    except OSError as e:
        raise _oserror(pid, path, e) from e


def parse_status(text: str) -> dict[str, str]:
    """'Key:\\tvalue' lines of /proc/PID/status -> {Key: value}, values stripped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def read_status(pid: PidRef, proc_root: Path = PROC) -> dict[str, str]:
    return parse_status(read_text(pid, "status", proc_root))


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split()]


@dataclass(frozen=True)
class Identity:
    """The Uid:/Gid: lines (real, effective, saved, filesystem) and Groups:."""

    uid: tuple[int, int, int, int]
    gid: tuple[int, int, int, int]
    groups: list[int]

    @classmethod
    def from_status(cls, status: dict[str, str]) -> Identity:
        def four(key: str) -> tuple[int, int, int, int]:
            v = _ints(status.get(key, ""))
            if len(v) != 4:
                raise OcixError(f"unexpected {key}: line in /proc/PID/status: {status.get(key)!r}")
            return v[0], v[1], v[2], v[3]

        return cls(four("Uid"), four("Gid"), _ints(status.get("Groups", "")))


@dataclass(frozen=True)
class IdMapping:
    """One line of uid_map/gid_map: ids [inside, inside+count) are [outside, outside+count)."""

    inside: int
    outside: int
    count: int


def parse_id_map(text: str) -> list[IdMapping]:
    out: list[IdMapping] = []
    for line in text.splitlines():
        v = line.split()
        if len(v) == 3:
            out.append(IdMapping(int(v[0]), int(v[1]), int(v[2])))
    return out


def read_id_map(pid: PidRef, which: str, proc_root: Path = PROC) -> list[IdMapping]:
    """which is 'uid_map' or 'gid_map'; an empty list when the kernel has none."""
    if which not in ("uid_map", "gid_map"):
        raise ValueError(which)
    try:
        return parse_id_map(read_text(pid, which, proc_root))
    except ProcessNotFoundError:
        pid_dir(pid, proc_root)  # re-raise only if the pid itself is gone
        return []


def is_identity_map(mappings: list[IdMapping]) -> bool:
    """True for the initial user namespace's '0 0 4294967295'."""
    return mappings == [IdMapping(0, 0, 4294967295)]


@dataclass(frozen=True)
class NamespaceInfo:
    type: str
    inode: int | None  # None when the link is missing (older kernel) or unreadable
    host_inode: int | None  # the reference process's inode for the same type
    error: str = ""

    @property
    def shared(self) -> bool | None:
        """True: same namespace as the reference (host); False: isolated; None: unknown."""
        if self.inode is None or self.host_inode is None:
            return None
        return self.inode == self.host_inode

    @property
    def isolated(self) -> bool | None:
        s = self.shared
        return None if s is None else not s


def parse_ns_link(target: str) -> tuple[str, int]:
    """'net:[4026531840]' -> ('net', 4026531840)."""
    m = _NS_LINK.match(target)
    if not m:
        raise OcixError(f"unexpected namespace link {target!r}")
    return m.group(1), int(m.group(2))


def _ns_inodes(pid: PidRef, proc_root: Path) -> dict[str, int | str]:
    """{type: inode, or why it is unknown}; raises when the pid is gone or nothing is readable."""
    base = pid_dir(pid, proc_root) / "ns"
    out: dict[str, int | str] = {}
    denied: OcixError | None = None
    for t in NAMESPACE_TYPES:
        path = base / t
        try:
            out[t] = parse_ns_link(os.readlink(path))[1]
        except OSError as e:
            if not (proc_root / str(pid)).is_dir():
                raise ProcessNotFoundError(f"process {pid} is gone") from e
            if e.errno == errno.ENOENT:
                out[t] = "not supported by this kernel"
                continue
            denied = _oserror(pid, path, e)
            out[t] = str(denied)
    if denied is not None and not any(isinstance(v, int) for v in out.values()):
        raise denied
    return out


def namespaces(pid: PidRef, proc_root: Path = PROC,
               reference: PidRef | None = 1) -> tuple[list[NamespaceInfo], str]:
    """The process's namespaces against a reference process (the host: pid 1).

    When the reference's links cannot be read (pid 1 in another user namespace, or ptrace
    rules), "self" - this ocix process - is the reference instead. Returns the list and the
    reference actually used ("" when none could be read).
    """
    mine = _ns_inodes(pid, proc_root)
    ref_used = ""
    ref: dict[str, int | str] = {}
    for candidate in ([reference] if reference is not None else []) + ["self"]:
        try:
            ref, ref_used = _ns_inodes(candidate, proc_root), str(candidate)
            break
        except OcixError:
            continue
    infos = []
    for t in NAMESPACE_TYPES:
        v, r = mine[t], ref.get(t)
        infos.append(NamespaceInfo(t, v if isinstance(v, int) else None,
                                   r if isinstance(r, int) else None,
                                   v if isinstance(v, str) else ""))
    return infos, ref_used


class Process:
    """One /proc/PID entry of a scan.  Each field is read when first asked for; a process that
    has gone meanwhile (or that we may not read) reads as empty: None, "" or []."""

    def __init__(self, pid: int, proc_root: Path = PROC) -> None:
        self.pid = pid
        self.dir = proc_root / str(pid)

    def __repr__(self) -> str:
        return f"Process({self.pid})"

    def uid(self) -> int | None:
        """The owner of /proc/PID: the process's real uid."""
        try:
            return self.dir.stat().st_uid
        except OSError:
            return None

    def argv(self) -> list[str]:
        """/proc/PID/cmdline split at NULs; [] for a kernel thread or a zombie."""
        try:
            parts = (self.dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return []
        if parts[-1] == b"":
            parts.pop()
        return [p.decode(errors="replace") for p in parts]

    def comm(self) -> str:
        """/proc/PID/comm: the kernel keeps 15 characters of the name."""
        try:
            return (self.dir / "comm").read_text(errors="replace").strip()
        except OSError:
            return ""

    def fd_targets(self) -> list[str]:
        """Where each /proc/PID/fd link points ("socket:[123]", a path ...)."""
        try:
            fds = list((self.dir / "fd").iterdir())
        except OSError:
            return []
        out = []
        for fd in fds:
            try:
                out.append(os.readlink(fd))
            except OSError:
                continue
        return out


def processes(proc_root: Path = PROC) -> Iterator[Process]:
    """Every process /proc lists now, in /proc's order; nothing is read until asked for."""
    try:
        names = os.listdir(proc_root)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            yield Process(int(name), proc_root)
