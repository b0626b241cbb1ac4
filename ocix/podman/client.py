"""podman's CLI as a client: the lab's global flags and config, one traced call path.

podman has no daemon: each call is a `podman` process that reads containers/storage, starts
conmon, and conmon starts the OCI runtime. `run` is the one place a podman process starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import trace
from ..errors import NotFoundError, OcixError, UnreachableError
from .config import PodmanPaths

# What `podman run` needs on this VM: no network (the lab has no CNI for podman), and nofile /
# nproc limits the VM lets root set, below podman's defaults (docs/podman.md).
RUN_DEFAULTS: list[str] = ["--network", "none", "--ulimit", "nofile=1024:1024",
                           "--ulimit", "nproc=1024:1024"]

# Where the system podman (as root) keeps its storage; any podman command creates it.
SYSTEM_GRAPH_ROOT = Path("/var/lib/containers/storage")

INSTALL_HINT = "run `make setup` to install podman and conmon"


@dataclass(frozen=True)
class PodmanVersion:
    version: str
    api_version: str
    conmon_version: str
    runtime: str  # the OCI runtime podman uses: runc or crun
    runtime_version: str
    graph_driver: str
    graph_root: str
    run_root: str
    rootless: bool
    cgroup_manager: str
    cgroup_version: str
    seccomp_enabled: bool
    apparmor_enabled: bool


class Podman:
    """One podman configuration: the lab's (own root, runroot, config files) or the system's."""

    RUN_DEFAULTS = RUN_DEFAULTS

    def __init__(self, paths: PodmanPaths | None = None, binary: str | None = None,
                 argv_builder: Callable[..., list[str]] | None = None) -> None:
        self.paths = paths  # None: the system podman with its default configuration
        self.binary = binary or shutil.which("podman") or "podman"
        # The whole argv for `podman ARGS` when podman runs another way (as the rootless lab
        # user, through runuser, with that user's own storage flags).
        self.argv_builder = argv_builder

    @classmethod
    def for_lab(cls, lab_dir: str | os.PathLike[str]) -> Podman:
        paths = PodmanPaths(Path(lab_dir).absolute())
        if not paths.configured():
            raise OcixError(f"the lab in {paths.lab} has no podman", kind="lab-part-missing",
                            subject="podman")
        return cls(paths)

    @classmethod
    def from_env(cls) -> Podman:
        """The lab's podman if $OCIX_LAB_DIR's lab has one, else the system podman."""
        lab = os.environ.get("OCIX_LAB_DIR")
        if lab and PodmanPaths(Path(lab).absolute()).configured():
            return cls.for_lab(lab)
        return cls()

    def global_flags(self) -> list[str]:
        p = self.paths
        if p is None:
            return []
        return ["--root", str(p.graph_root), "--runroot", str(p.run_root),
                "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
                "--runtime", "runc", "--tmpdir", str(p.tmp_dir),
                "--network-config-dir", str(p.network_dir), "--events-backend", "file"]

    def argv(self, *args: str) -> list[str]:
        if self.argv_builder is not None:
            return self.argv_builder(*args)
        return [self.binary, *self.global_flags(), *args]

    def env(self) -> dict[str, str]:
        """The variables that point podman at the lab's config files (empty for the system's)."""
        p = self.paths
        if p is None:
            return {}
        return {"CONTAINERS_CONF": str(p.containers_conf),
                "CONTAINERS_STORAGE_CONF": str(p.storage_conf),
                "CONTAINERS_REGISTRIES_CONF": str(p.registries_conf)}

    def process_env(self) -> dict[str, str]:
        """The environment of a podman process.  With an argv_builder (another user's podman)
        the builder decides: ocix.lab.rootless.as_user starts from an empty environment."""
        if self.argv_builder is not None:
            return dict(os.environ)
        return {**os.environ, **self.env()}

    def run(self, *args: str, timeout: float = 60, input: bytes | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `podman ARGS`; with check, a non-zero exit raises with podman's stderr."""
        argv = self.argv(*args)
        what = "podman " + " ".join(args)
        start = time.monotonic()
        status = "ERR"
        try:
            raw = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                                 env=self.process_env(),
                                 stdin=None if input is not None else subprocess.DEVNULL)
            status = f"exit {raw.returncode}"
        except FileNotFoundError as e:
            raise UnreachableError(f"podman is not installed ({self.binary})",
                                   hint=INSTALL_HINT, retryable=False) from e
        except subprocess.TimeoutExpired as e:
            status = "timeout"
            raise OcixError(f"{what}: no answer in {timeout:g}s") from e
        finally:
            trace.emit("exec", what, time.monotonic() - start, status)
        done = subprocess.CompletedProcess(argv, raw.returncode,
                                           raw.stdout.decode(errors="replace"),
                                           raw.stderr.decode(errors="replace"))
        if check and done.returncode != 0:
            raise podman_error(what, done.returncode, done.stderr)
        return done

    def run_json(self, *args: str, timeout: float = 60) -> Any:
        out = self.run(*args, timeout=timeout).stdout
        try:
            return json.loads(out)
        except ValueError as e:
            raise OcixError(f"podman {' '.join(args)}: not JSON: {out[:200]!r}") from e

    def version(self) -> PodmanVersion:
        """Everything `podman info` says about the stack; opens (and creates) the storage."""
        return version_from_info(self.run_json("info", "--format", "json"))

    def initialised(self) -> bool:
        """True if this podman's storage exists, i.e. asking it questions creates nothing."""
        return (self.paths.graph_root if self.paths else SYSTEM_GRAPH_ROOT).is_dir()

    def binary_version(self) -> str:
        """`podman --version` ("4.3.1"): answered by the binary, touching no storage."""
        return _version_word(self.run("--version", timeout=10).stdout)


