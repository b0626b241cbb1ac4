"""A rich per-layer progress display for pulls, shown only on a TTY."""

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
