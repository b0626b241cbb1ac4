"""The docker path: the Engine API calls the handout makes with curl, through the docker SDK.

images/create when the image is missing, containers/create, start, containers/json, inspect
(for the init's pid and the overlay2 dir), wait, logs (stdout only: the SDK splits the
multiplexed stream) and delete.  The SDK is imported only through ocix.dockerapi. `run_on`
takes the socket, so the rootless dockerd's path shares every step.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ...errors import NotFoundError, OcixError
from . import evidence
from .context import PathRun
from .model import Endpoints, final_argv, hold_argv

SETTLE = 2.0  # seconds to wait for a container whose create call was interrupted


def _socket_path(endpoints: Endpoints) -> str:
    from ...dockerapi.client import socket_from_env

    return socket_from_env(endpoints.docker)


def unavailable(endpoints: Endpoints) -> str | None:
    url = _socket_path(endpoints)
    if url.startswith("unix://") and not os.path.exists(url.removeprefix("unix://")):
        return (f"no Docker socket at {url.removeprefix('unix://')} "
                "(start the lab with `ocix lab up --with-docker`)")
    return None


def host_config(ctx: PathRun, api: Any) -> Any:
    o = ctx.opts
    return api.create_host_config(cap_add=o.cap_add or None, cap_drop=o.cap_drop or None,
                                  mem_limit=o.memory, pids_limit=o.pids_limit)


def _pull(ctx: PathRun, dc: Any) -> None:
    """POST /images/create; dockerd reports a failed pull inside the stream, not by status."""
    for event in dc.call("POST /images/create", dc.api.pull, ctx.opts.image, stream=True,
                         decode=True):
        if isinstance(event, dict) and event.get("error"):
            raise OcixError(f"docker pull {ctx.opts.image}: {event['error']}")


def _remove(dc: Any, name: str, created: list[str]) -> None:
    """DELETE by name; if containers/create was cut short, dockerd may still be making it."""
    settle = time.monotonic() + (0.0 if created else SETTLE)
    while True:
        try:
            dc.call(f"DELETE /containers/{name}", dc.api.remove_container, name, force=True)
            return
        except NotFoundError:
            if time.monotonic() >= settle:
                return
            time.sleep(0.1)


def run(ctx: PathRun) -> None:
    run_on(ctx, _socket_path(ctx.endpoints))


def run_on(ctx: PathRun, socket: str, head: tuple[str, ...] = ()) -> None:
    """The docker path against `socket`; `head` goes first in the chain ("rootlesskit")."""
    from ...dockerapi.client import DockerClient

    r, opts = ctx.result, ctx.opts
    dc = DockerClient(socket, timeout=ctx.deadline.remaining())
    ctx.cleanups.add("close the Docker client", dc.close)
    v = dc.version()
    comps = v.components
    with ctx.phase("image"):
        try:
            image = dc.call("GET /images/json", dc.api.inspect_image, opts.image)
        except NotFoundError:
            _pull(ctx, dc)
            image = dc.call("GET /images/json", dc.api.inspect_image, opts.image)
    argv = hold_argv(ctx.name, final_argv(image, opts.command))
    name = ctx.name
    with ctx.phase("create"):
        made: list[str] = []
        ctx.cleanups.add(f"docker container {name}", lambda: _remove(dc, name, made))
        created = dc.call("POST /containers/create", dc.api.create_container, opts.image,
                          entrypoint=argv[:1], command=argv[1:], name=name,
                          environment=list(opts.env) or None, user=opts.user or "",
                          host_config=host_config(ctx, dc.api))
    cid = created["Id"]
    made.append(cid)
    with ctx.phase("start"):
        dc.call(f"POST /containers/{cid[:12]}/start", dc.api.start, cid)
        dc.call("GET /containers/json", dc.api.containers, all=True, filters={"id": cid})
        info = dc.call(f"GET /containers/{cid[:12]}/json", dc.api.inspect_container, cid)
        pid = evidence.inspect_pid(info, f"docker container {name}")
        evidence.wait_held(pid, ctx.name, ctx.deadline)
    evidence.read_into(r, pid)
    shim = r.parent.name if r.parent else "containerd-shim"
    r.chain = [f"docker API {v.api_version}", *head, f"dockerd {v.version}",
               f"containerd {comps.get('containerd', '?')}", shim,
               f"runc {comps.get('runc', '?')}"]
    r.rootfs = evidence.inspect_rootfs(info)
    with ctx.phase("run"):
        evidence.release(pid, ctx.name, ctx.deadline)
        status = dc.call(f"POST /containers/{cid[:12]}/wait", dc.api.wait, cid,
                         timeout=ctx.deadline.remaining("waiting for the container to exit"))
        r.exit_code = int(status.get("StatusCode", -1))
        logs = dc.call(f"GET /containers/{cid[:12]}/logs", dc.api.logs, cid, stdout=True,
                       stderr=False)
    r.stdout = logs.decode(errors="replace") if isinstance(logs, bytes) else str(logs)
