"""`ocix tour`: the handout's hands-on steps, each run live with ocix against the lab.

The steps' texts are package data (ocix/teach/tour.toml); the actions that run them are in
steps.py (with engine.py, rootless.py, unshare.py and pods.py), and the Session they share
is in session.py.
"""

from __future__ import annotations

import tomllib
from importlib import resources

from ..errors import NotFoundError, OcixError
from . import steps as tour_steps
from .session import NAMESPACE, CommandCheck, NeedsCommand, Session, Step, StepFailed, StepResult

# Fixtures whose object may outlive one run (the Docker container of steps 8-11).
KEEPABLE = frozenset({"docker_sleeper"})

__all__ = [
    "CommandCheck",
    "Session",
    "Step",
    "StepResult",
    "from_kernel_order",
    "load_steps",
    "parts_needed",
    "run_step",
    "select",
    "sweep",
]

def load_steps() -> list[Step]:
    text = (resources.files("ocix.teach") / "tour.toml").read_text()
    steps = [Step(**s) for s in tomllib.loads(text)["step"]]
    return sorted(steps, key=lambda s: s.number)


def from_kernel_order() -> list[int]:
    """Step numbers bottom-up: unshare and runc, then containerd, Docker, the CRI, podman."""
    text = (resources.files("ocix.teach") / "tour.toml").read_text()
    return list(tomllib.loads(text)["from_kernel"])


def select(steps: list[Step], numbers: list[int] | None) -> list[Step]:
    if not numbers:
        return steps
    by_number = {s.number: s for s in steps}
    missing = [n for n in numbers if n not in by_number]
    if missing:
        raise NotFoundError(f"no tour step {missing[0]}", kind="tour-step-unknown",
                            subject=str(len(steps)))
    return [by_number[n] for n in numbers]


def kept_fixtures(steps: list[Step], selected: list[Step]) -> set[str]:
    """Fixtures the selected steps use but whose last step is not selected: they outlive the
    run, so that `--step 9` then `--step 10` look at the same container."""
    chosen = {s.number for s in selected}
    last = {s.fixture: s.number for s in steps if s.fixture}
    return {f for s in selected if s.fixture for f in [s.fixture] if last[f] not in chosen
            and f in KEEPABLE}


def parts_needed(steps: list[Step]) -> set[str]:
    return {p for s in steps for p in s.needs}


def run_step(session: Session, step: Step, unavailable: dict[str, str]) -> StepResult:
    result = StepResult(step.number, step.title, step.handout, step.look_for, step.ocix_command,
                        "", step.explanation, False, "")
    missing = [unavailable[p] for p in step.needs if p in unavailable]
    if missing:
        result.skipped_reason = "; ".join(missing)
        return result
    if "containerd" in step.needs and "sweep" not in session.done:
        session.done.add("sweep")  # registered first, so it runs last
        session.on_close(f"containers left in namespace {NAMESPACE}", lambda: sweep(session))
    transcript: list[str] = []
    try:
        tour_steps.run(session, step, transcript)
        result.ok = True
    except NeedsCommand as e:
        result.skipped_reason = e.message
    except StepFailed as e:
        result.skipped_reason = "failed: " + e.message.removeprefix("failed: ")
        if e.hint:
            transcript.append(e.hint)
    except OcixError as e:
        result.skipped_reason = f"failed: {e.message}"
    result.output = "\n\n".join(transcript)
    return result


def sweep(session: Session) -> None:
    """Remove whatever an interrupted `ocix run` left in the tour's own namespace."""
    from ..containerd import containers
    from ..containerd.connection import Connection
    from ..jobs.containers.lifecycle import remove_container

    address = session.env.get("CONTAINERD_ADDRESS")
    if not address:
        return
    with Connection(address, NAMESPACE, timeout=30) as conn:
        for c in containers.list_containers(conn):
            remove_container(conn, c.id, force=True)
