"""Where the lab lives, and what `lab up` recorded about what it started.

Everything belongs to one directory, `$OCIX_LAB_DIR` (default /var/lib/ocix-lab):

    lab.json                  pids, ports, sockets of what `up` started (the only source for `down`)
    containerd/config.toml    the private containerd's config
    containerd/root/          its root (content, snapshots, metadata)
    containerd/state/         its state (task bundles, FIFOs)
    containerd.sock           its gRPC socket
    registry/config.yml       the distribution registry's config; registry/data/ its storage
    hosts/<host>/hosts.toml   containerd hosts dir (certs.d format) for ctr --hosts-dir and the CRI
    layout/                   the OCI image layout the seed images are built into
    docker/                   dockerd's data-root, exec-root, config and socket (with --with-docker)
    podman/                   podman's root, runroot, tmp dir and its three config files (with
                              --with-podman; layout in ocix/podman/config.py)
    cni/                      the lab's own CNI conf dir (the host's /etc/cni is never used)
    logs/                     one log per daemon
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

# A long step's progress: each call is one line to show; `quiet` shows none.
Progress = Callable[[str], None]


def quiet(_: str) -> None:
    pass

DEFAULT_DIR = "/var/lib/ocix-lab"


def lab_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("OCIX_LAB_DIR") or DEFAULT_DIR).absolute()


@dataclass
class Proc:
    name: str
    pid: int
    argv: list[str]
    log: str


@dataclass
class LabState:
    dir: str
    containerd_socket: str = ""
    registry: str = ""  # host:port
    docker_socket: str = ""
    hosts_dir: str = ""
    podman: bool = False  # podman is configured (it has no daemon: no pid in procs)
    procs: list[Proc] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # seeded references, host-qualified

    @property
    def path(self) -> Path:
        return Path(self.dir) / "lab.json"

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(self.path)

    @classmethod
    def load(cls, directory: Path) -> LabState | None:
        path = directory / "lab.json"
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        procs = [Proc(**p) for p in data.pop("procs", [])]
        return cls(procs=procs, **{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def registry_port(self) -> int:
        """The registry's port, 0 if none was recorded."""
        _, _, port = self.registry.rpartition(":")
        return int(port) if port.isdigit() else 0

    def proc(self, name: str) -> Proc | None:
        return next((p for p in self.procs if p.name == name), None)


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def containerd_dir(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def hosts_dir(self) -> Path:
        return self.root / "hosts"

    @property
    def layout(self) -> Path:
        return self.root / "layout"

    @property
    def docker_dir(self) -> Path:
        return self.root / "docker"

    @property
    def docker_socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def cni_dir(self) -> Path:
        return self.root / "cni"

    @property
    def logs(self) -> Path:
        return self.root / "logs"
