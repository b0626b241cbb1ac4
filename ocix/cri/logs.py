"""Container logs in the CRI log format, read from the node's disk the way crictl reads them.

Each line of a CRI log file is `<RFC 3339 time> <stdout|stderr> <P|F> <text>`: `P` marks a
partial line that continues on the next record of the same stream, `F` a full one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError


@dataclass(frozen=True)
class LogEntry:
    time: str  # of the record that ended the line
    stream: str  # stdout or stderr
    text: str


def parse(lines: Iterable[str]) -> Iterator[LogEntry]:
    """Records -> whole lines; partial records are joined per stream, malformed lines skipped."""
    partial: dict[str, str] = {}
    for raw in lines:
        parts = raw.rstrip("\n").split(" ", 3)
        if len(parts) < 3 or parts[1] not in ("stdout", "stderr"):
            continue
        stamp, stream, tag = parts[0], parts[1], parts[2]
        text = parts[3] if len(parts) > 3 else ""
        if tag == "P":
            partial[stream] = partial.get(stream, "") + text
            continue
        yield LogEntry(stamp, stream, partial.pop(stream, "") + text)


def _open(path: str) -> Path:
    p = Path(path)
    if not path:
        raise NotFoundError("the runtime reports no log path for this container",
                            hint="give the pod a log_directory and the container a log_path")
    if not p.exists():
        raise NotFoundError(f"log file {path} does not exist on this host",
                            hint="logs are read from the node's disk: run ocix on the node "
                                 "itself, not through a forwarded CRI socket")
    return p


def read(path: str, tail: int | None = None) -> list[LogEntry]:
    """The log's lines, or its last `tail` ones."""
    with _open(path).open(encoding="utf-8", errors="replace") as f:
        entries = parse(f)
        return list(deque(entries, maxlen=tail)) if tail is not None and tail >= 0 else list(entries)


def follow(path: str, running: Callable[[], bool], tail: int | None = None,
           interval: float = 0.25, settle: float = 0.5) -> Iterator[LogEntry]:
    """The log's lines (or the last `tail`), then new ones while `running()` stays true.

    The runtime may copy a container's last output after it reports the exit, so once the
    container has stopped the file is read until it has been quiet for `settle` seconds."""
    with _open(path).open(encoding="utf-8", errors="replace") as f:
        yield from deque(parse(f), maxlen=tail) if tail is not None and tail >= 0 else parse(f)
        pending = ""
        quiet_since: float | None = None
        while True:
            chunk = f.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split("\n")
                yield from parse(complete)
                if quiet_since is not None:
                    quiet_since = time.monotonic()
                continue
            if quiet_since is None and not running():
                quiet_since = time.monotonic()
            if quiet_since is not None and time.monotonic() - quiet_since >= settle:
                yield from parse([pending])
                return
            time.sleep(interval if quiet_since is None else 0.05)
