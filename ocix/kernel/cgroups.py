"""A process's cgroups from /proc/PID/cgroup, with the limits and usage each one holds.

Handles cgroup v1, v2, and the hybrid layout (v1 controllers under /sys/fs/cgroup/<ctrl>,
the v2 hierarchy at /sys/fs/cgroup/unified) that this kind of VM has. Paths in
/proc/PID/cgroup are relative to the hierarchy's mount point (as seen from our cgroup
namespace), so a hierarchy's directory is <its mount dir>/<path>.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OcixError
from .proc import PROC, PidRef, read_text

CGROUP_ROOT = Path("/sys/fs/cgroup")
# v1 memory "no limit" reads as PAGE_COUNTER_MAX pages (9223372036854771712 on 64-bit).
_V1_UNLIMITED = 2**62

# Files worth reading, by controller (v1) or for the v2 hierarchy.
V1_FILES: dict[str, tuple[str, ...]] = {
    "memory": ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.max_usage_in_bytes"),
    "pids": ("pids.max", "pids.current"),
    "cpu": ("cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"),
}
V2_FILES: tuple[str, ...] = ("memory.max", "memory.current", "memory.peak", "pids.max",
                             "pids.current", "cpu.max", "cpu.weight", "cgroup.controllers")


@dataclass(frozen=True)
class CgroupEntry:
    """One line of /proc/PID/cgroup: 'hierarchy-id:controller,list:/path'."""

    hierarchy: int
    controllers: tuple[str, ...]  # () for the v2 hierarchy; "name=systemd" kept as is
    path: str

    @property
    def version(self) -> int:
        return 2 if self.hierarchy == 0 and not self.controllers else 1


def parse_proc_cgroup(text: str) -> list[CgroupEntry]:
    out: list[CgroupEntry] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            raise OcixError(f"unexpected line in /proc/PID/cgroup: {line!r}")
        hid, ctrls, path = parts
        out.append(CgroupEntry(int(hid), tuple(c for c in ctrls.split(",") if c), path))
    return out


@dataclass
class CgroupInfo:
    hierarchy: int
    version: int
    controllers: list[str]
    path: str  # as /proc/PID/cgroup gives it
    directory: Path | None  # where it is on this host, None if its hierarchy is not mounted
    exists: bool
    files: dict[str, str] = field(default_factory=dict)  # raw contents of the files present
    # Parsed from `files`; None = no limit, or the file is not there (see `files`).
    memory_limit: int | None = None
    memory_usage: int | None = None
    pids_limit: int | None = None
    pids_current: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None


def hierarchy_dir(entry: CgroupEntry, cgroup_root: Path = CGROUP_ROOT) -> Path | None:
    """The mount dir of the entry's hierarchy: probe the usual layout under cgroup_root."""
    if entry.version == 2:
        if (cgroup_root / "cgroup.controllers").exists():  # pure v2: mounted at the root
            return cgroup_root
        unified = cgroup_root / "unified"
        return unified if unified.is_dir() else None
    names = [",".join(entry.controllers), *entry.controllers]
    for n in names:
        d = cgroup_root / n.removeprefix("name=")
        if d.is_dir():
            return d
    return None


def _int_or_max(value: str) -> int | None:
    v = value.strip()
    if v in ("max", "", "-1"):
        return None
    n = int(v)
    return None if n >= _V1_UNLIMITED else n


def _read_files(directory: Path, names: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in names:
        try:
            out[n] = (directory / n).read_text().strip()
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EOPNOTSUPP):
                raise OcixError(f"cannot read {directory / n}: {e.strerror}") from e
    return out


def _cpu_max_quota(value: str) -> int | None:
    return _int_or_max(value.partition(" ")[0])


def _cpu_max_period(value: str) -> int | None:
    period = value.partition(" ")[2]
    return int(period) if period else None


# Each parsed value of CgroupInfo / ResourceSummary: the file (and parser) it comes from in a
# v1 controller's hierarchy, and in the v2 hierarchy.
Source = tuple[str, Callable[[str], "int | None"]]
VALUE_SOURCES: dict[str, tuple[Source, Source]] = {
    "memory_limit": (("memory.limit_in_bytes", _int_or_max), ("memory.max", _int_or_max)),
    "memory_usage": (("memory.usage_in_bytes", int), ("memory.current", int)),
    "pids_limit": (("pids.max", _int_or_max), ("pids.max", _int_or_max)),
    "pids_current": (("pids.current", int), ("pids.current", int)),
    "cpu_quota_us": (("cpu.cfs_quota_us", _int_or_max), ("cpu.max", _cpu_max_quota)),
    "cpu_period_us": (("cpu.cfs_period_us", int), ("cpu.max", _cpu_max_period)),
}


def _source(attr: str, version: int) -> Source:
    v1, v2 = VALUE_SOURCES[attr]
    return v2 if version == 2 else v1


def _fill(info: CgroupInfo) -> None:
    try:
        for attr in VALUE_SOURCES:
            name, parse = _source(attr, info.version)
            if name in info.files:
                setattr(info, attr, parse(info.files[name]))
    except ValueError as e:
        raise OcixError(f"unexpected cgroup file content in {info.directory}: {e}") from e


def cgroup_info(entry: CgroupEntry, cgroup_root: Path = CGROUP_ROOT) -> CgroupInfo:
    mount = hierarchy_dir(entry, cgroup_root)
    directory = mount / entry.path.lstrip("/") if mount is not None else None
    exists = directory is not None and directory.is_dir()
    info = CgroupInfo(entry.hierarchy, entry.version, list(entry.controllers), entry.path,
                      directory, exists)
    if exists and directory is not None:
        if entry.version == 2:
            names = V2_FILES
        else:
            names = tuple(n for c in entry.controllers for n in V1_FILES.get(c, ()))
        info.files = _read_files(directory, names)
        _fill(info)
    return info


def cgroups(pid: PidRef, proc_root: Path = PROC,
            cgroup_root: Path = CGROUP_ROOT) -> list[CgroupInfo]:
    """Every hierarchy the process is in, in /proc/PID/cgroup order, with limits and usage."""
    return [cgroup_info(e, cgroup_root) for e in parse_proc_cgroup(read_text(pid, "cgroup", proc_root))]


@dataclass(frozen=True)
class ResourceSummary:
    """The effective limits whichever hierarchy holds them (v1 controller or v2)."""

    memory_limit: int | None = None
    memory_usage: int | None = None
    pids_limit: int | None = None
    pids_current: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None

    @property
    def cpus(self) -> float | None:
        """quota/period as a CPU count (1.5 for 150000/100000); None when unlimited."""
        if self.cpu_quota_us is None or not self.cpu_period_us:
            return None
        return self.cpu_quota_us / self.cpu_period_us


def summarize(infos: list[CgroupInfo]) -> ResourceSummary:
    """Take each value from the hierarchy whose controller owns it (v1 first, then v2)."""
    def pick(attr: str) -> int | None:
        for info in sorted(infos, key=lambda i: i.version):
            if _source(attr, info.version)[0] in info.files:
                v: int | None = getattr(info, attr)
                return v
        return None

    return ResourceSummary(**{attr: pick(attr) for attr in VALUE_SOURCES})
