"""Rendering shared by every command: JSON on stdout, rich tables, one-line errors.

rich is imported lazily so that `ocix --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import select
import shutil
import sys
import textwrap
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


def terminal_width(stderr: bool = False) -> int:
    """The terminal's width; when piped, COLUMNS, else 80 (docs/architecture.md)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 80


def console(stderr: bool = False, width: int | None = None) -> Any:
    """A rich console as wide as the terminal (COLUMNS or 80 when piped)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False,
                   width=width or terminal_width(stderr))


# Columns are joined by 3 spaces (rich's SIMPLE_HEAD box with one cell of padding each side).
_GAP = 3
_MIN_TEXT = 12  # a wrapped column keeps at least this many characters per line


def column_widths(columns: Sequence[str], rows: Sequence[Sequence[str]],
                  width: int) -> tuple[list[int], list[bool]]:
    """Each column's width and whether it wraps, to fit `width`.

    Columns whose cells have no spaces (ids, digests, numbers) keep their natural width and
    never break; columns of words shrink, widest first, and wrap. When the unbreakable
    columns alone are wider than `width`, the table is wider too: ids are never cut."""
    natural = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    wraps = [any(" " in r[i].strip() for r in rows) for i in range(len(columns))]
    widths = list(natural)
    words = [max((len(w) for r in rows for w in r[i].split()), default=0)
             for i in range(len(columns))]
    # A word up to 20 characters stays whole; a longer one (a version string) may fold.
    floor = [max(len(c), min(natural[i], _MIN_TEXT), words[i] if words[i] <= 20 else 0)
             for i, c in enumerate(columns)]
    over = sum(widths) + _GAP * (len(columns) - 1) - width
    while over > 0:
        shrinkable = [i for i in range(len(columns)) if wraps[i] and widths[i] > floor[i]]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda j: widths[j])
        second = max([floor[i], *(widths[j] for j in shrinkable if j != i)])
        step = min(over, widths[i] - second) or 1
        widths[i] -= step
        over -= step
    return widths, [wraps[i] and widths[i] < natural[i] for i in range(len(columns))]


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                empty: str = "nothing to show") -> None:
    """A table as wide as the terminal: word columns wrap, id columns stay whole."""
    from rich import box
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if not cells:
        console().print(f"[dim]{empty}[/dim]", markup=True)
        return
    width = terminal_width()
    widths, wrapped = column_widths(columns, cells, width)
    needed = sum(widths) + _GAP * (len(columns) - 1)
    if needed > width and len(columns) > 2:
        print_records(columns, cells, title=title)
        return
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  header_style="bold")
    for col, w, wraps in zip(columns, widths, wrapped, strict=True):
        if wraps:
            table.add_column(col, width=w, overflow="fold")
        else:
            table.add_column(col, min_width=w, no_wrap=True, overflow="ignore")
    for row in cells:
        table.add_row(*row)
    console(width=max(width, needed)).print(table)


def print_records(columns: Sequence[str], rows: Sequence[Sequence[str]], *,
                  title: str | None = None) -> None:
    """A table too wide for the terminal, as one block per row: the first cell, then each
    other column as `COLUMN  value` lines, values wrapped under themselves."""
    bold = sys.stdout.isatty()
    if title:
        click.echo(title)
    for n, row in enumerate(rows):
        if n:
            click.echo("")
        click.echo(click.style(f"{columns[0]} {row[0]}", bold=bold) if columns[0]
                   else click.style(row[0], bold=bold))
        print_kv([(f"  {c}", v) for c, v in zip(columns[1:], row[1:], strict=False) if v.strip()])


def wrap_paragraph(text: str, width: int | None = None, *, indent: str = "",
                   hanging: str = "  ", reflow: bool = True) -> str:
    """One paragraph re-flowed to the width: `indent` before the first line, `hanging` before
    the others. Words are never broken, so a digest or a path stays whole. `reflow=False`
    keeps runs of spaces inside a line (aligned columns)."""
    width = width or terminal_width()
    return textwrap.fill(" ".join(text.split()) if reflow else text, width=width, initial_indent=indent,
                         subsequent_indent=hanging, break_long_words=False,
                         break_on_hyphens=False) or indent.rstrip()


def echo_paragraphs(text: str, *, indent: str = "", hanging: str = "") -> None:
    """Paragraphs separated by blank lines, each re-flowed to the terminal's width."""
    for n, para in enumerate(text.split("\n\n")):
        if n:
            click.echo("")
        click.echo(wrap_paragraph(para, indent=indent, hanging=hanging or indent))


def wrap_value(text: str, width: int) -> list[str]:
    """Lines of at most `width`, broken at spaces or after a comma or `=` (a label list,
    key=value), never inside a word: a digest or path longer than `width` gets a line of its
    own, whole."""
    # Each piece keeps the separator after it: a space, or nothing after a bare comma or `=`.
    pieces = [(m.group(1), m.group(2))
              for m in re.finditer(r"(\S+?[,=](?=\S)|\S+)(\s*)", text)]
    lines: list[str] = []
    line = ""
    gap = ""
    for word, sep in pieces:
        joined = line + gap + word if line else word
        if line and len(joined) > width:
            lines.append(line)
            line = word
        else:
            line = joined
        gap = " " if sep else ""
    return [*lines, line]


def print_kv(pairs: Iterable[tuple[str, Any]]) -> None:
    """Aligned `key  value` lines; a long value wraps under itself, between words only (a
    digest or path is never cut)."""
    rows = [(k, "" if v is None else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in rows), default=0)
    bold = sys.stdout.isatty()
    total = terminal_width()
    for k, v in rows:
        key = click.style(k.ljust(width), bold=True) if bold and k else k.ljust(width)
        lines = wrap_value(v, max(20, total - width - 2))
        click.echo(f"{key}  {lines[0]}".rstrip())
        for line in lines[1:]:
            click.echo(" " * (width + 2) + line)


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
