"""Where dockerd keeps its own layers when it does not use containerd's snapshotters.

A classic dockerd (graph drivers, not the containerd image store) keeps each layer in
<data-root>/<driver>/<id>/diff, by default /var/lib/docker/overlay2.  dockerd is asked (Engine
API /info: DockerRootDir and Driver) only when a socket is configured: DOCKER_HOST, or the lab's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...errors import OcixError

DEFAULT_ROOT = "/var/lib/docker"
DEFAULT_DRIVER = "overlay2"


@dataclass(frozen=True)
class DockerLayers:
    directory: str  # where its layers are
    root: str
    driver: str
    source: str  # "dockerd at SOCKET" or "default (no docker socket configured)"
    containerd_store: bool  # dockerd uses containerd's snapshotters instead


def docker_layers(socket: str | None = None) -> DockerLayers:
    """Ask the dockerd that `socket` (or DOCKER_HOST, or the lab's) names; else the defaults."""
    from ...dockerapi.client import DockerClient, socket_from_env

    default = DockerLayers(f"{DEFAULT_ROOT}/{DEFAULT_DRIVER}", DEFAULT_ROOT, DEFAULT_DRIVER,
                           "the default (no docker socket found)", False)
    url = socket_from_env(socket)
    path = url.removeprefix("unix://")
    if not url.startswith("unix://") or not os.path.exists(path):
        return default  # a tcp:// or ssh:// DOCKER_HOST is not asked
    try:
        with DockerClient(url, timeout=5) as client:
            info = client.info()
    except OcixError as e:
        return DockerLayers(default.directory, DEFAULT_ROOT, DEFAULT_DRIVER,
                            f"the default (dockerd at {path} did not answer: {e.message})", False)
    root = info.docker_root_dir or DEFAULT_ROOT
    driver = info.storage_driver or DEFAULT_DRIVER
    return DockerLayers(f"{root}/{driver}", root, driver, f"dockerd at {path} (/info)",
                        bool(info.containerd_snapshotter))
