"""The tour's step actions and fixtures: what each step runs, and what it sets up and removes.

Each action appends transcript pieces to `out` and raises StepFailed (or NeedsCommand) when the
step did not show what it should. Fixtures run once per session and register their cleanup.
This module holds the generic and containerd/runc steps and the tables; the Docker Engine API
steps are in engine.py, the rootless ones in rootless.py.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import OcixError
from . import engine, rootless
from .engine import IMAGE
from .session import PREFIX, NeedsCommand, Session, Step, StepFailed


def run(session: Session, step: Step, out: list[str]) -> None:
    if step.fixture:
        FIXTURES[step.fixture](session, out)
    ACTIONS[step.action](session, step, out)


# -- generic ------------------------------------------------------------------------------

def commands(session: Session, step: Step, out: list[str]) -> None:
    """Run every line of `run`; a missing command fails the step only after the others ran."""
    needs: list[str] = []
    for line in step.run:
        try:
            out.append(session.ocix(line, step.keep, limit=step.limit)[1])
        except NeedsCommand as e:
            needs.append(e.message)
    if step.host:
        out.append(session.host(step.host)[1])
    if needs:
        raise NeedsCommand("; ".join(needs))


# -- containerd -----------------------------------------------------------------------------

def containerd_image(session: Session, out: list[str]) -> None:
    if "containerd_image" in session.done:
        return
    session.ocix(f"ocix pull -q {IMAGE}")
    session.done.add("containerd_image")
    out.append(f"(set-up: ocix pull -q {IMAGE} into namespace {session.env['CONTAINERD_NAMESPACE']})")


def app_image(session: Session, out: list[str]) -> None:
    """library/app (a Dockerfile-like history on a real debian) for the history step; busybox
    plays its part when the Debian archive cannot be reached (docs/real-images.md)."""
    if "app_image" in session.done:
        return
    ns = session.env["CONTAINERD_NAMESPACE"]
    try:
        code, transcript = session.ocix("ocix lab seed --debian -q", must_pass=False)
    except StepFailed as e:  # a first build on a busy machine can outlast the step's timeout
        code, transcript = 1, f"Error: {e.message}"
    if code == 0:
        session.ocix("ocix pull -q app")
        session.vars["history_image"] = "app"
        out.append(f"(set-up: ocix lab seed --debian -q; ocix pull -q app into namespace {ns})")
    else:
        containerd_image(session, [])
        session.vars["history_image"] = IMAGE
        why = next((x for x in transcript.splitlines() if x.startswith("Error:")), "it failed")
        out.append(f"(set-up: no app image ({why.removeprefix('Error: ')}); {IMAGE} plays its "
                   "part)")
    session.done.add("app_image")


def capeff(session: Session, step: Step, out: list[str]) -> None:
    with_caps, dropped, decode = step.run
    transcript = session.ocix(with_caps)[1]
    out.append(transcript)
    m = re.search(r"CapEff:\s*([0-9a-f]{16})", transcript)
    if not m:
        raise StepFailed("no CapEff line in the output")
    session.vars["capeff"] = m.group(1)
    transcript = session.ocix(dropped)[1]
    out.append(transcript)
    if not re.search(r"CapEff:\s*0{16}", transcript):
        raise StepFailed("CapEff is not zero after --cap-drop ALL")
    out.append(session.ocix(decode)[1])


def overlay_dirs(session: Session, step: Step, out: list[str]) -> None:
    root = Path(session.lab_dir)
    for what, d in (("dockerd's overlay2", root / "docker" / "root" / "overlay2"),
                    ("containerd's overlayfs snapshots",
                     root / "containerd" / "root" / "io.containerd.snapshotter.v1.overlayfs" /
                     "snapshots")):
        names = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
        out.append(f"$ ls {d} | head   # {what}, {len(names)} entries\n" + "\n".join(names[:10]))
    commands(session, step, out)


def runc(session: Session, step: Step, out: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=PREFIX))
    session.on_close(f"bundle directory {tmp}", lambda: shutil.rmtree(tmp))
    session.vars["bundle"] = str(tmp / "bundle")
    for line in step.run:
        out.append(session.ocix(line)[1])
    state = str(tmp / "runc-state")
    name = f"{PREFIX}runc"

    def delete() -> None:
        rc, transcript = session.host(["runc", "--root", state, "delete", "--force", name])
        if rc != 0 and "does not exist" not in transcript:
            raise OcixError(transcript)

    session.on_close(f"runc container {name}", delete)
    rc, transcript = session.host(["runc", "--root", state, "run", "--bundle",
                                   str(tmp / "bundle"), name])
    out.append(transcript)
    if rc != 0 or "hello-from-runc" not in transcript:
        raise StepFailed(f"runc run exited with {rc}")


FIXTURES: dict[str, Callable[[Session, list[str]], None]] = {
    "docker_sleeper": engine.docker_sleeper, "containerd_image": containerd_image,
    "app_image": app_image,
}


def _unshare(session: Session, step: Step, out: list[str]) -> None:
    from .unshare import unshare_step

    unshare_step(session, out)


def _cri_pod(session: Session, step: Step, out: list[str]) -> None:
    from .pods import cri_pod

    cri_pod(session, step, out)


def _podman(session: Session, step: Step, out: list[str]) -> None:
    from .pods import podman_conmon

    podman_conmon(session, step, out)


ACTIONS: dict[str, Callable[[Session, Step, list[str]], None]] = {
    "commands": commands, "capeff": capeff, "overlay_dirs": overlay_dirs, "runc": runc,
    "docker_list": engine.docker_list, "docker_pull": engine.docker_pull,
    "docker_create": engine.docker_create, "docker_start": engine.docker_start,
    "docker_logs": engine.docker_logs,
    "rootless_info": rootless.rootless_info, "rootless": rootless.rootless,
    "unshare": _unshare, "cri_pod": _cri_pod, "podman": _podman,
}
