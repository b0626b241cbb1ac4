"""The tour's step actions and fixtures: what each step runs, and what it sets up and removes.

Each action appends transcript pieces to `out` and raises StepFailed (or NeedsCommand) when the
step did not show what it should. Fixtures run once per session and register their cleanup.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, OcixError
from .session import PREFIX, NeedsCommand, Session, Step, StepFailed, daemon_rootless

API_TEST = f"{PREFIX}api-test"
SLEEPER = f"{PREFIX}ns-test"
IMAGE = "busybox"


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


# -- the Docker Engine API, in-process ----------------------------------------------------

def docker(session: Session) -> Any:
    """ocix's Docker client on the lab's dockerd, kept for the session."""
    from ..dockerapi.client import DockerClient

    client = session.objects.get("docker")
    if client is None:
        host = session.env.get("DOCKER_HOST", "")
        if not host:
            raise StepFailed("DOCKER_HOST is not set", hint="start `ocix lab up --with-docker`")
        client = DockerClient(host, timeout=120)
        session.objects["docker"] = client
        session.on_close("the Docker client", client.close)
    return client


def _shown(request: str, answer: Any, status: str = "") -> str:
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=2)
    return f"→ {request}\n← {status + ' ' if status else ''}{text}".rstrip()


def docker_list(session: Session, step: Step, out: list[str]) -> None:
    d = docker(session)
    rows = d.call("GET /containers/json", d.api.containers)
    brief = [{"Id": str(c.get("Id"))[:12], **{k: c.get(k) for k in ("Names", "Image", "State",
                                                                     "Status")}} for c in rows]
    out.append(_shown(f"GET /v{d.api.api_version}/containers/json", brief))


def _pull(session: Session) -> str:
    d = docker(session)
    try:
        d.call(f"GET /images/{IMAGE}/json", d.api.inspect_image, IMAGE)
    except NotFoundError:  # the tour brought it in: it takes it out again (and dockerd's lease)
        session.on_close(f"docker image {IMAGE}",
                         lambda: d.call(f"DELETE /images/{IMAGE}", d.api.remove_image, IMAGE,
                                        force=True))
    events = d.call("POST /images/create",
                    lambda: list(d.api.pull(IMAGE, tag="latest", stream=True, decode=True)))
    errors = [e["error"] for e in events if "error" in e]
    if errors:
        raise StepFailed(f"pull: {errors[-1]}")
    session.done.add("docker_image")
    return (f"→ POST /v{d.api.api_version}/images/create?fromImage={IMAGE}&tag=latest\n← "
            + "\n".join(json.dumps(e) for e in events[-4:]) + f"\n({len(events)} progress objects)")


def docker_pull(session: Session, step: Step, out: list[str]) -> None:
    out.append(_pull(session))


def _remove_container(session: Session, name: str) -> Callable[[], None]:
    def remove() -> None:
        d = docker(session)
        try:
            d.call(f"DELETE /containers/{name}", d.api.remove_container, name, force=True)
        except NotFoundError:
            pass
    return remove


def _create(session: Session, name: str, cmd: list[str], out: list[str], *,
            remove: bool = True) -> dict[str, Any]:
    if "docker_image" not in session.done:
        out.append("(first: " + _pull(session).splitlines()[0].removeprefix("→ ") + ")")
    _remove_container(session, name)()  # a leftover of an interrupted tour
    d = docker(session)
    if remove:
        session.on_close(f"docker container {name}", _remove_container(session, name))
    created: dict[str, Any] = d.call(
        "POST /containers/create", d.api.create_container, IMAGE, command=cmd, name=name,
        host_config=d.api.create_host_config(network_mode="none"))
    session.done.add(f"created:{name}")
    return created


def docker_create(session: Session, step: Step, out: list[str]) -> None:
    created = _create(session, API_TEST, ["echo", "hello-from-API"], out)
    body = {"Image": IMAGE, "Cmd": ["echo", "hello-from-API"],
            "HostConfig": {"NetworkMode": "none"}}
    out.append(_shown(f"POST /v{docker(session).api.api_version}/containers/create?name={API_TEST} "
                      f"{json.dumps(body)}", created, "201"))


def _start_and_wait(session: Session, out: list[str]) -> None:
    if f"created:{API_TEST}" not in session.done:
        _create(session, API_TEST, ["echo", "hello-from-API"], out)
        out.append(f"(first: POST /containers/create?name={API_TEST})")
    d = docker(session)
    v = d.api.api_version
    d.call(f"POST /containers/{API_TEST}/start", d.api.start, API_TEST)
    waited = d.call(f"POST /containers/{API_TEST}/wait", d.api.wait, API_TEST, timeout=60)
    session.done.add(f"started:{API_TEST}")
    out.append(_shown(f"POST /v{v}/containers/{API_TEST}/start", "(empty body)", "204") + "\n" +
               _shown(f"POST /v{v}/containers/{API_TEST}/wait", waited, "200"))
    if waited.get("StatusCode") != 0:
        raise StepFailed(f"the container exited with {waited.get('StatusCode')}")


def docker_start(session: Session, step: Step, out: list[str]) -> None:
    _start_and_wait(session, out)


def demux(payload: bytes) -> list[tuple[int, bytes]]:
    """Docker's multiplexed stream: [stream, 0, 0, 0, size (4 bytes, big-endian)] + data."""
    frames, i = [], 0
    while i + 8 <= len(payload):
        size = int.from_bytes(payload[i + 4:i + 8], "big")
        frames.append((payload[i], payload[i + 8:i + 8 + size]))
        i += 8 + size
    return frames


