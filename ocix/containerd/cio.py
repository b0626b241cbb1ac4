"""FIFO stdio between ocix and a task's shim, the way containerd's cio package sets it up.

The client makes a private directory with `<id>-stdin`, `<id>-stdout` and `<id>-stderr`
FIFOs, opens its own ends *before* Tasks.Create (or Create blocks: the shim opens the other
ends), and copies bytes while the task runs (a chatty task blocks on a full pipe otherwise).

Details that make this work from Python:
- A read end opened O_RDONLY|O_NONBLOCK reads EOF while no writer is connected, so for each
  output FIFO we also hold a write end of our own ("keep-alive"): reads then block until data
  comes, and EOF arrives only after the shim closed its end *and* we dropped ours, which we do
  once the task is deleted (the shim flushes and closes its ends on Tasks.Delete).
- The stdin FIFO is opened O_RDWR, which never blocks and never gets EPIPE; closing it (plus
  Tasks.CloseIO{stdin}) is how EOF reaches the process.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import OcixError
from .tasks import Stdio

FIFO_ROOT = "/run/containerd/fifo"  # where ctr puts its FIFO directories
CHUNK = 32 << 10


@dataclass(frozen=True)
class FifoSet:
    dir: str
    stdin: str
    stdout: str
    stderr: str
    terminal: bool

    def stdio(self) -> Stdio:
        return Stdio(self.stdin, self.stdout, self.stderr, self.terminal)


def new_fifo_set(process_id: str, *, stdin: bool, terminal: bool, root: str = FIFO_ROOT) -> FifoSet:
    """mkfifo the FIFOs the shim needs in a fresh 0700 directory under `root`.

    With a terminal there is no stderr (the pty merges it into stdout).
    """
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        d = os.path.join(root, f"ocix-{os.urandom(6).hex()}")
        os.mkdir(d, 0o700)
    except OSError as e:
        raise OcixError(f"cannot create the FIFO directory under {root}: {e.strerror}",
                        kind="fifo-dir-denied") from None
    wanted = {"stdin": stdin, "stdout": True, "stderr": not terminal}
    paths = {name: os.path.join(d, f"{process_id}-{name}") for name, on in wanted.items() if on}
    fifos = FifoSet(d, paths.get("stdin", ""), paths["stdout"], paths.get("stderr", ""), terminal)
    try:
        for path in paths.values():
            os.mkfifo(path, 0o700)
    except OSError as e:
        remove_fifo_dir(fifos)
        raise OcixError(f"cannot create FIFOs in {d}: {e.strerror}") from None
    return fifos


def _close_all(fds: list[int]) -> None:
    """Close each fd (errors ignored) and empty the list."""
    for fd in fds:
        with suppress(OSError):
            os.close(fd)
    fds.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@dataclass
class AttachedIO:
    """Our ends of a FifoSet, and the threads that copy to our stdout/stderr and from stdin.

    `stdout`/`stderr` are binary files (written and flushed per chunk, so output is live);
    `stdin` is a binary file or None; `on_stdin_eof` runs after the stdin FIFO is closed
    (the caller sends Tasks.CloseIO there).
    """

    fifos: FifoSet
    stdout: BinaryIO
    stderr: BinaryIO | None = None
    stdin: BinaryIO | None = None
    on_stdin_eof: Callable[[], None] | None = None
    _readers: list[int] = field(default_factory=list)
    _keepalive: list[int] = field(default_factory=list)
    _stdin_fd: int | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _closed: bool = False

    def open(self) -> None:
        """Open our ends (before Tasks.Create)."""
        try:
            for path in (self.fifos.stdout, self.fifos.stderr):
                if not path:
                    continue
                r = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                self._readers.append(r)
                self._keepalive.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
                os.set_blocking(r, True)
            if self.fifos.stdin:
                self._stdin_fd = os.open(self.fifos.stdin, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            self.close()
            raise OcixError(f"cannot open the task's FIFOs in {self.fifos.dir}: {e.strerror}") from None

    def start(self) -> None:
        """Start copying output (right after Tasks.Create/Exec; stdin waits for start_stdin)."""
        outs: list[BinaryIO | None] = [self.stdout, self.stderr]
        for fd, out in zip(self._readers, outs, strict=False):
            t = threading.Thread(target=self._copy_out, args=(fd, out), daemon=True,
                                 name=f"ocix-io-{fd}")
            t.start()
            self._threads.append(t)

    def start_stdin(self) -> None:
        """Start forwarding stdin, after Tasks.Start: an exec'd process's shim opens the stdin
        FIFO only then, and bytes written into a FIFO nobody else holds open are lost."""
        if self._stdin_fd is not None and self.stdin is not None:
            threading.Thread(target=self._copy_in, daemon=True, name="ocix-stdin").start()

    @staticmethod
    def _copy_out(fd: int, out: BinaryIO | None) -> None:
        while True:
            try:
                data = os.read(fd, CHUNK)
            except OSError:
                return
            if not data:
                return
            if out is None:
                continue
            try:
                out.write(data)
                out.flush()
            except (BrokenPipeError, ValueError):  # our reader went away: keep draining
                out = None

    def _copy_in(self) -> None:
        assert self.stdin is not None
        read: Callable[[int], bytes] = getattr(self.stdin, "read1", self.stdin.read)
        try:  # a real fd: os.read, so a thread blocked here never holds a buffered-IO lock
            fd_in = self.stdin.fileno()
            read = lambda n: os.read(fd_in, n)  # noqa: E731
        except (AttributeError, OSError, ValueError):
            pass
        try:
            while True:
                data = read(CHUNK)
                if not data:
                    break
                fd = self._stdin_fd
                if fd is None:
                    return
                _write_all(fd, data)
        except (OSError, ValueError):
            pass
        self.close_stdin()

    def close_stdin(self) -> None:
        fd, self._stdin_fd = self._stdin_fd, None
        if fd is None:
            return
        _close_all([fd])
        if self.on_stdin_eof is not None and not self._closed:
            with suppress(OcixError):  # the task may be gone already
                self.on_stdin_eof()

    def finish(self, timeout: float = 5.0) -> None:
        """After Tasks.Delete: drop our keep-alive writers and wait for the output to drain."""
        _close_all(self._keepalive)
        for t in self._threads:
            t.join(timeout)

    def close(self) -> None:
        """Close every fd we hold and remove the FIFO directory (idempotent)."""
        if self._threads:
            self.finish(timeout=0.5)
        self._closed = True
        self.close_stdin()
        _close_all(self._keepalive)
        _close_all(self._readers)
        remove_fifo_dir(self.fifos)


def remove_fifo_dir(fifos: FifoSet) -> None:
    """Remove the directory, but only if it holds nothing except our FIFOs."""
    try:
        names = os.listdir(fifos.dir)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(fifos.dir, name)
        try:
            if stat.S_ISFIFO(os.lstat(path).st_mode):
                os.unlink(path)
        except OSError:
            pass
    try:
        os.rmdir(fifos.dir)
    except OSError:
        pass
