"""What a compare asks for and what each path reports: plain dataclasses, JSON-ready."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

PATH_NAMES: tuple[str, ...] = ("docker", "containerd", "runc", "crun", "cri", "podman")
# Run only with --rootless, after the rootful paths: the rootless lab's podman and dockerd.
ROOTLESS_PATHS: tuple[str, ...] = ("podman-rootless", "docker-rootless")
PHASES: tuple[str, ...] = ("image", "create", "start", "run", "cleanup")
# Reported namespace types (the *_for_children links say nothing more about the init).
NAMESPACE_TYPES: tuple[str, ...] = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
DEFAULT_TIMEOUT = 120.0  # seconds per path, image pull included
# The rlimits compare reports, by their /proc/PID/limits names.
RLIMITS: dict[str, str] = {"nofile": "Max open files", "nproc": "Max processes",
                           "core": "Max core file size", "memlock": "Max locked memory"}

# The init the container starts with: it holds (trap on SIGUSR1, sleeping) until ocix has read
# its /proc entries, then execs the user's command in place, so that command runs as the
# container's init with the same pid, namespaces, cgroup and credentials (docs/compare.md).
# $! (not a variable set after the fork) names the sleep: a signal that lands between the fork
# and an assignment would otherwise leave the trap waiting for every child.
HOLD_SCRIPT = ('trap \'if [ -n "$!" ]; then kill $! && wait $!; fi 2>/dev/null; exec "$@"\' USR1; '
               'sleep 86400 & wait $!; exit 125')
HOLD_SHELL = "/bin/sh"
RELEASE_SIGNAL_BIT = 9  # SIGUSR1 (10) is bit 9 of SigCgt


@dataclass
class CompareOptions:
    image: str
    command: list[str] = field(default_factory=list)  # replaces the image's Cmd, like docker
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    memory: int | None = None  # bytes
    pids_limit: int | None = None
    user: str | None = None
    env: list[str] = field(default_factory=list)  # KEY=VALUE
    paths: list[str] = field(default_factory=list)  # empty: every path
    timeout: float = DEFAULT_TIMEOUT
    rootless: bool = False  # also run ROOTLESS_PATHS


@dataclass(frozen=True)  # hashable: runtime.unavailable caches per Endpoints
class Endpoints:
    """Where each daemon is; None/"" where the environment names none."""

    containerd: str
    namespace: str
    hosts_dir: str | None = None
    docker: str | None = None  # unix:// URL
    lab_dir: str | None = None

    @classmethod
    def from_env(cls, containerd: str | None = None, namespace: str | None = None) -> Endpoints:
        from ...containerd.connection import DEFAULT_ADDRESS, DEFAULT_NAMESPACE

        return cls(containerd=containerd or os.environ.get("CONTAINERD_ADDRESS") or DEFAULT_ADDRESS,
                   namespace=namespace or os.environ.get("CONTAINERD_NAMESPACE")
                   or DEFAULT_NAMESPACE,
                   hosts_dir=os.environ.get("OCIX_HOSTS_DIR") or None,
                   docker=os.environ.get("DOCKER_HOST") or None,
                   lab_dir=os.environ.get("OCIX_LAB_DIR") or None)


@dataclass(frozen=True)
class Namespace:
    inode: int | None
    isolated: bool | None  # against pid 1's; None when either link could not be read


@dataclass(frozen=True)
class Parent:
    pid: int
    name: str  # the executable's base name ("containerd-shim-runc-v2", "conmon", "ocix")
    cmdline: str


@dataclass(frozen=True)
class Cgroup:
    path: str  # as /proc/PID/cgroup gives it (the memory controller's, or the v2 one)
    memory_limit: int | None  # bytes; None: no limit
    pids_limit: int | None
    cpu_quota_us: int | None
    cpu_period_us: int | None


@dataclass
class PathResult:
    """One path's row set; the field names are the JSON keys of `ocix compare --json`."""

    path: str
    available: bool = True
    skipped_reason: str | None = None
    chain: list[str] = field(default_factory=list)
    parent: Parent | None = None
    calls: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    pid: int | None = None
    exit_code: int | None = None
    stdout: str | None = None
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    user_namespace: Namespace | None = None  # isolated: the init has a user namespace of its own
    uid_map: list[str] = field(default_factory=list)  # the init's /proc/PID/uid_map lines
    cgroup: Cgroup | None = None
    cap_eff: str | None = None
    capabilities: list[str] = field(default_factory=list)
    no_new_privs: bool | None = None
    seccomp: str | None = None
    rootfs: str | None = None
    error: str | None = None  # why an available path failed (it fails alone)
    rlimits: dict[str, str] = field(default_factory=dict)  # RLIMITS name -> "soft/hard"
    mounts: list[str] = field(default_factory=list)  # the init's mount points, mountinfo order

    @property
    def ran(self) -> bool:
        return self.available and self.error is None and self.exit_code is not None

    @property
    def outcome(self) -> str:
        """One phrase for the path: skipped and why, failed and why, or its exit code."""
        if not self.available:
            return f"skipped: {self.skipped_reason}"
        if self.error:
            return f"failed: {self.error}"
        return f"exit {self.exit_code}"


@dataclass
class CompareResult:
    image: str
    command: list[str]
    paths: list[PathResult]
    differences: list[Any] = field(default_factory=list)  # differences.Difference


def final_argv(config: dict[str, Any], command: list[str]) -> list[str]:
    """Entrypoint + (command or the image's Cmd): what docker runs for `docker run IMAGE CMD`."""
    cfg = config.get("config") or config.get("Config") or {}
    entrypoint = list(cfg.get("Entrypoint") or [])
    cmd = list(command) if command else list(cfg.get("Cmd") or [])
    argv = entrypoint + cmd
    if not argv:
        from ...errors import UsageError

        raise UsageError("the image has no Entrypoint or Cmd: give a command after --")
    return argv


def hold_argv(name: str, argv: list[str]) -> list[str]:
    """The container's first argv: the hold script, `name` as its $0, then the user's argv."""
    return [HOLD_SHELL, "-c", HOLD_SCRIPT, name, *argv]
