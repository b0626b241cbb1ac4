"""Where dockerd keeps its own layers when it does not use containerd's snapshotters.

A classic dockerd (graph drivers, not the containerd image store) keeps each layer in
<data-root>/<driver>/<id>/diff, by default /var/lib/docker/overlay2.  dockerd is asked (Engine
API /info: DockerRootDir and Driver) only when a socket is configured: DOCKER_HOST, or the lab's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import OcixError

DEFAULT_ROOT = "/var/lib/docker"
DEFAULT_DRIVER = "overlay2"


@dataclass(frozen=True)
class DockerLayers:
    directory: str  # where its layers are
    root: str
    driver: str
    source: str  # "dockerd at SOCKET" or "default (no docker socket configured)"
    containerd_store: bool  # dockerd uses containerd's snapshotters instead


def socket_from_env(lab_socket: str = "") -> str | None:
    """DOCKER_HOST's unix socket, else the lab's dockerd socket when it exists; None otherwise
    (a tcp:// or ssh:// DOCKER_HOST is not asked)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        return host[len("unix://"):] if host.startswith("unix://") else None
    return lab_socket if lab_socket and os.path.exists(lab_socket) else None


def docker_layers(sock: str | None) -> DockerLayers:
    """Ask dockerd at `sock` (see socket_from_env); without a socket, the defaults."""
    default = DockerLayers(f"{DEFAULT_ROOT}/{DEFAULT_DRIVER}", DEFAULT_ROOT, DEFAULT_DRIVER,
                           "the default (no docker socket configured)", False)
    if sock is None:
        return default
    from ..dockerapi.client import DockerAPI

    try:
        data = DockerAPI(sock, timeout=5).get_json("/info")
    except OcixError as e:
        return DockerLayers(default.directory, DEFAULT_ROOT, DEFAULT_DRIVER,
                            f"the default (dockerd at {sock} did not answer: {e.message})", False)
    root = str(data.get("DockerRootDir") or DEFAULT_ROOT)
    driver = str(data.get("Driver") or DEFAULT_DRIVER)
    status = dict(x for x in (data.get("DriverStatus") or []) if isinstance(x, list) and len(x) == 2)
    uses_containerd = "driver-type" in status and "snapshotter" in str(status["driver-type"])
    return DockerLayers(f"{root}/{driver}", root, driver, f"dockerd at {sock} (/info)",
                        uses_containerd)
