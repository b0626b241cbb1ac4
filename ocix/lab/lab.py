"""`ocix lab up|down|status|env`: the embedded lab's life cycle.

`up` starts a loopback registry, a private containerd (CRI enabled) and optionally dockerd,
seeds the registry with images built from files on this machine, writes a containerd hosts
dir in which the lab registry mirrors docker.io, and pulls the pause image into k8s.io; with
podman it also configures a lab-owned podman and pulls the seed images into it.
`down` removes podman's containers, stops only what `up` recorded, by pid, and unmounts
whatever is left under the lab dir.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import programs
from ..errors import OcixError
from . import daemons, podmanlab
from .state import LabState, Paths, Progress, lab_dir, quiet


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None  # None for podman: it is daemonless, nothing runs between commands
    running: bool
    address: str
    version: str
    log: str


@dataclass(frozen=True)
class LabStatus:
    dir: str
    running: bool
    components: list[ComponentStatus] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UpResult:
    state: LabState
    already_running: bool
    seconds: float


def hosts_toml(server: str, mirrors: list[tuple[str, list[str]]]) -> str:
    lines = [f'server = "{server}"', ""]
    for url, caps in mirrors:
        lines += [f'[host."{url}"]', "  capabilities = [" + ", ".join(f'"{c}"' for c in caps) + "]", ""]
    return "\n".join(lines)


def write_hosts_dir(paths: Paths, registry: str) -> Path:
    """containerd's certs.d layout: the lab registry mirrors docker.io and serves itself over HTTP."""
    local = f"http://{registry}"
    shutil.rmtree(paths.hosts_dir, ignore_errors=True)  # entries for an earlier run's port
    files = {
        "docker.io": hosts_toml("https://registry-1.docker.io", [(local, ["pull", "resolve"])]),
        registry: hosts_toml(local, []),
    }
    for host, text in files.items():
        d = paths.hosts_dir / host
        d.mkdir(parents=True, exist_ok=True)
        (d / "hosts.toml").write_text(text)
    return paths.hosts_dir


def is_running(state: LabState | None) -> bool:
    return bool(state and state.procs and all(daemons.alive(p) for p in state.procs))