def docker_logs(session: Session, step: Step, out: list[str]) -> None:
    if f"started:{API_TEST}" not in session.done:
        _start_and_wait(session, [])
        out.append(f"(first: create, start and wait for {API_TEST})")
    d = docker(session)
    path = f"/v{d.api.api_version}/containers/{API_TEST}/logs"
    # The SDK's logs() splits the frames itself; the raw GET (the client is a requests
    # session) shows the bytes curl shows.
    resp = d.call(f"GET /containers/{API_TEST}/logs", d.api.get, d.api.base_url + path,
                  params={"stdout": 1, "stderr": 1, "timestamps": 0})
    payload = resp.content
    frames = demux(payload)
    shown = [f"→ GET {path}?stdout=1&stderr=1&timestamps=0",
             f"← {resp.status_code}, {len(payload)} bytes: {payload[:8].hex(' ')} | "
             f"{payload[8:].decode(errors='replace')!r}"]
    shown += [f"frame: stream {s} ({ {1: 'stdout', 2: 'stderr'}.get(s, '?') }), {len(b)} bytes: "
              f"{b.decode(errors='replace')!r}" for s, b in frames]
    out.append("\n".join(shown))
    if not any(b"hello-from-API" in b for _, b in frames):
        raise StepFailed("hello-from-API is not in the logs")


def _running_pid(session: Session, name: str) -> int | None:
    d = docker(session)
    try:
        return d.container_pid(name)
    except OcixError:  # absent, or exited
        return None


def docker_sleeper(session: Session, out: list[str]) -> None:
    """One container for steps 8-11, shared across `tour --step N` runs: a run that does not
    reach the last of those steps leaves it running for the next (docs/tour.md)."""
    if "docker_sleeper" in session.done:
        out.append(f"(container {SLEEPER} from an earlier step, pid {session.vars['pid']})")
        return
    keep = "docker_sleeper" in session.keep
    if not keep:  # registered before anything exists, so an interrupt still removes it
        session.on_close(f"docker container {SLEEPER}", _remove_container(session, SLEEPER))
    pid = _running_pid(session, SLEEPER)
    if pid is not None:
        out.append(f"(container {SLEEPER}, left running by an earlier `ocix tour --step` run: "
                   f"the same process, State.Pid {pid}, so its pids and inodes match that run's)")
    else:
        _create(session, SLEEPER, ["sleep", "3600"], out, remove=False)
        d = docker(session)
        d.call(f"POST /containers/{SLEEPER}/start", d.api.start, SLEEPER)
        pid = d.container_pid(SLEEPER)
        out.append(f"(set-up through the Engine API: create + start {SLEEPER}: busybox sleep "
                   f"3600, State.Pid {pid})")
    if keep:
        out.append("(kept running for the next `ocix tour --step` of steps 8-11; the run that "
                   "includes step 11 removes it)")
    session.vars["pid"] = str(pid)
    session.done.add("docker_sleeper")


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


def rootless_info(session: Session, step: Step, out: list[str]) -> None:
    """`ocix info` for the lab's dockerd, then for the rootless one, if it runs."""
    from ..lab import rootless as rl

    rs = rl.RootlessState.load(Path(session.lab_dir))
    main, rootless_line = step.run
    out.append(session.ocix(main, step.keep)[1])
    if rs is None or not rs.docker_socket:
        why = rs.dockerd_error if rs else "the rootless lab is not set up"
        raise StepFailed(f"no rootless dockerd to compare with: {why}")
    session.vars["rootless_docker"] = f"unix://{rs.docker_socket}"
    _, transcript = session.ocix(rootless_line, step.keep)
    out.append(transcript)
    if daemon_rootless(transcript).get("docker") != "yes":
        raise StepFailed("the rootless dockerd does not report itself rootless")


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


