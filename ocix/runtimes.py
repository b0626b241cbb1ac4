"""The OCI runtime binaries the shim can call: runc, and crun through a wrapper on hybrid hosts.

crun 1.8 refuses a host whose cgroups are hybrid with controllers on the cgroup2 mount, which is
what this kind of VM has (docs/runtimes.md); the wrapper hides that mount from crun.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from .errors import OcixError, UsageError

CRUN_WRAPPER = "/run/ocix/crun-hybrid"
_CRUN_WRAPPER_TEXT = """#!/bin/sh
# Written by ocix. crun refuses a hybrid cgroup host whose cgroup2 mount has controllers
# ("cgroups in hybrid mode not supported"); in a private mount namespace without that mount
# it sees a legacy (v1) host and uses the v1 controllers, as runc does.
exec unshare --mount --propagation private sh -c \
  'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
"""


def cgroup_hybrid_with_v2_controllers() -> bool:
    """/sys/fs/cgroup is v1 (tmpfs) with a cgroup2 mount at unified/ that has controllers."""
    try:
        return bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().strip()) and \
            not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    except OSError:
        return False


def crun_argv() -> list[str]:
    """How to call crun on this host: `crun`, or the wrapper on a hybrid cgroup host."""
    if not cgroup_hybrid_with_v2_controllers():
        return ["crun"]
    path = Path(CRUN_WRAPPER)
    try:
        if not path.exists() or path.read_text() != _CRUN_WRAPPER_TEXT:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}")
            tmp.write_text(_CRUN_WRAPPER_TEXT)
            tmp.chmod(0o755)
            tmp.replace(path)
    except OSError as e:
        raise OcixError(f"cannot write the crun wrapper {path}: {e.strerror}") from None
    return [str(path)]


def crun_binary() -> str:
    """The absolute path a shim (or containerd's CRI `crun` handler) should call as crun: the
    wrapper on a hybrid cgroup host (written now if missing), else the installed crun."""
    argv0 = crun_argv()[0]
    if os.path.isabs(argv0):
        return argv0
    return shutil.which(argv0) or f"/usr/bin/{argv0}"


def bundle_commands(directory: str, container_id: str) -> list[str]:
    """Shell lines that run an OCI bundle in `directory` with runc and with crun on this host
    (crun through the wrapper where plain crun refuses the host)."""

    tail = ["run", "-b", directory, container_id]
    return [shlex.join(["runc", *tail]), shlex.join([*crun_argv(), *tail])]


def runtime_binary(runtime: str) -> str:
    """containerd.runc.v1.Options.binary_name for --runtime ("" = the shim's default, runc)."""
    if runtime == "runc":
        return ""
    if runtime == "crun":
        return crun_argv()[0]
    raise UsageError(f"unknown runtime {runtime!r}: use runc or crun")
