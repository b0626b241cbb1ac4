"""The lab's podman: config under $OCIX_LAB_DIR/podman/, seed images pulled, containers removed.

podman has no daemon to start: "adding podman" means writing its storage, containers and
registries config (ocix/podman/config.py) and pulling the seed images through the lab registry,
which stands in for docker.io. Removing it removes every container and pod podman made with
the lab's root, stops any conmon left behind, and drops the config so `Podman.from_env` no
longer picks the lab.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OcixError
from .state import LabState, Progress


def add(state: LabState, progress: Progress) -> None:
    """Write the lab's podman config and pull every seeded image into its storage."""
    from ..podman.client import Podman
    from ..podman.config import write_lab_config

    write_lab_config(Path(state.dir), state.registry)
    state.podman = True
    state.save()
    refs = docker_io_names(state.images, state.registry)
    if refs:
        progress(f"pulling {len(refs)} images into podman's storage")
        Podman.for_lab(state.dir).run("pull", "--quiet", *refs, timeout=300)


def docker_io_names(images: list[str], registry: str) -> list[str]:
    """Seeded refs as docker.io names: podman fetches them through the mirror and stores them
    under the names `podman run busybox` resolves to."""
    prefix = registry + "/"
    return ["docker.io/" + ref.removeprefix(prefix) if ref.startswith(prefix) else ref
            for ref in images]


def remove(state: LabState) -> list[str]:
    """Remove every podman container and pod of the lab; returns what could not be removed."""
    from ..podman.client import Podman
    from ..podman.config import PodmanPaths, remove_lab_config

    problems: list[str] = []
    paths = PodmanPaths(Path(state.dir))
    if paths.configured():
        podman = Podman.for_lab(state.dir)
        for args in (("pod", "rm", "--all", "--force"), ("rm", "--all", "--force", "--time", "0")):
            try:
                podman.run(*args, timeout=60)
            except OcixError as e:
                problems.append(e.message)
    problems += _kill_orphan_conmons([str(paths.dir), str(paths.run_root)])
    remove_lab_config(Path(state.dir))
    state.podman = False
    return problems


def _kill_orphan_conmons(markers: list[str]) -> list[str]:
    """conmon outlives a podman that failed; its command line names the lab's dir or runroot."""
    from . import daemons

    return [f"stopped a conmon left behind (pid {pid})"
            for pid in daemons.stop_strays("conmon", "conmon",
                                           lambda argv: any(m in a for a in argv for m in markers))]


def status(state: LabState) -> tuple[bool, str, str]:
    """(usable, graph root, version line) of the lab's podman."""
    from ..podman.client import Podman

    try:
        v = Podman.for_lab(state.dir).version()
    except OcixError as e:
        return False, "", f"unusable: {e.message}"
    return True, v.graph_root, f"{v.version} (conmon {v.conmon_version}, {v.runtime} {v.runtime_version})"


def env(state: LabState) -> dict[str, str]:
    """What points a shell's `podman` at the lab: the three config files (root, runroot,
    cgroupfs and runc come from them), and OCIX_PODMAN=1."""
    from ..podman.client import Podman

    return {**Podman.for_lab(state.dir).env(), "OCIX_PODMAN": "1"}
