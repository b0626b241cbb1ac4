"""The lab's parts a job can ask for (containerd, dockerd, podman, the rootless lab): which run now,
which are missing, and starting the missing ones."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import OcixError
from ..podman.config import PodmanPaths
from . import lab as labmod
from .rootless import RootlessState, user_exists

PARTS = {"containerd": "the lab's containerd (`ocix lab up`)",
         "docker": "the lab's dockerd (`ocix lab up --with-docker`)",
         "podman": "the lab's podman (`ocix lab up --with-podman`)",
         "rootless": "the rootless lab (`ocix lab up --with-rootless`, which creates the Unix "
                     "user ocixlab with an /etc/subuid range if it does not exist)"}


def running(directory: str | os.PathLike[str] | None) -> set[str]:
    """Which parts run now."""
    st = labmod.status(directory)
    names = {c.name for c in st.components if c.running}
    parts = {p for p, c in (("containerd", "containerd"), ("docker", "dockerd")) if c in names}
    if PodmanPaths(Path(st.dir)).configured():
        parts.add("podman")
    rs = RootlessState.load(Path(st.dir))
    if rs is not None and rs.image and user_exists(rs.user):
        parts.add("rootless")
    return parts


def missing(directory: str | os.PathLike[str] | None, needed: set[str]) -> list[str]:
    """The parts of `needed` that do not run (dockerd and the rootless lab need containerd)."""
    if needed & {"docker", "rootless", "podman"}:
        needed = needed | {"containerd"}
    return sorted(needed - running(directory))


def not_started(parts: list[str], hint: str) -> dict[str, str]:
    """part -> why it is missing, for parts the caller chose not to start."""
    return {p: f"needs {PARTS[p]}: {hint}" for p in parts}


def start(directory: str | os.PathLike[str] | None, parts: list[str],
          progress: Callable[[str], None]) -> dict[str, str]:
    """Start `parts` with `lab up`; returns part -> why, for any that still does not run."""
    labmod.up(directory, with_docker="docker" in parts, with_rootless="rootless" in parts,
              with_podman="podman" in parts, progress=progress)
    still = missing(directory, set(parts))
    return {p: f"needs {PARTS[p]}: it did not start" for p in still}


def environment(directory: str | os.PathLike[str] | None) -> dict[str, str]:
    """The lab's environment (`ocix lab env`), or {} when no lab runs: steps that need no
    lab still run."""
    try:
        return labmod.env(directory)
    except OcixError:
        return {}
