"""One probe per daemon for `ocix info`: containerd, a CRI endpoint, dockerd, podman.

Each asks through the daemon's own API with a short timeout and never raises: a missing or
dead daemon is a Daemon with its state and the reason (docs/info.md).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from ...errors import OcixError
from ...kernel.host import socket_owner
from ...kernel.userns import CAPS_STAY_INSIDE

SNAPSHOTTER_TYPE = "io.containerd.snapshotter.v1"
TIMEOUT = 5.0

@dataclass(frozen=True)
class DaemonUserns:
    """The user namespace a rootless daemon's containers live under, read from the process
    that holds it (podman's pause process, the dockerd inside rootlesskit)."""

    pid: int
    process: str  # its program's base name: catatonit, dockerd
    isolated: bool | None  # against this ocix process's (the host's) user namespace
    inode: int | None
    uid_map: list[str]  # /proc/PID/uid_map lines
    why: str = CAPS_STAY_INSIDE[0].upper() + CAPS_STAY_INSIDE[1:]


@dataclass
class Daemon:
    """One API endpoint and what it says about itself."""

    name: str  # containerd, cri, cri-o, docker, podman
    address: str
    state: str = "absent"  # running | absent | unreachable | not initialised
    version: str = ""
    api_version: str = ""
    components: dict[str, str] = field(default_factory=dict)  # what it runs on, with versions
    storage: list[str] = field(default_factory=list)  # storage driver / ok snapshotters / graph driver
    storage_root: str = ""
    cgroup_driver: str = ""
    rootless: bool | None = None
    pid: int | None = None
    command: str = ""
    note: str = ""
    user_namespace: DaemonUserns | None = None  # the rootless lab's daemons only


def _socket(d: Daemon, path: str) -> bool:
    """Fill pid, command and rootless from the socket's listener; False if there is no socket."""
    if not os.path.exists(path):
        d.state, d.note = "absent", f"no socket at {path}"
        return False
    owner = socket_owner(path)
    if owner is not None:
        d.pid, d.command, d.rootless = owner.pid, owner.command, owner.rootless
    return True


def containerd_probe(address: str) -> Daemon:
    from ...containerd import introspection, version
    from ...containerd.connection import Connection

    d = Daemon("containerd", address)
    if not _socket(d, address):
        return d
    try:
        with Connection(address, timeout=TIMEOUT) as conn:
            v = version.get(conn)
            plugins = introspection.plugins(conn, [f"type=={SNAPSHOTTER_TYPE}"])
    except OcixError as e:
        d.state, d.note = "unreachable", e.message
        return d
    d.state, d.version, d.components = "running", v.version, {"revision": v.revision}
    d.storage = sorted(p.id for p in plugins if p.type == SNAPSHOTTER_TYPE and p.status == "ok")
    return d


def cri_probe(name: str, address: str) -> Daemon:
    """The CRI RuntimeService on a socket: containerd's cri plugin, or CRI-O."""
    from ...cri.client import CriClient

    d = Daemon(name, address)
    if not _socket(d, address):
        return d
    try:
        with CriClient(address, timeout=TIMEOUT) as cri:
            v = cri.version()
    except OcixError as e:
        d.state, d.note = "unreachable", e.message
        return d
    d.state, d.version, d.api_version = "running", v.runtime_version, v.runtime_api_version
    d.components = {"runtime": v.runtime_name}
    return d


def docker_probe(url: str) -> Daemon:
    from ...dockerapi.client import DockerClient

    path = url.removeprefix("unix://")
    d = Daemon("docker", url)
    if url.startswith("unix://") and not _socket(d, path):
        return d
    try:
        with DockerClient(url, timeout=TIMEOUT) as client:
            v, i = client.version(), client.info()
    except OcixError as e:
        d.state, d.note = "unreachable", e.message
        return d
    d.state, d.version, d.api_version = "running", v.version, v.api_version
    d.components = {k: c for k, c in v.components.items() if k != "Engine"}
    d.storage, d.storage_root = [i.storage_driver], i.docker_root_dir
    d.cgroup_driver = f"{i.cgroup_driver} (cgroup v{i.cgroup_version})" if i.cgroup_version \
        else i.cgroup_driver
    d.rootless = i.rootless  # dockerd's own answer (its security options) beats our guess
    if i.containerd_snapshotter:
        d.note = f"images in containerd's {i.containerd_snapshotter} snapshotter"
    return d


def podman_probe() -> Daemon:
    """podman has no daemon: the lab's podman (or the system's) answers `podman info`."""
    from ...podman.client import Podman

    podman = Podman.from_env()
    where = f"lab {podman.paths.dir}" if podman.paths else "system config"
    d = Daemon("podman", f"{podman.binary} ({where})")
    if not shutil.which(podman.binary):
        d.note = "podman is not installed"
        return d
    try:
        if not podman.initialised():
            d.state, d.version = "not initialised", podman.binary_version()
            d.note = ("its storage does not exist yet; asking `podman info` would create "
                      "/var/lib/containers/storage")
            return d
        v = podman.version()
    except OcixError as e:
        d.state, d.note = "unreachable", e.message
        return d
    d.state, d.version, d.api_version = "running", v.version, v.api_version
    d.components = {"conmon": v.conmon_version, v.runtime: v.runtime_version}
    d.storage, d.storage_root = [v.graph_driver], v.graph_root
    d.cgroup_driver = f"{v.cgroup_manager} (cgroup {v.cgroup_version})"
    d.rootless = v.rootless
    d.note = "no daemon: one podman process per command, one conmon per container"
    return d
