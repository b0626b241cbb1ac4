"""What one path runs with: its deadline, its phase timings and calls, and its cleanups.

Every resource a path makes (container, task, sandbox, bundle dir) is registered here the
moment it exists; `Cleanups.run` removes them in reverse order whether the path succeeded,
failed, timed out or was interrupted, with SIGINT held off meanwhile.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ... import trace
from ...errors import OcixError
from .model import CompareOptions, Endpoints, PathResult


class PathTimeoutError(OcixError):
    """The path did not finish within its time budget."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def remaining(self, what: str = "") -> float:
        left = self.left()
        if left <= 0:
            raise PathTimeoutError(f"timed out after {self.seconds:g} s"
                                   + (f" {what}" if what else ""))
        return left

    def sleep(self, seconds: float, what: str) -> None:
        time.sleep(min(seconds, self.remaining(what)))


@dataclass
class Cleanups:
    """A stack of (description, undo) run newest first; what could not be undone is reported."""

    _stack: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], Any]) -> None:
        self._stack.append((what, undo))

    def run(self) -> list[str]:
        failures: list[str] = []
        with _sigint_held():
            while self._stack:
                what, undo = self._stack.pop()
                try:
                    undo()
                except Exception as e:  # keep going: every other resource still gets removed
                    failures.append(f"{what}: {e}")
        return failures

    def __len__(self) -> int:
        return len(self._stack)


@contextmanager
def _sigint_held() -> Iterator[None]:
    """A Ctrl-C during cleanup is delivered after it (cleanup never stops half-way)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, _f: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if pending:
            raise KeyboardInterrupt


@dataclass
class PathRun:
    """Handed to a path's `run`: the request, the endpoints, and where the results go."""

    opts: CompareOptions
    endpoints: Endpoints
    result: PathResult
    deadline: Deadline
    name: str  # unique per path and compare: container names and the hold shell's $0
    cleanups: Cleanups = field(default_factory=Cleanups)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.result.timings[name] = round(self.result.timings.get(name, 0.0)
                                              + time.monotonic() - start, 4)

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Every traced call (gRPC, HTTP, exec) made in the block goes to result.calls."""
        def record(kind: str, what: str, status: str) -> None:
            if kind == "exec":  # a program's name and verb, not its whole argv
                words = what.split()
                what = " ".join(words[:next((i for i, w in enumerate(words[1:], 1)
                                             if w.startswith("-")), 3)][:3])
            ok = status in ("OK", "0", "exit 0") or status.startswith("2")
            self.result.calls.append(what if ok else f"{what} -> {status}")

        with trace.listening(record):
            yield

    def exec(self, argv: list[str], *, timeout: float | None = None, input: str | None = None,
             what: str | None = None, check: bool = True, stdout: Any = None,
             stderr: Any = None, cleanup: bool = False) -> Any:
        """Run a program (runc, crun), bounded by the deadline and traced like an API call.

        A cleanup call gets its own `timeout` instead: it must run after the deadline passed.
        """
        label = what or " ".join(argv[:2])
        limit = timeout or 60.0
        if not cleanup:
            limit = min(limit, self.deadline.remaining(f"running {label}"))
        start = time.monotonic()
        status = "ERR"
        try:
            r = subprocess.run(argv, input=input, text=True, timeout=limit, check=False,
                               stdout=stdout if stdout is not None else subprocess.PIPE,
                               stderr=stderr if stderr is not None else subprocess.PIPE,
                               stdin=subprocess.DEVNULL
                               if input is None else None)
            status = str(r.returncode)
        except subprocess.TimeoutExpired:
            status = "TIMEOUT"
            raise PathTimeoutError(f"{label} did not finish in {limit:.0f} s") from None
        except FileNotFoundError as e:
            raise OcixError(f"{argv[0]} is not installed") from e
        finally:
            trace.emit("exec", label, time.monotonic() - start, status)
        if check and r.returncode != 0:
            raise OcixError(f"{label} failed (exit {r.returncode}): "
                            f"{(r.stderr or r.stdout or '').strip()[-500:]}")
        return r