# -- rootless ---------------------------------------------------------------------------

def rootless(session: Session, step: Step, out: list[str]) -> None:
    # The rootless helpers live with the lab that set the user up; imported only here.
    from ..lab import rootless as rl

    rs = rl.RootlessState.load(Path(session.lab_dir))
    if rs is None or not rs.image:
        raise StepFailed("the rootless lab is not set up", hint="ocix lab up --with-rootless")
    name = f"{PREFIX}rootless"

    def remove() -> None:
        rl.podman(rs, "rm", "--force", "--time", "0", name, timeout=60)

    try:
        remove()  # a leftover of an interrupted tour
    except OcixError:
        pass
    session.on_close(f"rootless podman container {name}", remove)
    rl.podman(rs, *rl.podman_run_args(rs, "sleep", "300", detach=True, name=name))
    pid = rl.podman(rs, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    out.append(f"$ runuser -u {rs.user} -- podman run -d --name {name} --network none "
               f"{' '.join(rl.ULIMITS)} {rs.image} sleep 300\n"
               f"(podman inspect: State.Pid {pid}; the process belongs to {rs.user})")
    session.vars["rootless_pid"] = pid
    _, transcript = session.ocix(f"ocix kernel --pid {pid}",
                                    ["Process", "User", "NAMESPACE", "CAPABILITIES"])
    out.append(transcript)
    m = re.search(r"uid map\s+0->(\d+)", transcript)
    if not m or m.group(1) == "0":
        raise StepFailed("uid 0 inside is not mapped to an unprivileged host uid")
    if rs.docker_socket:
        out.append(_rootless_docker(session, rs.docker_socket))


def _rootless_docker(session: Session, socket: str) -> str:
    """The same question to the rootless dockerd: a container that prints its uid_map."""
    from ..dockerapi.client import DockerClient

    name = f"{PREFIX}rootless-docker"
    d = DockerClient(socket, timeout=120)
    session.on_close("the rootless Docker client", d.close)

    def remove() -> None:
        try:
            d.call(f"DELETE /containers/{name}", d.api.remove_container, name, force=True)
        except NotFoundError:
            pass

    remove()
    try:
        d.call(f"GET /images/{IMAGE}/json", d.api.inspect_image, IMAGE)
    except NotFoundError:
        session.on_close(f"rootless docker image {IMAGE}", lambda: d.call(
            f"DELETE /images/{IMAGE}", d.api.remove_image, IMAGE, force=True))
        d.call("POST /images/create", lambda: list(d.api.pull(IMAGE, tag="latest", stream=True)))
    session.on_close(f"rootless docker container {name}", remove)
    cmd = ["sh", "-c", "cat /proc/self/uid_map; grep CapEff /proc/self/status"]
    d.call("POST /containers/create", d.api.create_container, IMAGE, command=cmd, name=name,
           host_config=d.api.create_host_config(network_mode="none"))
    d.call(f"POST /containers/{name}/start", d.api.start, name)
    code = d.call(f"POST /containers/{name}/wait", d.api.wait, name, timeout=60)["StatusCode"]
    logs = d.call(f"GET /containers/{name}/logs", d.api.logs, name).decode(errors="replace")
    if code != 0 or not re.search(r"^\s*0\s+[1-9]\d*\s+1\s*$", logs, re.M):
        raise StepFailed(f"the rootless dockerd's container exited {code} or maps uid 0 to root:\n"
                         f"{logs}")
    lines = "\n".join(" ".join(ln.split()) for ln in logs.splitlines())
    return (f"$ DOCKER_HOST=unix://{socket} docker run --rm --network none {IMAGE} "
            f"sh -c 'cat /proc/self/uid_map; grep CapEff /proc/self/status'   (through ocix's "
            f"Docker client)\n{lines}")


FIXTURES: dict[str, Callable[[Session, list[str]], None]] = {
    "docker_sleeper": docker_sleeper, "containerd_image": containerd_image,
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
    "commands": commands, "docker_list": docker_list, "docker_pull": docker_pull,
    "docker_create": docker_create, "docker_start": docker_start, "docker_logs": docker_logs,
    "capeff": capeff, "overlay_dirs": overlay_dirs, "rootless_info": rootless_info, "runc": runc, "rootless": rootless,
    "unshare": _unshare, "cri_pod": _cri_pod, "podman": _podman,
}
