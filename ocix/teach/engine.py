"""The tour's Docker Engine API steps, in-process: list, pull, create, start, logs (the
multiplexed stream), and the long-running container steps 8-11 share (docs/tour.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import NotFoundError, OcixError
from .session import PREFIX, Session, Step, StepFailed

API_TEST = f"{PREFIX}api-test"
SLEEPER = f"{PREFIX}ns-test"
IMAGE = "busybox"


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