def up(directory: str | os.PathLike[str] | None = None, *, with_docker: bool = False,
       with_podman: bool = False, seed: bool = True, with_rootless: bool = False,
       progress: Progress = quiet) -> UpResult:
    start = time.monotonic()
    root = lab_dir(directory)
    if os.geteuid() != 0:
        raise OcixError("the lab needs root (containerd, overlayfs and runc do)", hint="run with sudo")
    old = LabState.load(root)
    if is_running(old):
        assert old is not None
        if with_docker and not old.proc("dockerd"):
            progress("starting dockerd")
            _add_docker(old)
        if with_podman and not old.podman:
            progress("configuring podman")
            podmanlab.add(old, progress)
        if with_rootless:
            from . import rootless

            rootless.up(old, progress)
        return UpResult(old, True, time.monotonic() - start)
    if old and (old.procs or old.podman):  # half-dead lab from a crash: clear it first
        progress("cleaning up a previous lab that is partly stopped")
        down(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = Paths(root)
    state = LabState(dir=str(root))
    try:
        progress("starting the registry")
        reg, addr = daemons.start_registry(paths, registry_port(old, progress))
        state.procs.append(reg)
        state.registry = addr
        state.hosts_dir = str(write_hosts_dir(paths, addr))
        state.save()
        progress("starting containerd")
        state.procs.append(daemons.start_containerd(paths, addr))
        state.containerd_socket = str(paths.containerd_socket)
        state.save()
        if with_docker:
            progress("starting dockerd")
            _add_docker(state)
        if seed:
            state.images = seed_registry(state, progress=progress)
            state.save()
            progress("pulling the pause image into k8s.io")
            pull_pause(state)
        if with_podman:
            progress("configuring podman")
            podmanlab.add(state, progress)
        if with_rootless:  # pulls the seeded busybox: after seeding
            from . import rootless

            rootless.up(state, progress)
    except BaseException:
        state.save()
        down(root)
        raise
    return UpResult(state, False, time.monotonic() - start)


def registry_port(old: LabState | None, progress: Progress = quiet) -> int:
    """The port the lab's registry had last time, if it is free: image names that carry it
    (pulled through $OCIX_REGISTRY) keep working.  Else a new free port, and a progress line."""
    wanted = old.registry_port if old else 0
    if not wanted:
        return daemons.free_port()
    if daemons.port_is_free(wanted):
        return wanted
    port = daemons.free_port()
    progress(f"registry port {wanted} is taken; using {port}")
    return port


def _add_docker(state: LabState) -> None:
    paths = Paths(Path(state.dir))
    state.procs.append(daemons.start_dockerd(paths, state.registry))
    state.docker_socket = str(paths.docker_socket)
    state.save()


def seed_registry(state: LabState, *, large: bool = False, sized: tuple[int, ...] = (),
                  progress: Progress = quiet) -> list[str]:
    """Build the lab images from files on this machine and push them to the lab registry."""
    from ..registry.push import push_many
    from .images.recipes import seed_images

    paths = Paths(Path(state.dir))
    progress("building the seed images")
    images = seed_images(paths.layout, large=large, sized=sized)
    progress(f"pushing {len(images)} images to {state.registry}")
    push_many(state.registry, images, insecure=True)
    refs = [f"{state.registry}/{image.repo}:{image.tag}" for image in images]
    known = set(state.images)
    return state.images + [r for r in refs if r not in known]


def seed(directory: str | os.PathLike[str] | None = None, *, large: bool = False,
         sized: tuple[int, ...] = (), debian: bool = False, mirror: str | None = None,
         cache: Path | None = None, progress: Progress = quiet) -> list[str]:
    """`lab seed`: build and push the seed images (and benchmark ones) into the running lab;
    with `debian`, also library/debian:bookworm and library/app:latest (images/realimages.py)."""
    state = running_state(directory)
    state.images = seed_registry(state, large=large, sized=sized, progress=progress)
    state.save()
    if debian:
        state.images = seed_debian(state, mirror=mirror, cache=cache, progress=progress)
        state.save()
    return state.images


def seed_debian(state: LabState, *, mirror: str | None = None, cache: Path | None = None,
                progress: Progress = quiet) -> list[str]:
    """Build (or take from the cache) debian and app, and push them to the lab registry."""
    from ..registry.push import push_many
    from .images.realimages import seed_real

    images = seed_real(Path(state.dir), mirror=mirror, cache=cache, progress=progress)
    progress(f"pushing {', '.join(i.ref for i in images)} to {state.registry}")
    push_many(state.registry, images, insecure=True)
    refs = [f"{state.registry}/{image.repo}:{image.tag}" for image in images]
    return state.images + [r for r in refs if r not in set(state.images)]


def pull_pause(state: LabState) -> None:
    """The CRI plugin needs its sandbox image in k8s.io before RunPodSandbox.  It is pulled the
    way a kubelet pulls, through the CRI's PullImage; the plugin resolves it through the lab's
    hosts dir (docs/cri.md)."""
    from ..cri.client import CriClient

    with CriClient(state.containerd_socket, timeout=120) as cri:
        cri.pull_image(f"{state.registry}/library/pause:3.6")


def down(directory: str | os.PathLike[str] | None = None, *, purge: bool = False,
         progress: Progress = quiet) -> list[str]:
    """Stop what `up` started and unmount leftovers; returns what was stopped."""
    from . import rootless

    root = lab_dir(directory)
    state = LabState.load(root)
    stopped: list[str] = rootless.down(root, purge=purge, progress=progress)
    if state is None:
        _unmount_under(root)
        return stopped
    by_name = {p.name: p for p in state.procs}
    if state.podman:
        progress("removing podman's containers")
        for problem in podmanlab.remove(state):
            progress(problem)
        stopped.append("podman")
    if "dockerd" in by_name:
        progress("stopping dockerd")
        daemons.stop(by_name["dockerd"], timeout=30)
        stopped.append("dockerd")
    if "containerd" in by_name:
        if daemons.alive(by_name["containerd"]):
            progress("removing running tasks")
            _remove_tasks(state.containerd_socket)
        progress("stopping containerd")
        daemons.stop(by_name["containerd"])
        stopped.append("containerd")
        _kill_orphan_shims(state.containerd_socket)
    if "registry" in by_name:
        progress("stopping the registry")
        daemons.stop(by_name["registry"])
        stopped.append("registry")
    _unmount_under(root)
    state.procs = []
    state.save()
    if purge:
        shutil.rmtree(root, ignore_errors=True)
    return stopped


def _remove_tasks(socket: str) -> None:
    from ..containerd import namespaces, tasks
    from ..containerd.connection import Connection

    conn = Connection(socket, timeout=10)
    try:
        for ns in namespaces.list_namespaces(conn):
            scoped = conn.in_namespace(ns.name)
            for t in tasks.list_tasks(scoped):
                try:
                    tasks.force_remove(scoped, t.container_id, task=t)
                except OcixError:
                    pass  # containerd goes down next; the shim sweep below catches the rest
    except OcixError:
        pass
    finally:
        conn.close()


def _kill_orphan_shims(socket: str) -> None:
    """Shims of this containerd outlive it; they carry `-address <socket>` on their command line."""
    daemons.stop_strays("shim", "containerd-shim-runc-v2", lambda argv: socket in argv)


def mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].replace("\\040", " ")
            if target.startswith(prefix) or target == str(root):
                found.append(target)
    return found


