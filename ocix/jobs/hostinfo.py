"""`ocix info`: which container daemons, sockets and runtimes this host has, asked live.

Where each answer comes from: docs/info.md.

Each daemon is asked through its own API (containerd's Version and Introspection services, the
CRI Version call, dockerd's /version and /info, `podman info`); the kernel facts come from /proc
and /sys. Probes run in parallel, each bounded by its client's timeout, and one that fails is
reported with its reason: a missing or dead daemon never fails the whole answer.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from .. import programs
from ..errors import OcixError
from ..kernel.host import CgroupLayout, Lsm, Seccomp, cgroup_layout, lsm, seccomp, socket_owner
from ..kernel.userns import CAPS_STAY_INSIDE

CRIO_SOCKET = "/var/run/crio/crio.sock"  # CRI-O's standard endpoint
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


@dataclass(frozen=True)
class RuntimeBinary:
    name: str
    path: str
    version: str
    note: str = ""


@dataclass(frozen=True)
class HostInfo:
    kernel: str
    cgroup: CgroupLayout
    seccomp: Seccomp
    lsm: Lsm
    runtimes: list[RuntimeBinary]
    daemons: list[Daemon]


def host_info(containerd_address: str | None = None, docker_socket: str | None = None
              ) -> HostInfo:
    from ..containerd.connection import DEFAULT_ADDRESS, socket_path
    from ..dockerapi.client import DEFAULT_SOCKET, socket_from_env

    configured = socket_path(containerd_address or os.environ.get("CONTAINERD_ADDRESS")
                             or DEFAULT_ADDRESS)
    probes: list[Callable[[], Daemon]] = []
    for address in _unique([configured, DEFAULT_ADDRESS]):
        if address == configured or os.path.exists(address):
            probes += [partial(containerd_probe, address), partial(cri_probe, "cri", address)]
    probes.append(partial(cri_probe, "cri-o", CRIO_SOCKET))
    for url in _unique([socket_from_env(docker_socket), f"unix://{DEFAULT_SOCKET}"]):
        if url == socket_from_env(docker_socket) or os.path.exists(url.removeprefix("unix://")):
            probes.append(partial(docker_probe, url))
    probes.append(podman_probe)
    layout = cgroup_layout()
    from .rootlessinfo import rootless_daemons

    with ThreadPoolExecutor(max_workers=len(probes) + 3) as pool:
        futures = [pool.submit(p) for p in probes]
        runtimes = pool.submit(runtime_binaries, layout)
        rootless = pool.submit(rootless_daemons, os.environ.get("OCIX_LAB_DIR"))
        daemons = [f.result() for f in futures] + rootless.result()
        return HostInfo(kernel=os.uname().release, cgroup=layout, seccomp=seccomp(), lsm=lsm(),
                        runtimes=runtimes.result(), daemons=daemons)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


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
    from ..containerd import introspection, version
    from ..containerd.connection import Connection

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
    from ..cri.client import CriClient

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
    from ..dockerapi.client import DockerClient

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
    from ..podman.client import Podman

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


def runtime_binaries(layout: CgroupLayout | None = None) -> list[RuntimeBinary]:
    out = []
    for name in ("runc", "crun"):
        path = programs.find(name) or ""
        version = programs.version_word(programs.version_line([path, "--version"], TIMEOUT)) \
            if path else ""
        note = "" if path else "not installed"
        if name == "crun" and path and layout is not None and layout.mode == "hybrid":
            note = "refuses hybrid cgroups unless the v2 mount is hidden from it"
        out.append(RuntimeBinary(name, path, version, note))
    return out