def podman_error(what: str, returncode: int, stderr: str) -> OcixError:
    """podman's own message (its last `Error: ...` line) as the matching OcixError."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    message = (errors[-1] if errors else (lines[-1] if lines else f"exit status {returncode}"))
    message = message.removeprefix("Error:").strip()
    low = message.lower()
    cls = NotFoundError if ("no such" in low or "not known" in low or "not found" in low) \
        else OcixError
    return cls(f"{what}: {message}", code=str(returncode))


def version_from_info(info: dict[str, Any]) -> PodmanVersion:
    """`podman info --format json` as a PodmanVersion (pure: unit-tested on recorded output)."""
    host = info.get("host") or {}
    store = info.get("store") or {}
    version = info.get("version") or {}
    runtime = host.get("ociRuntime") or {}
    security = host.get("security") or {}
    return PodmanVersion(
        version=str(version.get("Version", "")),
        api_version=str(version.get("APIVersion", "")),
        # "conmon version 2.1.6, commit: unknown" -> "2.1.6"
        conmon_version=_version_word(str((host.get("conmon") or {}).get("version", ""))),
        runtime=str(runtime.get("name", "")),
        # "runc version 1.1.5+ds1\ncommit: ..." -> "1.1.5+ds1"
        runtime_version=_version_word(str(runtime.get("version", ""))),
        graph_driver=str(store.get("graphDriverName", "")),
        graph_root=str(store.get("graphRoot", "")),
        run_root=str(store.get("runRoot", "")),
        rootless=bool(security.get("rootless", False)),
        cgroup_manager=str(host.get("cgroupManager", "")),
        cgroup_version=str(host.get("cgroupVersion", "")),
        seccomp_enabled=bool(security.get("seccompEnabled", False)),
        apparmor_enabled=bool(security.get("apparmorEnabled", False)),
    )


def _version_word(text: str) -> str:
    """The word after "version" on the first line, else the first line."""
    first = text.splitlines()[0] if text else ""
    words = first.replace(",", " ").split()
    if "version" in words and words.index("version") + 1 < len(words):
        return words[words.index("version") + 1]
    return first