def _unmount_under(root: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for target in sorted(mounts_under(root), key=len, reverse=True):
        if libc.umount2(target.encode(), 0) != 0:
            libc.umount2(target.encode(), 2)  # MNT_DETACH: busy, let the kernel finish it


def status(directory: str | os.PathLike[str] | None = None) -> LabStatus:
    root = lab_dir(directory)
    state = LabState.load(root)
    if state is None or not state.procs:
        return LabStatus(dir=str(root), running=False)
    comps = []
    for p in state.procs:
        running = daemons.alive(p)
        address, version = "", ""
        if p.name == "containerd":
            address = state.containerd_socket
            version = _containerd_version(address) if running else ""
        elif p.name == "registry":
            address = f"http://{state.registry}"
            # "docker-registry github.com/docker/distribution 2.8.2+ds1" -> "2.8.2+ds1"
            version = (programs.version_line([p.argv[0], "--version"], timeout=10).split()
                       or [""])[-1]
        elif p.name == "dockerd":
            address = f"unix://{state.docker_socket}"
            version = _docker_version(state.docker_socket) if running else ""
        comps.append(ComponentStatus(p.name, p.pid, running, address, version, p.log))
    if state.podman:
        usable, graph_root, version = podmanlab.status(state)
        comps.append(ComponentStatus("podman", None, usable, graph_root, version, ""))
    running = all(c.running for c in comps)
    from . import rootless

    comps += [ComponentStatus(*row) for row in rootless.components(root)]
    return LabStatus(dir=str(root), running=running, components=comps, images=state.images)


def _containerd_version(socket: str) -> str:
    from ..containerd import version
    from ..containerd.connection import Connection

    try:
        with Connection(socket, timeout=5) as conn:
            v = version.get(conn)
        return f"{v.version} ({v.revision})"
    except OcixError as e:
        return f"unreachable: {e.message}"


def _docker_version(socket: str) -> str:
    from ..dockerapi.client import DockerClient

    try:
        with DockerClient.from_env(socket) as client:
            v = client.version()
        return f"{v.version} (API {v.api_version})"
    except OcixError as e:
        return f"unreachable: {e.message}"


def running_state(directory: str | os.PathLike[str] | None = None) -> LabState:
    """The state of the lab in `directory`; an error when it is not running."""
    state = LabState.load(lab_dir(directory))
    if state is None or not is_running(state):
        raise OcixError("the lab is not running", kind="lab-down")
    return state


def env(directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
    root = lab_dir(directory)
    state = LabState.load(root)
    if state is None or not is_running(state):
        raise OcixError(f"the lab in {root} is not running", kind="lab-down")
    out = {"OCIX_LAB_DIR": str(root), "CONTAINERD_ADDRESS": state.containerd_socket,
           "OCIX_REGISTRY": state.registry, "OCIX_HOSTS_DIR": state.hosts_dir}
    if state.docker_socket and state.proc("dockerd"):
        out["DOCKER_HOST"] = f"unix://{state.docker_socket}"
    if state.podman:
        out.update(podmanlab.env(state))
    return out


def log_tail(directory: str | os.PathLike[str] | None, component: str, lines: int = 20) -> str:
    """The last `lines` lines of a lab component's log (logs/<component>.log)."""
    root = lab_dir(directory)
    logs = Paths(root).logs
    names = sorted(p.stem for p in logs.glob("*.log")) if logs.is_dir() else []
    if component not in names:
        raise OcixError(f"no log for {component!r} in {logs}",
                        hint="logs: " + (", ".join(names) if names else "none (is the lab up?)"))
    text = (logs / f"{component}.log").read_text(errors="replace").splitlines()[-lines:]
    return "".join(line + "\n" for line in text)
