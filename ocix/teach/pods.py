"""Tour steps 26 and 27: a Kubernetes pod through the CRI (its pause process and the shim
they share), and podman's conmon stack (conmon as the container's parent, no daemon)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import OcixError
from .probe import pids_of
from .session import PREFIX, Session, Step, StepFailed

POD = f"{PREFIX}pod"
PODMAN_CONTAINER = f"{PREFIX}podman"
SHOWN = ("pid", "mnt", "net", "ipc", "uts")


def ppid_of(pid: int) -> int:
    # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def ancestors(pid: int) -> list[int]:
    """pid, its parent, and so on up to pid 1."""
    chain = [pid]
    while chain[-1] > 1 and len(chain) < 64:
        try:
            chain.append(ppid_of(chain[-1]))
        except (OSError, ValueError, IndexError):
            break
    return chain


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _ns(pid: int | str, t: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/{t}")
    except OSError:
        return "?"


def _shim_of(pod_id: str) -> int:
    """The containerd-shim-runc-v2 started for the pod: `-id <pod id>` on its command line."""
    for pid in pids_of("containerd-shim-runc-v2"):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if pod_id.encode() in args:
            return pid
    raise StepFailed(f"no containerd-shim-runc-v2 with -id {pod_id[:12]}")


def printed_id(transcript: str) -> str:
    """The 64-hex id a `cri runp`/`create` printed (a pull's note may come with it, on stderr)."""
    found = re.search(r"^([0-9a-f]{64})$", transcript, re.M)
    if not found:
        raise StepFailed("no id in the output", hint=transcript)
    return found.group(1)


def cri_pod(session: Session, step: Step, out: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=PREFIX))
    session.on_close(f"pod config directory {tmp}", lambda: shutil.rmtree(tmp))
    pod_config, ctr_config = tmp / "pod.json", tmp / "container.json"
    # No CNI in the lab: the pod shares the host's network (namespace_options.network 2, NODE).
    # pid 1 (CONTAINER) is what the kubelet asks for unless shareProcessNamespace is set; the
    # CRI's own default, 0, would put the container in the pause process's pid namespace.
    options = {"namespace_options": {"network": 2, "pid": 1}}
    pod_config.write_text(json.dumps({
        "metadata": {"name": POD, "uid": f"{POD}-uid", "namespace": "default"},
        "linux": {"security_context": options}}))
    ctr_config.write_text(json.dumps({"metadata": {"name": "sleeper"},
                                      "image": {"image": "busybox"},
                                      "command": ["sleep", "300"],
                                      "linux": {"security_context": options}}))
    _, transcript = session.ocix(f"ocix cri runp {pod_config}")
    pod = printed_id(transcript)
    session.on_close(f"CRI pod {POD}", lambda: _remove_pod(session, pod))
    out.append(transcript)
    _, transcript = session.ocix(f"ocix cri create {pod} {ctr_config} {pod_config}")
    out.append(transcript)
    container = printed_id(transcript)
    out.append(session.ocix(f"ocix cri start {container}")[1])
    out.append(session.ocix("ocix cri pods")[1])
    out.append(session.ocix("ocix cri ps")[1])
    shim = _shim_of(pod)
    kids = {_comm(k): k for k in _children(shim)}
    sleeper = kids.pop("sleep", None)
    # The pause image's process: `pause` upstream, catatonit in the lab's own pause image.
    pause_name, pause = next(iter(kids.items()), ("", None))
    if pause is None or sleeper is None:
        raise StepFailed(f"the pod's shim (pid {shim}) has no pause and sleep children: {kids}")
    out.append(session.host(["ps", "-o", "pid,ppid,args", "-p", f"{shim},{pause},{sleeper}"])[1])
    rows = [f"{'namespace':<10} {'host':<22} {'pause':<22} {'container':<22}"]
    for t in SHOWN:
        host, p, c = _ns("self", t), _ns(pause, t), _ns(sleeper, t)
        how = ("pod's" if c == p != host else "host's" if c == host else "own")
        rows.append(f"{t:<10} {host:<22} {p:<22} {c:<22} {how}")
    out.append(f"one shim (pid {shim}) for the whole pod: the parent of the pause process\n"
               f"({pause_name}, pid {pause}) and of the container's sleep (pid {sleeper})\n"
               + "\n".join(rows))
    if _ns(sleeper, "ipc") != _ns(pause, "ipc"):
        raise StepFailed("the container does not share the pause process's ipc namespace")
    if _ns(sleeper, "pid") == _ns(pause, "pid"):
        raise StepFailed("the container shares the pause process's pid namespace")


def _remove_pod(session: Session, pod: str) -> None:
    rc, transcript = session.ocix(f"ocix cri rmp -f {pod}", must_pass=False)
    if rc != 0:
        raise OcixError(transcript)


def podman_conmon(session: Session, step: Step, out: list[str]) -> None:
    from ..podman.client import RUN_DEFAULTS, Podman
    from ..podman.config import PodmanPaths

    if not PodmanPaths(Path(session.lab_dir)).configured():
        raise StepFailed("the lab's podman is not configured", hint="ocix lab up --with-podman")
    pm = Podman.for_lab(session.lab_dir)

    def remove() -> None:
        pm.run("rm", "--force", "--ignore", "--time", "0", PODMAN_CONTAINER, timeout=60)

    remove()  # a leftover of an interrupted tour
    session.on_close(f"podman container {PODMAN_CONTAINER}", remove)
    pm.run("run", "-d", "--name", PODMAN_CONTAINER, *RUN_DEFAULTS, "busybox", "sleep", "300",
           timeout=120)
    pid = int(pm.run("inspect", "--format", "{{.State.Pid}}", PODMAN_CONTAINER).stdout.strip())
    parent = ppid_of(pid)
    out.append(f"$ podman run -d --name {PODMAN_CONTAINER} {' '.join(RUN_DEFAULTS)} busybox "
               f"sleep 300   (the lab's podman: its own storage and config)\n"
               f"(podman inspect: State.Pid {pid})")
    out.append(session.host(["ps", "-o", "pid,ppid,args", "-p", f"{parent},{pid}"])[1])
    chain = ancestors(pid)
    out.append(session.wrap("ancestors of the sleep: " + " ← ".join(f"{_comm(p)} ({p})"
                                                                   for p in chain))
               + "\nno podman among them: `podman run` exited once conmon had the container")
    if _comm(parent) != "conmon":
        raise StepFailed(f"the container's parent is {_comm(parent)}, not conmon")
    if any(_comm(p) == "podman" for p in chain):
        raise StepFailed("a podman process is still the container's ancestor")
    out.append(session.ocix(f"ocix kernel --pid {pid}", ["Process", "NAMESPACE"])[1])
