"""Rendering shared by every command: JSON on stdout, rich tables, one-line errors.

rich is imported lazily so that `ocix --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import io
import json
import select
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not f.name.startswith("_")}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if hasattr(obj, "__fspath__"):
        return obj.__fspath__()
    if hasattr(obj, "value") and type(obj).__class__.__name__ == "EnumType":
        return obj.value
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj


def print_json(obj: Any) -> None:
    write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def whole_writes() -> None:
    """Make every write to stdout complete or raise.

    Under PYTHONUNBUFFERED the text layer of stdout writes straight to the file: a write that
    the pipe's reader cuts short (`| head -c 10`) returns a short count that nothing retries or
    reports, so ocix would exit 0 with its output cut.  A BufferedWriter underneath writes the
    rest or raises BrokenPipeError; flushing at each newline keeps the output unbuffered."""
    raw = getattr(sys.stdout, "buffer", None)
    if not isinstance(raw, io.FileIO):
        return  # buffered already (the usual case), or not a file (a test runner's capture)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(raw.fileno(), "wb", closefd=False)),
                                  encoding=sys.stdout.encoding, errors=sys.stdout.errors,
                                  line_buffering=True)


def write_text(text: str) -> None:
    """Write all of `text` to stdout, in stdout's encoding (see write_all)."""
    write_all(text.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"))


def write_all(data: bytes) -> None:
    """Write all of `data` to stdout's binary layer, or raise (BrokenPipeError when the reader
    has gone: the CLI then exits 1 quietly).

    Under PYTHONUNBUFFERED that layer is the raw file: one write to a pipe may take only part
    of a large block, and nothing else writes the rest, so the loop does."""
    sys.stdout.flush()  # whatever the text layer holds goes first
    out = sys.stdout.buffer
    view = memoryview(data)
    while view:
        n = out.write(view)
        if n is None:  # a non-blocking stdout that is full: wait until it takes more
            select.select([], [out], [])
            continue
        view = view[n:]
    out.flush()


def console(stderr: bool = False) -> Any:
    """A rich console; piped output gets room for the widest row instead of being cut at 80."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 4096
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                empty: str = "nothing to show") -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    n = 0
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
        n += 1
    if n == 0:
        console().print(f"[dim]{empty}[/dim]")
        return
    console().print(table)


def print_kv(pairs: Iterable[tuple[str, Any]]) -> None:
    """Aligned `key  value` lines, never wrapped or cut (digests must survive a pipe)."""
    rows = [(k, "" if v is None else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in rows), default=0)
    bold = sys.stdout.isatty()
    for k, v in rows:
        key = click.style(k.ljust(width), bold=True) if bold and k else k.ljust(width)
        click.echo(f"{key}  {v}".rstrip())


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def short_digest(d: str, n: int = 12) -> str:
    return d.split(":", 1)[-1][:n] if d else ""


def error_line(message: str, hint: str | None = None) -> None:
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
