"""The two rootless paths: the rootless lab's podman and dockerd, run as its unprivileged user.

podman-rootless is the podman path with `podman` run as the lab user (runuser, that user's own
storage flags: ocix.lab.rootless.podman_argv); docker-rootless is the docker path against the
socket of the dockerd that rootlesskit started as that user. Both run only with
`compare --rootless`; their containers live in a user namespace of their own (docs/rootless.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import docker, podman
from .context import PathRun
from .model import Endpoints

if TYPE_CHECKING:
    from ...lab.rootless import RootlessState

START_HINT = "start it with `ocix lab up --with-rootless`"


def _state(endpoints: Endpoints) -> RootlessState | None:
    from ...lab import rootless

    if not endpoints.lab_dir:
        return None
    rs = rootless.RootlessState.load(Path(endpoints.lab_dir).absolute())
    if rs is None or not rs.image or not rootless.user_exists(rs.user):
        return None
    return rs


def podman_unavailable(endpoints: Endpoints) -> str | None:
    if _state(endpoints) is None:
        return f"the lab has no rootless podman ({START_HINT})"
    return podman.unavailable_binary()


def docker_unavailable(endpoints: Endpoints) -> str | None:
    rs = _state(endpoints)
    if rs is None:
        return f"the lab has no rootless dockerd ({START_HINT})"
    if not rs.docker_socket or not os.path.exists(rs.docker_socket):
        why = f"it failed at `lab up`: {rs.dockerd_error}; " if rs.dockerd_error else ""
        return f"the rootless dockerd is not running ({why}{START_HINT})"
    return None


def podman_argv_builder(rs: RootlessState) -> Callable[..., list[str]]:
    """`podman ARGS` as the lab user with its own storage (what Podman.argv_builder takes)."""
    from ...lab.rootless import podman_argv

    def build(*args: str) -> list[str]:
        return podman_argv(rs, *args)

    return build


def run_podman(ctx: PathRun) -> None:
    from ...podman.client import Podman

    rs = _state(ctx.endpoints)
    assert rs is not None
    pm = Podman(argv_builder=podman_argv_builder(rs))
    podman.run_with(ctx, pm, who=f"rootless, as {rs.user}")


def run_docker(ctx: PathRun) -> None:
    rs = _state(ctx.endpoints)
    assert rs is not None
    docker.run_on(ctx, f"unix://{rs.docker_socket}", head=(f"rootlesskit (as {rs.user})",))
