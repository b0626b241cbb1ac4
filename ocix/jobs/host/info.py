"""`ocix info`: which container daemons, sockets and runtimes this host has, asked live.

Where each answer comes from: docs/info.md.

Each daemon is asked through its own API (containerd's Version and Introspection services, the
CRI Version call, dockerd's /version and /info, `podman info`); the kernel facts come from /proc
and /sys. Probes run in parallel, each bounded by its client's timeout, and one that fails is
reported with its reason: a missing or dead daemon never fails the whole answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from ... import programs
from ...cri import CRIO_SOCKET
from ...kernel.host import CgroupLayout, Lsm, Seccomp, cgroup_layout, lsm, seccomp
from .daemons import TIMEOUT, Daemon, containerd_probe, cri_probe, docker_probe, podman_probe


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
    from ...containerd.connection import DEFAULT_ADDRESS, socket_path
    from ...dockerapi.client import DEFAULT_SOCKET, socket_from_env

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
    from .rootless import rootless_daemons

    with ThreadPoolExecutor(max_workers=len(probes) + 3) as pool:
        futures = [pool.submit(p) for p in probes]
        runtimes = pool.submit(runtime_binaries, layout)
        rootless = pool.submit(rootless_daemons, os.environ.get("OCIX_LAB_DIR"))
        daemons = [f.result() for f in futures] + rootless.result()
        return HostInfo(kernel=os.uname().release, cgroup=layout, seccomp=seccomp(), lsm=lsm(),
                        runtimes=runtimes.result(), daemons=daemons)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


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
