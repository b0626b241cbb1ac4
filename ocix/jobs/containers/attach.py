"""Attach to a task's process: stdio through FIFOs, a raw terminal, forwarded signals.

Shared by `run` and `exec`: Wait is sent before Start, so a process that exits at once is
never missed; Ctrl-C and friends go to the process, the third Ctrl-C sends SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

from ...containerd import cio, tasks
from ...containerd.connection import Connection
from ...errors import OcixError

SIGNALS_TO_FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class CommandNotFoundError(OcixError):
    """The runtime could not find or execute the command in the image (exit 127 like docker)."""

    exit_code = 127


class CommandNotExecutableError(OcixError):
    exit_code = 126


def exec_error(e: OcixError, argv: list[str], image: str) -> OcixError:
    """runc's / crun's 'executable not found' from Tasks.Create or Start, made one clear line."""
    text = e.message
    cmd = argv[0] if argv else ""
    if ("executable file not found" in text or "executable file `" in text
            or ("exec:" in text and "no such file or directory" in text)):
        return CommandNotFoundError(f"command {cmd!r} not found in image {image}")
    if "exec:" in text and "permission denied" in text:
        return CommandNotExecutableError(f"command {cmd!r} in image {image} is not executable")
    return e


@contextmanager
def _raw_terminal(fd: int | None) -> Iterator[None]:
    if fd is None or not os.isatty(fd):
        yield
        return

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _term_size(fd: int | None) -> tuple[int, int] | None:
    if fd is None:
        return None
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.columns, size.lines


def _fileno(f: Any) -> int | None:
    try:
        return int(f.fileno())
    except (AttributeError, OSError, ValueError):
        return None


# -- attached processes ---------------------------------------------------------------------------
@dataclass
class Streams:
    stdout: BinaryIO
    stderr: BinaryIO
    stdin: BinaryIO | None

    @classmethod
    def system(cls, interactive: bool) -> Streams:
        return cls(sys.stdout.buffer, sys.stderr.buffer, sys.stdin.buffer if interactive else None)


@contextmanager
def _forward_signals(send: Callable[[int], None]) -> Iterator[None]:
    """Ctrl-C and friends go to the process; the third Ctrl-C sends SIGKILL."""
    count = {"int": 0}

    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            count["int"] += 1
            if count["int"] >= 3:
                signum = signal.SIGKILL
        with suppress(OcixError):
            send(signum)

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS_TO_FORWARD:
            old[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for num, h in old.items():
            signal.signal(num, h)


def attach_and_wait(conn: Connection, container_id: str, exec_id: str, aio: cio.AttachedIO,
                     streams: Streams, tty: bool, argv: list[str], where: str) -> int:
    """Wait future → Start → (resize) → block until exit, forwarding signals; the exit status.

    A runtime's 'executable not found' from Start becomes _exec_error's line (`where` is the
    image or container named there).
    """
    stdin_fd = _fileno(streams.stdin) if streams.stdin is not None else None
    waiter = tasks.wait_async(conn, container_id, exec_id)
    old_winch: Any = None
    try:
        aio.start()
        with _raw_terminal(stdin_fd if tty else None), \
                _forward_signals(lambda s: tasks.kill(conn, container_id, s, exec_id=exec_id)):
            try:
                tasks.start(conn, container_id, exec_id)
            except OcixError as e:
                raise exec_error(e, argv, where) from e
            aio.start_stdin()
            if tty:
                def resize() -> None:
                    size = _term_size(stdin_fd) or _term_size(_fileno(sys.stdout))
                    if size:
                        with suppress(OcixError):
                            tasks.resize_pty(conn, container_id, size[0], size[1], exec_id)
                resize()
                if threading.current_thread() is threading.main_thread():
                    old_winch = signal.signal(signal.SIGWINCH, lambda *_: resize())
            while True:
                try:
                    return waiter.result(timeout=1.0).exit_status
                except TimeoutError:
                    continue
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if not waiter.done():
            waiter.cancel()
