"""The lab's podman files: its own storage, runroot and the three containers-* config files.

Everything lives under `$OCIX_LAB_DIR/podman/`; /var/lib/containers, /etc/containers and the
user's ~/.config/containers are never written. Why the settings are what they are: docs/podman.md.
"""

from __future__ import annotations

import hashlib
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The distribution's containers.conf files: the lab's file starts from them so that podman keeps
# its packaged defaults (default_capabilities above all) when CONTAINERS_CONF replaces them.
SYSTEM_CONTAINERS_CONF = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
# podman refuses a run root longer than this (conmon's socket paths must fit in sun_path).
MAX_RUN_ROOT = 50
SHORT_RUN_ROOTS = Path("/run/ocix-podman")
# The limits this VM lets even root set (docs/vm-limits.md); podman's defaults are higher.
ULIMITS = ("nofile=1024:1024", "nproc=1024:1024")


@dataclass(frozen=True)
class PodmanPaths:
    """Where a lab keeps podman's state; `lab` is the lab dir."""

    lab: Path

    @property
    def dir(self) -> Path:
        return self.lab / "podman"

    @property
    def graph_root(self) -> Path:
        return self.dir / "root"

    @property
    def run_root(self) -> Path:
        """In the lab dir if the path is short enough for podman, else /run/ocix-podman/<hash>."""
        inside = self.dir / "runroot"
        if len(str(inside)) <= MAX_RUN_ROOT:
            return inside
        return SHORT_RUN_ROOTS / hashlib.sha256(str(self.lab).encode()).hexdigest()[:16]

    @property
    def tmp_dir(self) -> Path:
        return self.dir / "tmp"  # libpod's tmp_dir: locks, exit files, the events log

    @property
    def network_dir(self) -> Path:
        return self.dir / "networks"

    @property
    def containers_conf(self) -> Path:
        return self.dir / "containers.conf"

    @property
    def storage_conf(self) -> Path:
        return self.dir / "storage.conf"

    @property
    def registries_conf(self) -> Path:
        return self.dir / "registries.conf"

    def configured(self) -> bool:
        """True once `lab up --with-podman` wrote the config (and until `lab down` removes it)."""
        return self.containers_conf.is_file()


def storage_conf(paths: PodmanPaths) -> dict[str, Any]:
    return {"storage": {"driver": "overlay", "graphroot": str(paths.graph_root),
                        "runroot": str(paths.run_root)}}


def containers_conf(paths: PodmanPaths, system: dict[str, Any] | None = None) -> dict[str, Any]:
    """The distribution's settings with the lab's on top: cgroupfs, runc, no network."""
    conf = _merge(system or {}, {
        "containers": {"netns": "none", "default_ulimits": list(ULIMITS)},
        "engine": {"cgroup_manager": "cgroupfs", "runtime": "runc", "events_logger": "file",
                   "tmp_dir": str(paths.tmp_dir)},
        "network": {"network_config_dir": str(paths.network_dir)},
    })
    return conf


def registries_conf(registry: str) -> dict[str, Any]:
    """The lab registry over plain HTTP on loopback, and as docker.io's mirror."""
    return {
        "unqualified-search-registries": ["docker.io"],
        "short-name-mode": "permissive",
        "registry": [
            {"prefix": "docker.io", "location": "registry-1.docker.io",
             "mirror": [{"location": registry, "insecure": True}]},
            {"location": registry, "insecure": True},
        ],
    }


def write_lab_config(lab: Path, registry: str) -> PodmanPaths:
    paths = PodmanPaths(lab)
    for d in (paths.graph_root, paths.run_root, paths.network_dir):
        d.mkdir(parents=True, exist_ok=True)
    paths.storage_conf.write_text(to_toml(storage_conf(paths)))
    paths.registries_conf.write_text(to_toml(registries_conf(registry)))
    # Written last: its presence is what says the lab has podman.
    paths.containers_conf.write_text(to_toml(containers_conf(paths, read_system_conf())))
    return paths


def remove_lab_config(lab: Path, *, storage: bool = False) -> None:
    paths = PodmanPaths(lab)
    for f in (paths.containers_conf, paths.registries_conf, paths.storage_conf):
        f.unlink(missing_ok=True)
    if not paths.run_root.is_relative_to(paths.lab):
        shutil.rmtree(paths.run_root, ignore_errors=True)  # volatile state, like /run itself
    if storage:
        shutil.rmtree(paths.dir, ignore_errors=True)


def read_system_conf(files: tuple[str, ...] = SYSTEM_CONTAINERS_CONF) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    for name in files:
        try:
            with open(name, "rb") as f:
                conf = _merge(conf, tomllib.load(f))
        except (FileNotFoundError, tomllib.TOMLDecodeError):
            continue
    return conf


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML for what these files hold: scalars, lists, tables, arrays of tables."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for k, v in data.items():
        key = _key(k)
        if isinstance(v, dict):
            tables.append((f"{prefix}{key}", v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((f"{prefix}{key}", v))
        else:
            lines.append(f"{key} = {_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        out += f"\n[{name}]\n" + to_toml(table, f"{name}.")
    for name, items in arrays:
        for item in items:
            out += f"\n[[{name}]]\n" + to_toml(item, f"{name}.")
    return out


def _key(k: str) -> str:
    return k if k.replace("-", "").replace("_", "").isalnum() else _value(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")
