"""Cheap live checks of this host for `ocix explain`: binaries, daemons, processes, kernel facts.

A probe is written `kind:target` in a topic file, e.g. `binary:runc`, `daemon:docker`,
`process:conmon`, `kernel:cgroup`. Every probe answers within a few seconds and never raises:
what it cannot learn becomes the mark's detail text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..cri import CRIO_SOCKET
from ..errors import OcixError
from ..kernel.proc import processes
from ..programs import find as which
from ..programs import version_line

# The Seccomp: line of /proc/PID/status names the process's own mode (proc(5)); a Seccomp:
# line at all means the kernel has seccomp.
SECCOMP_MODES = {
    "0": "mode 0: ocix's own process has no filter; runtimes load one (mode 2) into containers",
    "1": "mode 1: strict seccomp (read, write, _exit, sigreturn only)",
    "2": "mode 2: a BPF filter is loaded, as runtimes do for containers",
}


@dataclass(frozen=True)
class Mark:
    """What the host has of one part of a stack."""

    part: str
    probe: str
    present: bool  # installed / exists
    running: bool | None  # None: not a thing that runs
    version: str
    detail: str


def pids_of(comm: str) -> list[int]:
    """Processes whose /proc/PID/comm is `comm` (the kernel keeps 15 characters of it)."""
    want = comm[:15]
    return sorted(p.pid for p in processes() if p.comm() == want)


def _lab_sockets() -> dict[str, str]:
    """Sockets of a running ocix lab (OCIX_LAB_DIR or the default dir), if there is one."""
    from ..lab.state import LabState, lab_dir

    state = LabState.load(lab_dir())
    if state is None or not state.procs:
        return {}
    out = {}
    if state.containerd_socket:
        out["containerd"] = state.containerd_socket
    if state.docker_socket and state.proc("dockerd"):
        out["docker"] = state.docker_socket
    return out


def daemon_address(name: str) -> str:
    """Where ocix would look for a daemon: its env variable, then a running lab, then the default."""
    env = {"docker": "DOCKER_HOST", "containerd": "CONTAINERD_ADDRESS",
           "cri": "CONTAINER_RUNTIME_ENDPOINT"}.get(name)
    if env and os.environ.get(env):
        return os.environ[env].removeprefix("unix://")
    lab = _lab_sockets()
    if name == "cri":
        return lab.get("containerd") or os.environ.get("CONTAINERD_ADDRESS") or \
            "/run/containerd/containerd.sock"
    defaults = {"docker": "/var/run/docker.sock", "containerd": "/run/containerd/containerd.sock",
                "crio": CRIO_SOCKET}
    return lab.get(name) or defaults.get(name, "")


def probe_daemon(part: str, name: str) -> Mark:
    """Ask the daemon through `ocix info`'s probes (its own API, bounded by a timeout)."""
    from ..jobs.host import daemons as hostinfo

    sock = daemon_address(name)
    spec = f"daemon:{name}"
    if name == "podman":
        d = hostinfo.podman_probe()
    elif name == "docker":
        d = hostinfo.docker_probe(sock if "://" in sock else f"unix://{sock}")
    elif name in ("cri", "crio"):
        d = hostinfo.cri_probe("cri-o" if name == "crio" else "cri", sock)
    elif name == "containerd":
        d = hostinfo.containerd_probe(sock)
    else:
        raise OcixError(f"unknown daemon {name!r}")
    version = d.version + (f" (API {d.api_version})" if d.api_version else "")
    facts = [f"answers on {d.address}"] if d.state == "running" else [d.note or d.state]
    if d.storage:
        facts.append("storage " + ", ".join(d.storage))
    if d.rootless:
        facts.append("rootless")
    return Mark(part, spec, d.state != "absent", d.state == "running", version, "; ".join(facts))


def probe_binary(part: str, binary: str, args: list[str] | None = None) -> Mark:
    path = which(binary)
    if path is None:
        return Mark(part, f"binary:{binary}", False, None, "", f"{binary} is not on PATH")
    # "-" as the argument: the program has no version flag; presence is all we learn.
    version = "" if args == ["-"] else version_line([path, *(args or ["--version"])])
    return Mark(part, f"binary:{binary}", True, None, version, path)


