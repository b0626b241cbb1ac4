"""`ocix tasks exec`: a new process in a running task, attached like `run`."""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from ...containerd import cio, containers, snapshots, tasks
from ...containerd.connection import Connection
from ...errors import AlreadyExistsError, OcixError, UsageError
from ...oci.spec import merge_env
from ...oci.user import resolve_user
from .attach import Streams, attach_and_wait
from .imagespec import check_id, rootfs_files


@dataclass
class ExecRequest:
    container_id: str
    args: list[str]
    exec_id: str | None = None
    tty: bool = False
    interactive: bool = False
    env: list[str] = field(default_factory=list)
    user: str | None = None
    cwd: str | None = None


def exec_process_spec(conn: Connection, req: ExecRequest) -> dict[str, Any]:
    """The container's process spec with args, env, user, cwd and terminal replaced."""
    c = containers.get(conn, req.container_id)
    if not c.spec:
        raise OcixError(f"container {req.container_id} has no runtime spec")
    process = dict(c.spec.get("process") or {})
    process["args"] = list(req.args)
    process["terminal"] = req.tty
    if req.env:
        process["env"] = merge_env(process.get("env") or [], req.env)
    if req.cwd:
        process["cwd"] = req.cwd
    if req.user:
        ms = snapshots.mounts(conn, c.snapshot_key, c.snapshotter or snapshots.DEFAULT_SNAPSHOTTER)
        with rootfs_files(ms) as read:
            process["user"] = resolve_user(req.user, read).to_json()
    return process


def exec_in(conn: Connection, req: ExecRequest, streams: Streams | None = None) -> int:
    """Run a process in a running task with stdio attached; its exit status."""
    if not req.args:
        raise UsageError("exec needs a command")
    exec_id = check_id(req.exec_id, "exec id") if req.exec_id else \
        f"exec-{os.urandom(4).hex()}"
    task = tasks.get(conn, req.container_id)
    if task.status != "running":
        raise OcixError(f"task {req.container_id} is {task.status}, not running")
    process = exec_process_spec(conn, req)
    streams = streams or Streams.system(req.interactive)
    fifos = cio.new_fifo_set(exec_id, stdin=req.interactive, terminal=req.tty)
    aio = cio.AttachedIO(fifos, streams.stdout, None if req.tty else streams.stderr, streams.stdin,
                         on_stdin_eof=lambda: tasks.close_stdin(conn, req.container_id, exec_id))
    created = False
    try:
        aio.open()
        try:
            tasks.exec_process(conn, req.container_id, exec_id, process, fifos.stdio())
        except AlreadyExistsError:
            raise AlreadyExistsError(f"exec id {exec_id!r} is already in use in "
                                     f"{req.container_id}") from None
        created = True
        status = attach_and_wait(conn, req.container_id, exec_id, aio, streams, req.tty,
                                  req.args, req.container_id)
        tasks.delete_process(conn, req.container_id, exec_id)
        created = False
        aio.finish()
        return status
    finally:
        aio.close()
        if created:
            with suppress(OcixError):
                tasks.kill(conn, req.container_id, "KILL", exec_id=exec_id)
            with suppress(OcixError):
                tasks.delete_process(conn, req.container_id, exec_id)
