"""containerd.services.tasks.v1.Tasks: the running processes of containers."""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass

from ..errors import NotFoundError, UsageError
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.tasks.v1.tasks_pb2")
_task = load_stub_module("types.task.task_pb2")

STATUS = {0: "unknown", 1: "created", 2: "running", 3: "stopped", 4: "paused", 5: "pausing"}


@dataclass(frozen=True)
class Task:
    container_id: str
    pid: int
    status: str
    exit_status: int
    exec_id: str = ""


@dataclass(frozen=True)
class Exit:
    pid: int
    exit_status: int


def parse_signal(sig: str | int) -> int:
    """'KILL', 'SIGKILL', '9' or 9 -> 9."""
    if isinstance(sig, int):
        return sig
    s = sig.strip().upper()
    if s.isdigit():
        return int(s)
    name = s if s.startswith("SIG") else "SIG" + s
    try:
        return int(getattr(_signal, name))
    except AttributeError:
        raise UsageError(f"unknown signal {sig!r}", hint="use a name like TERM, KILL, INT or a number") from None


def _task_of(pb: object) -> Task:
    return Task(container_id=pb.container_id if hasattr(pb, "container_id") else pb.id,  # type: ignore[attr-defined]
                pid=pb.pid, status=STATUS.get(pb.status, str(pb.status)),  # type: ignore[attr-defined]
                exit_status=pb.exit_status, exec_id=getattr(pb, "exec_id", ""))  # type: ignore[attr-defined]


def list_tasks(conn: Connection) -> list[Task]:
    r = conn.unary("tasks", "List", _pb.ListTasksRequest(), what="list tasks")
    return sorted((_task_of(t) for t in r.tasks), key=lambda t: t.container_id)


def get(conn: Connection, container_id: str) -> Task:
    r = conn.unary("tasks", "Get", _pb.GetRequest(container_id=container_id),
                   what=f"task {container_id}")
    return _task_of(r.process)


def kill(conn: Connection, container_id: str, sig: str | int = "TERM", *, all_procs: bool = False,
         exec_id: str = "") -> None:
    conn.unary("tasks", "Kill", _pb.KillRequest(container_id=container_id, exec_id=exec_id,
                                                signal=parse_signal(sig), all=all_procs),
               what=f"kill task {container_id}")


def wait(conn: Connection, container_id: str, exec_id: str = "", timeout: float | None = None) -> Exit:
    r = conn.unary("tasks", "Wait", _pb.WaitRequest(container_id=container_id, exec_id=exec_id),
                   timeout=timeout, what=f"wait for task {container_id}")
    return Exit(pid=0, exit_status=r.exit_status)


def delete(conn: Connection, container_id: str) -> Exit:
    r = conn.unary("tasks", "Delete", _pb.DeleteTaskRequest(container_id=container_id),
                   what=f"remove task {container_id}")
    return Exit(pid=r.pid, exit_status=r.exit_status)


def force_remove(conn: Connection, container_id: str, timeout: float = 10.0) -> None:
    """SIGKILL every process of the task, wait for it to exit, delete it."""
    try:
        t = get(conn, container_id)
    except NotFoundError:
        return
    if t.status in ("running", "paused", "pausing", "created"):
        try:
            kill(conn, container_id, "KILL", all_procs=True)
        except NotFoundError:
            pass
        if t.status != "created":
            try:
                wait(conn, container_id, timeout=timeout)
            except NotFoundError:
                pass
    try:
        delete(conn, container_id)
    except NotFoundError:
        pass