def probe_process(part: str, comm: str, args: list[str] | None = None) -> Mark:
    """`args` ask the binary for its version the way it answers (containerd-shim-runc-v2
    knows only `-v`); `--version` when none are given."""
    pids = pids_of(comm)
    binary = which(comm)
    version = version_line([binary, *(args or ["--version"])]) if binary else ""
    detail = (f"running: pid {', '.join(map(str, pids[:5]))}" + (" …" if len(pids) > 5 else "")
              if pids else ("installed, not running" if binary else f"{comm} is not installed"))
    return Mark(part, f"process:{comm}", bool(binary or pids), bool(pids), version, detail)


def _kernel_fact(fact: str) -> tuple[bool, str, str]:
    """(present, version-ish value, detail) for one kernel fact."""
    if fact == "release":
        return True, os.uname().release, "uname -r"
    if fact == "cgroup":
        from ..kernel.host import cgroup_layout

        layout = cgroup_layout()
        return layout.mode != "none", layout.mode, (
            f"v1: {' '.join(layout.v1_controllers) or '-'}; cgroup2 at {layout.v2_mount or '-'}"
            + (f" (controllers: {' '.join(layout.v2_controllers) or 'none'})"
               if layout.v2_mount else ""))
    if fact == "namespaces":
        types = sorted(os.listdir("/proc/self/ns"))
        return bool(types), f"{len(types)} types", " ".join(types)
    if fact == "caps":
        last = Path("/proc/sys/kernel/cap_last_cap").read_text().strip()
        eff = next((line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapEff:")), "?")
        return True, f"cap_last_cap {last}", f"this process's CapEff {eff}"
    if fact == "userns":
        path = Path("/proc/sys/user/max_user_namespaces")
        value = path.read_text().strip() if path.exists() else "0"
        return value != "0", f"max_user_namespaces {value}", "unprivileged user namespaces allowed" \
            if value != "0" else "user namespaces disabled"
    if fact == "subuid":
        lines = [ln for ln in _read("/etc/subuid").splitlines() if ln.strip()]
        return bool(lines), f"{len(lines)} ranges", "/etc/subuid: " + (
            ", ".join(lines[:3]) if lines else "empty")
    if fact == "overlay":
        has = "overlay" in _read("/proc/filesystems")
        return has, "overlay" if has else "", "overlayfs in /proc/filesystems" if has else \
            "overlayfs not loaded"
    if fact == "seccomp":
        mode = next((line.split()[1] for line in _read("/proc/self/status").splitlines()
                     if line.startswith("Seccomp:")), "")
        return bool(mode), f"supported (this process: mode {mode})" if mode else "", \
            SECCOMP_MODES.get(mode, "Seccomp: line of /proc/self/status")
    raise OcixError(f"unknown kernel fact {fact!r}")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def probe_kernel(part: str, fact: str) -> Mark:
    try:
        present, value, detail = _kernel_fact(fact)
    except OSError as e:
        return Mark(part, f"kernel:{fact}", False, None, "", str(e))
    return Mark(part, f"kernel:{fact}", present, None, value, detail)


def probe_defaults(part: str, component: str) -> Mark:
    """A component's default capability set: computed here, or upstream's when it is absent."""
    from . import facts

    found = {"runc": facts.runc_default, "containerd": facts.containerd_default,
             "podman": facts.podman_default, "cri-o": facts.crio_default}.get(component)
    if found is None:
        raise OcixError(f"unknown component {component!r}")
    d = found()
    if d is None:
        return Mark(part, f"defaults:{component}", False, None, "", f"{component} is not here")
    names = " ".join(n.removeprefix("CAP_") for n in d.names)
    where = "computed from " if d.live else "upstream, not on this host: "
    return Mark(part, f"defaults:{component}", d.live, None, f"{d.mask} ({d.count})",
                f"{names}; {where}{d.source}")


PROBE_KINDS = ("binary", "daemon", "process", "kernel", "defaults", "none")


def probe(part: str, spec: str) -> Mark:
    """Run one `kind:target` probe; `none` marks a part that lives elsewhere (e.g. the kubelet)."""
    kind, _, target = spec.partition(":")
    if kind == "binary":
        name, *args = target.split()
        return probe_binary(part, name, args or None)
    if kind == "daemon":
        return probe_daemon(part, target)
    if kind == "process":
        name, *args = target.split()
        return probe_process(part, name, args or None)
    if kind == "kernel":
        return probe_kernel(part, target)
    if kind == "defaults":
        return probe_defaults(part, target)
    if kind == "none":
        return Mark(part, spec, False, None, "", target or "not on this host")
    raise OcixError(f"unknown probe {spec!r}")
