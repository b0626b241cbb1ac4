"""Tour step 24, live: a pid namespace made by `unshare --fork --pid --mount-proc`, seen from
inside (ps, the ns links) and from the host (NSpid, `ocix kernel --pid`)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from ..kernel.proc import NAMESPACE_TYPES
from .session import Session, StepFailed

BUSYBOX = "/bin/busybox"  # busybox-static: runs with no library lookups, and has ps
# Inside: the shell is pid 1; busybox ps reads the fresh /proc that --mount-proc mounted.
INSIDE = ('echo "inside: my pid is $$"; ' + BUSYBOX + ' ps; '
          'for n in ' + " ".join(f"/proc/self/ns/{t}" for t in NAMESPACE_TYPES) + '; do '
          'echo "$n $(' + BUSYBOX + ' readlink $n)"; done')


def _ns_links(pid: str) -> dict[str, str]:
    out = {}
    for t in NAMESPACE_TYPES:
        try:
            out[t] = os.readlink(f"/proc/{pid}/ns/{t}")
        except OSError:
            continue
    return out


def _child_of(pid: int, timeout: float = 10.0) -> int:
    """The forked child of `unshare --fork` (pid 1 of the new namespace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.02)
    raise StepFailed(f"unshare (pid {pid}) started no child in {timeout:.0f}s")


def unshare_step(session: Session, out: list[str]) -> None:
    if not os.access(BUSYBOX, os.X_OK):
        raise StepFailed(f"{BUSYBOX} is missing", hint="install busybox-static (`make setup`)")
    host = _ns_links("self")
    argv = ["unshare", "--fork", "--pid", "--mount-proc", "/bin/sh", "-c", INSIDE]
    rc, transcript = session.host(argv)
    out.append(transcript.replace(shlex.quote(INSIDE),
                                  "'echo $$; busybox ps; readlink /proc/self/ns/*'"))
    if rc != 0:
        raise StepFailed(f"unshare exited with {rc}")
    if "inside: my pid is 1" not in transcript:
        raise StepFailed("the shell inside is not pid 1")
    inside = {}
    for line in transcript.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("/proc/self/ns/"):
            inside[parts[0].rsplit("/", 1)[1]] = parts[1]
    changed = [t for t in NAMESPACE_TYPES if t in inside and inside[t] != host.get(t)]
    out.append("namespace            host                      inside unshare\n" + "\n".join(
        f"{t:<20} {host.get(t, '?'):<25} {inside.get(t, '?')}" + ("   <- new" if t in changed else "")
        for t in NAMESPACE_TYPES if t in inside or t in host))
    if not {"pid", "mnt"} <= set(changed):
        raise StepFailed(f"expected new pid and mnt namespaces, changed: {changed}")

    # Keep one alive to look at from the host; it is killed in the finally block.
    proc = subprocess.Popen(["unshare", "--fork", "--pid", "--mount-proc", BUSYBOX, "sleep", "300"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        child = _child_of(proc.pid)
        nspid = next((ln.split(":", 1)[1].split() for ln in
                      Path(f"/proc/{child}/status").read_text().splitlines()
                      if ln.startswith("NSpid:")), [])
        _, ps = session.host(["ps", "-o", "pid,ppid,args", "-p", f"{proc.pid},{child}"])
        out.append(session.wrap(
            "second process, to look at from the host: `unshare --fork --pid --mount-proc "
            "busybox sleep 300` (the shell above has exited, and its pid namespace with it, so "
            "this one gets a new pid namespace of its own)") + f"\n{ps}\n" + session.wrap(
            f"host view: unshare is pid {proc.pid}; its child `busybox sleep 300` is host pid "
            f"{child}, NSpid {' '.join(nspid)} (host pid, then pid inside); `ocix kernel` below "
            f"shows this sleep's namespaces"))
        _, transcript = session.ocix(f"ocix kernel --pid {child}", ["Process", "NAMESPACE"])
        out.append(transcript)
        if nspid[-1:] != ["1"]:
            raise StepFailed(f"the sleep is not pid 1 inside (NSpid {nspid})")
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Killing unshare's process group takes the sleep (pid 1 inside) and the namespace with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)
