"""Progress on a TTY only: a rich per-blob display for pulls, a one-line status while layers
stream."""

from __future__ import annotations

import sys
import threading
from typing import Any

from .output import short_digest


class PullDisplay:
    """Feeds `ocix.jobs.images.pull.Event`s into a rich Progress: one row per blob."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._rows: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._progress: Any = None

    def __enter__(self) -> PullDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"),
                                      TextColumn("[cyan]{task.fields[state]:<11}"), BarColumn(),
                                      DownloadColumn(binary_units=True), TransferSpeedColumn(),
                                      console=Console(stderr=True), transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: Any) -> None:
        if self._progress is None:
            return
        with self._lock:
            task = self._rows.get(event.digest)
            if task is None:
                task = self._progress.add_task(f"{event.kind:<8} {short_digest(event.digest)}",
                                               total=event.total or None, state=event.state)
                self._rows[event.digest] = task
            self._progress.update(task, completed=event.done, total=event.total or None,
                                  state=event.state)


class LayerStatus:
    """"reading layer 2/4" (with `pair`, "A: reading layer 2/4") on stderr while layers
    stream, on a TTY only."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._status: Any = None
        self.prefix = ""

    def __enter__(self) -> LayerStatus:
        if self.enabled:
            from .output import console

            self._status = console(stderr=True).status("reading the image")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def pair(self, which: str, n: int, total: int, digest: str) -> None:
        self.prefix = f"{which}: "
        self.layer(n, total, digest)

    def layer(self, n: int, total: int, digest: str) -> None:
        if self._status is not None:
            self._status.update(f"{self.prefix}reading layer {n}/{total} {short_digest(digest)}")
