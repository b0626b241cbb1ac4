"""The tour's rootless steps: the lab's unprivileged user, its podman container seen from the
host, and the rootless dockerd asked the same questions."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import NotFoundError, OcixError
from .engine import IMAGE
from .session import PREFIX, Session, Step, StepFailed, daemon_rootless


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
