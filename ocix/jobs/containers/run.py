"""`ocix run` over raw gRPC, in `ctr run`'s order.

The calls (the order is explained in docs/containerd-protocol.md, "Containers and tasks"):

run:  Leases.Create → Snapshots.Prepare{key=id, parent=top chain ID} → the spec (USER looked up
      in the snapshot's layer directories, nothing mounted) → Containers.Create → Leases.Delete
      → FIFOs → Tasks.Create → Tasks.Wait (a future, sent before Start) → Tasks.Start → copy
      stdout/stderr live → exit status → Tasks.Delete → with --rm Snapshots.Remove and
      Containers.Delete, also when anything failed or the user pressed Ctrl-C.

Argument semantics: `ocix run IMAGE CMD…` keeps the image's Entrypoint and replaces its Cmd,
like docker and nerdctl (ctr replaces both).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ...containerd import cio, tasks
from ...containerd.connection import Connection
from ...errors import OcixError, UsageError
from .attach import Streams, attach_and_wait, exec_error
from .imagespec import check_id, new_container_id
from .lifecycle import RunRequest, RunResult, cleanup_after_run, create_container

__all__ = ["RunRequest", "RunResult", "run"]


def run(conn: Connection, req: RunRequest, streams: Streams | None = None,
        on_created: Callable[[str], None] | None = None) -> RunResult:
    """Run a container; attached, it returns after the process exited (exit_status set)."""
    if req.rm and req.detach:
        raise UsageError("--rm and -d cannot be used together")
    if req.detach and req.interactive:
        raise UsageError("-i and -d cannot be used together")
    if req.log_file and not req.detach:
        raise UsageError("--log-file only applies to a detached (-d) container")
    if req.detach and req.options.tty:
        raise UsageError("-t needs an attached terminal; use -d without -t")
    cid = check_id(req.container_id) if req.container_id else new_container_id()
    tty = req.options.tty
    image, mounts, spec = create_container(conn, req, cid)
    argv = list(spec.get("process", {}).get("args") or [])
    task_created = False
    aio: cio.AttachedIO | None = None
    try:
        if on_created:
            on_created(cid)
        if req.detach:
            uri = "file://" + os.path.abspath(req.log_file) if req.log_file else ""
            stdio = tasks.Stdio(stdout=uri, stderr=uri)
            try:
                pid = tasks.create(conn, cid, mounts, stdio)
                task_created = True
                tasks.start(conn, cid)
            except OcixError as e:
                raise exec_error(e, argv, image.name) from e
            task_created = False  # it runs on: nothing to clean up
            return RunResult(cid, pid, None)
        streams = streams or Streams.system(req.interactive)
        fifos = cio.new_fifo_set(cid, stdin=req.interactive, terminal=tty)
        aio = cio.AttachedIO(fifos, streams.stdout, None if tty else streams.stderr,
                             streams.stdin, on_stdin_eof=lambda: tasks.close_stdin(conn, cid))
        aio.open()
        try:
            pid = tasks.create(conn, cid, mounts, fifos.stdio())
        except OcixError as e:
            raise exec_error(e, argv, image.name) from e
        task_created = True
        status = attach_and_wait(conn, cid, "", aio, streams, tty, argv, image.name)
        tasks.delete(conn, cid)
        task_created = False
        aio.finish()
        return RunResult(cid, pid, status)
    finally:
        if aio is not None:
            aio.close()
        cleanup_after_run(conn, cid, req.snapshotter, task=task_created, rm=req.rm)
