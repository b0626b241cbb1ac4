"""The containerd path: `ocix run`'s gRPC calls (Containers.Create, Tasks.Create/Start/Wait).

The image is pulled into the current namespace when missing; the task's stdout comes back
through FIFOs, as with an attached `ocix run`.
"""

from __future__ import annotations

import io
import os
from contextlib import suppress
from functools import partial

from ... import programs
from ...containerd import cio, tasks
from ...containerd import version as containerd_version
from ...containerd.connection import Connection
from ...errors import NotFoundError
from ...oci.spec import RunOptions
from ..containers.imagespec import ImageInfo, resolve_image
from ..containers.lifecycle import RunRequest, create_container, remove_container
from . import evidence
from .context import PathRun
from .model import CompareOptions, Endpoints, final_argv, hold_argv


def unavailable(endpoints: Endpoints) -> str | None:
    path = endpoints.containerd.removeprefix("unix://")
    return None if os.path.exists(path) else f"no containerd socket at {path}"


def run_options(opts: CompareOptions, name: str, argv: list[str]) -> RunOptions:
    """The compare flags as `ocix run` options, the hold shell as the whole argv."""
    return RunOptions(args=hold_argv(name, argv), replace_entrypoint=True, env=list(opts.env),
                      user=opts.user, cap_add=list(opts.cap_add), cap_drop=list(opts.cap_drop),
                      memory=opts.memory, pids_limit=opts.pids_limit)


def ensure_image(conn: Connection, ref: str, hosts_dir: str | None) -> ImageInfo:
    """The image, pulled and unpacked first if this namespace does not have it."""
    from ..images.pull import PullOptions, pull

    try:
        return resolve_image(conn, ref)
    except NotFoundError:
        pull(conn, ref, PullOptions(hosts_dir=hosts_dir))
        return resolve_image(conn, ref)


def _remove(conn: Connection, cid: str) -> None:
    with suppress(NotFoundError):
        remove_container(conn, cid, force=True)


def run(ctx: PathRun) -> None:
    r, opts = ctx.result, ctx.opts
    conn = Connection(ctx.endpoints.containerd, ctx.endpoints.namespace,
                      timeout=ctx.deadline.remaining())
    ctx.cleanups.add("close the containerd connection", conn.close)
    v = containerd_version.get(conn)
    cid = ctx.name
    with ctx.phase("image"):
        image = ensure_image(conn, opts.image, ctx.endpoints.hosts_dir)
    req = RunRequest(image=opts.image,
                     options=run_options(opts, ctx.name, final_argv(image.config, opts.command)))
    with ctx.phase("create"):
        ctx.cleanups.add(f"containerd container {cid}", partial(_remove, conn, cid))
        _, mounts, _ = create_container(conn, req, cid)
    stdout = io.BytesIO()
    fifos = cio.new_fifo_set(cid, stdin=False, terminal=False)
    aio = cio.AttachedIO(fifos, stdout, io.BytesIO(), None)
    ctx.cleanups.add(f"FIFOs in {fifos.dir}", aio.close)
    aio.open()
    with ctx.phase("start"):
        pid = tasks.create(conn, cid, mounts, fifos.stdio())
        aio.start()
        waiter = tasks.wait_async(conn, cid)
        ctx.cleanups.add("the Tasks.Wait call", waiter.cancel)
        tasks.start(conn, cid)
        evidence.wait_held(pid, ctx.name, ctx.deadline)
    evidence.read_into(r, pid)
    r.rootfs = evidence.root_mount_dir(pid)
    shim = r.parent.name if r.parent else "containerd-shim-runc-v2"
    r.chain = ["ocix (gRPC)", f"containerd {v.version}", shim, programs.named_version("runc")]
    with ctx.phase("run"):
        evidence.release(pid, ctx.name, ctx.deadline)
        while True:
            try:
                r.exit_code = waiter.result(timeout=min(1.0, ctx.deadline.remaining(
                    "waiting for the task to exit"))).exit_status
                break
            except TimeoutError:
                continue
        tasks.delete(conn, cid)
        aio.finish()
    r.stdout = stdout.getvalue().decode(errors="replace")
