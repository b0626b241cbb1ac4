"""containerd.services.tasks.v1.Tasks: the running processes of containers."""

from __future__ import annotations

import json
import signal as _signal
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, UsageError
from .connection import Connection, load_stub_module
from .snapshots import Mount, mounts_pb

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


def _task_of(pb: Any) -> Task:
    # Tasks.List/Get answer types.Process whose `id` is the container id; container_id is unset.
    return Task(container_id=getattr(pb, "container_id", "") or pb.id, pid=pb.pid,
                status=STATUS.get(pb.status, str(pb.status)), exit_status=pb.exit_status,
                exec_id=getattr(pb, "exec_id", ""))


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


PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    exec_id: str = ""  # from containerd.runc.v1.ProcessDetails; "" for the init process


@dataclass(frozen=True)
class Stdio:
    """What the shim connects the process to: FIFO paths, a file:// or binary:// URI, or ""."""

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False


def create(conn: Connection, container_id: str, rootfs: list[Mount], stdio: Stdio) -> int:
    """Tasks.Create: the shim starts and runc creates the (not yet started) init process."""
    req = _pb.CreateTaskRequest(container_id=container_id, rootfs=mounts_pb(rootfs),
                                stdin=stdio.stdin, stdout=stdio.stdout, stderr=stdio.stderr,
                                terminal=stdio.terminal)
    return int(conn.unary("tasks", "Create", req, timeout=None,
                          what=f"create task {container_id}").pid)


def start(conn: Connection, container_id: str, exec_id: str = "") -> int:
    r = conn.unary("tasks", "Start", _pb.StartRequest(container_id=container_id, exec_id=exec_id),
                   timeout=None, what=f"start task {container_id}")
    return int(r.pid)


class WaitHandle:
    """Tasks.Wait sent without blocking: start it before Tasks.Start."""

    def __init__(self, conn: Connection, container_id: str, exec_id: str = "") -> None:
        req = _pb.WaitRequest(container_id=container_id, exec_id=exec_id)
        self._call = conn.unary_future("tasks", "Wait", req, timeout=None,
                                       what=f"wait for task {container_id}")

    def done(self) -> bool:
        return self._call.done()

    def result(self, timeout: float | None = None) -> Exit:
        """The exit status; raises TimeoutError if the task is still running after `timeout`."""
        r = self._call.result(timeout)
        return Exit(pid=0, exit_status=int(r.exit_status))

    def cancel(self) -> None:
        self._call.cancel()


def wait_async(conn: Connection, container_id: str, exec_id: str = "") -> WaitHandle:
    return WaitHandle(conn, container_id, exec_id)


def close_stdin(conn: Connection, container_id: str, exec_id: str = "") -> None:
    """Tasks.CloseIO{stdin: true}: the process sees EOF on its stdin."""
    conn.unary("tasks", "CloseIO", _pb.CloseIORequest(container_id=container_id, exec_id=exec_id,
                                                      stdin=True),
               what=f"close stdin of {container_id}")


def resize_pty(conn: Connection, container_id: str, width: int, height: int,
               exec_id: str = "") -> None:
    conn.unary("tasks", "ResizePty", _pb.ResizePtyRequest(container_id=container_id, exec_id=exec_id,
                                                          width=width, height=height),
               what=f"resize the terminal of {container_id}")


def exec_process(conn: Connection, container_id: str, exec_id: str, process: dict[str, Any],
                 stdio: Stdio) -> None:
    """Tasks.Exec: add a process (a runtime-spec Process as JSON) to a running task."""
    from google.protobuf import any_pb2

    spec = any_pb2.Any(type_url=PROCESS_TYPE_URL, value=json.dumps(process).encode())
    req = _pb.ExecProcessRequest(container_id=container_id, exec_id=exec_id, spec=spec,
                                 stdin=stdio.stdin, stdout=stdio.stdout, stderr=stdio.stderr,
                                 terminal=stdio.terminal)
    conn.unary("tasks", "Exec", req, timeout=None, what=f"exec in task {container_id}")


def delete_process(conn: Connection, container_id: str, exec_id: str) -> Exit:
    r = conn.unary("tasks", "DeleteProcess",
                   _pb.DeleteProcessRequest(container_id=container_id, exec_id=exec_id),
                   what=f"remove process {exec_id} of {container_id}")
    return Exit(pid=r.pid, exit_status=r.exit_status)


def list_pids(conn: Connection, container_id: str) -> list[ProcessInfo]:
    r = conn.unary("tasks", "ListPids", _pb.ListPidsRequest(container_id=container_id),
                   what=f"processes of {container_id}")
    out = []
    for p in r.processes:
        exec_id = ""
        if p.info and p.info.value:
            details = load_stub_module("runtime.v2.runc.options.oci_pb2").ProcessDetails()
            try:
                details.ParseFromString(p.info.value)
                exec_id = details.exec_id
            except Exception:  # another runtime's details message: no exec id to show
                exec_id = ""
        out.append(ProcessInfo(pid=p.pid, exec_id=exec_id))
    return out


def wait(conn: Connection, container_id: str, exec_id: str = "", timeout: float | None = None) -> Exit:
    r = conn.unary("tasks", "Wait", _pb.WaitRequest(container_id=container_id, exec_id=exec_id),
                   timeout=timeout, what=f"wait for task {container_id}")
    return Exit(pid=0, exit_status=r.exit_status)


def delete(conn: Connection, container_id: str) -> Exit:
    r = conn.unary("tasks", "Delete", _pb.DeleteTaskRequest(container_id=container_id),
                   what=f"remove task {container_id}")
    return Exit(pid=r.pid, exit_status=r.exit_status)


def force_remove(conn: Connection, container_id: str, timeout: float = 10.0, *,
                 task: Task | None = None) -> None:
    """SIGKILL every process of the task, wait for it to exit, delete it.

    `task` is the caller's fresh Tasks.Get answer, if it has one (saves asking again).
    """
    t = task
    if t is None:
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
