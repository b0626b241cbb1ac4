"""The CRI path: what a kubelet asks of containerd's cri plugin, through ocix's CRI client.

RunPodSandbox (a host-network pod on the lab's pause image), PullImage when the image is
missing, CreateContainer, StartContainer, ContainerStatus until it exited, the CRI log file,
then RemoveContainer, StopPodSandbox and RemovePodSandbox.  The CRI reports no pid outside its
verbose info, so the held init is found in /proc by its $0 (evidence.find_held).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

from ... import programs
from ...containerd.connection import Connection
from ...cri.client import CRI_NAMESPACE, ContainerConfig, CriClient, PodConfig
from ...errors import NotFoundError, OcixError
from ...registry.reference import parse as parse_reference
from ..containers.imagespec import resolve_image
from . import evidence
from .context import PathRun
from .model import CompareOptions, Endpoints, final_argv, hold_argv

LABEL = "ocix.compare"
LOG_PATH = "main/0.log"
SETTLE = 2.0  # seconds to wait for a pod whose RunPodSandbox was interrupted


def unavailable(endpoints: Endpoints) -> str | None:
    path = endpoints.containerd.removeprefix("unix://")
    return None if os.path.exists(path) else f"no containerd socket at {path} (the cri plugin)"


def _user(user: str | None) -> dict[str, object]:
    """--user as the CRI's run_as_user / run_as_username / run_as_group."""
    if not user:
        return {}
    name, _, group = user.partition(":")
    out: dict[str, object] = {"run_as_user": int(name)} if name.isdigit() else \
        {"run_as_username": name}
    if group:
        if not group.isdigit():
            raise OcixError(f"the CRI takes a numeric group only, not {group!r}")
        out["run_as_group"] = int(group)
    return out


def container_config(opts: CompareOptions, name: str, argv: list[str], ref: str) -> ContainerConfig:
    hold = hold_argv(name, argv)
    strip = [c.upper().removeprefix("CAP_") for c in opts.cap_drop]
    add = [c.upper().removeprefix("CAP_") for c in opts.cap_add]
    env = dict(e.split("=", 1) for e in opts.env)
    return ContainerConfig(name="main", image=ref, command=hold[:1], args=hold[1:], env=env,
                           log_path=LOG_PATH, labels={LABEL: name}, cap_add=add, cap_drop=strip,
                           memory_limit=opts.memory or 0, **_user(opts.user))  # type: ignore[arg-type]


def read_cri_log(path: Path, stream: str = "stdout") -> str:
    """One stream of a CRI log: '<time> <stream> <F|P> <text>' lines; P joins the next line."""
    out: list[str] = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    for line in lines:
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[1] != stream:
            continue
        text = parts[3] if len(parts) == 4 else ""
        out.append(text if parts[2] == "P" else text + "\n")
    return "".join(out)


def _settled(path: Path, deadline: float) -> None:
    """The cri plugin copies output after the exit is reported: wait until the file stops growing."""
    last = -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size == last:
            return
        last = size
        time.sleep(0.05)


def _remove_pods(cri: CriClient, name: str, made: list[str]) -> None:
    """Every pod this path made, found by label: one whose RunPodSandbox was cut short too."""
    settle = time.monotonic() + (0.0 if made else SETTLE)
    pods = cri.list_pod_sandboxes(labels={LABEL: name})
    while not pods and time.monotonic() < settle:
        time.sleep(0.1)
        pods = cri.list_pod_sandboxes(labels={LABEL: name})
    for pod in pods:
        for c in cri.list_containers(pod_id=pod.id):
            with suppress(NotFoundError):
                cri.remove_container(c.id)
        with suppress(NotFoundError):
            cri.stop_pod(pod.id)
        with suppress(NotFoundError):
            cri.remove_pod(pod.id)


def run(ctx: PathRun) -> None:
    r, opts = ctx.result, ctx.opts
    cri = CriClient(ctx.endpoints.containerd, timeout=ctx.deadline.remaining())
    ctx.cleanups.add("close the CRI client", cri.close)
    v = cri.version()
    ref = parse_reference(opts.image).name
    logs = Path(tempfile.mkdtemp(prefix=f"{ctx.name}-"))
    ctx.cleanups.add(f"CRI log dir {logs}", lambda: shutil.rmtree(logs, ignore_errors=True))
    pod = PodConfig(name=ctx.name, uid=str(uuid.uuid4()), namespace="ocix-compare",
                    log_directory=str(logs), labels={LABEL: ctx.name})
    with ctx.phase("create"):
        made: list[str] = []
        ctx.cleanups.add(f"CRI pod {ctx.name}", lambda: _remove_pods(cri, ctx.name, made))
        pod_id = cri.run_pod(pod, timeout=ctx.deadline.remaining())
        made.append(pod_id)
    with ctx.phase("image"):
        if not cri.list_images(ref):
            cri.pull_image(ref, timeout=ctx.deadline.remaining())
        k8s = Connection(ctx.endpoints.containerd, CRI_NAMESPACE, timeout=ctx.deadline.remaining())
        try:
            config = resolve_image(k8s, ref).config
        finally:
            k8s.close()
    with ctx.phase("create"):
        cid = cri.create_container(pod_id, container_config(opts, ctx.name,
                                                            final_argv(config, opts.command), ref),
                                   pod)
    with ctx.phase("start"):
        cri.start_container(cid)
        pid = evidence.find_held(ctx.name, ctx.deadline)
        evidence.wait_held(pid, ctx.name, ctx.deadline)
    evidence.read_into(r, pid)
    r.rootfs = evidence.root_mount_dir(pid)
    shim = r.parent.name if r.parent else "containerd-shim-runc-v2"
    r.chain = ["CRI client (runtime.v1)", f"containerd {v.runtime_version} cri plugin", shim,
               programs.named_version("runc")]
    with ctx.phase("run"):
        evidence.release(pid, ctx.name, ctx.deadline)
        status = cri.wait_exited(cid, timeout=ctx.deadline.remaining("waiting for the exit"),
                                 interval=0.05)
        r.exit_code = status.exit_code
        log = Path(status.log_path or logs / LOG_PATH)
        _settled(log, time.monotonic() + min(2.0, ctx.deadline.remaining()))
    r.stdout = read_cri_log(log)
