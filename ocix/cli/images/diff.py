"""`ocix diff`: two images file by file, or a container against its image."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import click

from ..main import State, pass_state
from ..options import json_option, platform_option
from ..output import human_size, print_json, to_jsonable, write_text
from ..progress import LayerStatus

LETTERS = {"added": "A", "removed": "D", "changed": "C"}


def width() -> int:
    """COLUMNS when set, the terminal's width on a TTY, else 80."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 20:
        return int(cols)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    return 80


def fit(letter: str, path: str, detail: str, cols: int) -> str:
    """"C /etc/passwd  size 20 → 31", cut to `cols`: the detail goes first, then the middle of
    the path (its start and its name stay)."""
    line = f"{letter} {path}"
    room = cols - len(line) - 2
    if detail and room >= 8:
        line += "  " + (detail if len(detail) <= room else detail[:room - 1] + "…")
    if len(line) > cols:
        keep = cols - 3
        line = line[:keep // 2] + "…" + line[len(line) - (keep - keep // 2):]
    return line


def _node(n: Any, content: bool) -> dict[str, Any] | None:
    if n is None:
        return None
    doc = {"kind": n.kind, "size": n.size, "mode": f"{n.mode:04o}", "uid": n.uid, "gid": n.gid,
           "link": n.linkname, "layer": n.layer}
    if content:
        doc["sha256"] = n.sha256
    return doc


@click.command()
@click.argument("images", nargs=-1, metavar="A B")
@click.option("--container", "container", metavar="NAME",
              help="Compare container NAME with its image instead (like `docker diff`).")
@click.option("--content", is_flag=True,
              help="Also compare file data by sha256 (every file is hashed as it streams).")
@click.option("--summary", is_flag=True, help="Only the counts and bytes.")
@click.option("--path", "prefix", default="/", metavar="PREFIX",
              help="Only paths at or under PREFIX.")
@platform_option
@json_option
@pass_state
def diff(state: State, images: tuple[str, ...], container: str | None, content: bool,
         summary: bool, prefix: str, platform: str | None, as_json: bool) -> None:
    """Both images are flattened from their layers' tar headers as the blobs stream from
    containerd (whiteouts and opaque directories applied; nothing is extracted).  Each path
    only in B is A (added), only in A is D (removed), in both with another type, size, mode,
    owner, link target (or, with --content, sha256 of its data) is C (changed), with what
    changed.  --container NAME reads the container's writable overlay layer instead: its
    upperdir from containerd's Snapshots.Mounts, or from dockerd's inspect for a docker
    container, and lists A, C and D the way `docker diff` does (--summary and --path apply
    to it too).  See docs/imagefs.md.

    \b
    Examples:
      ocix diff busybox "$OCIX_REGISTRY/library/layers:latest"
      ocix diff busybox "$OCIX_REGISTRY/library/layers:latest" --summary
      ocix diff A B --content --path /etc --json
      ocix diff --container web
    """
    if container:
        if images:
            raise click.UsageError("give either two images or --container NAME, not both")
        if content:
            raise click.UsageError("--content compares two images; not with --container")
        _container(state, container, as_json, summary, prefix)
        return
    if len(images) != 2:
        raise click.UsageError("give two images, A and B (or --container NAME)")
    from ...jobs.images.imagefs import load_pair
    from ...oci.fs.fsdiff import compare, describe, summarize

    conn = state.conn()
    with LayerStatus(not as_json) as status:
        a, b = load_pair(conn, images[0], images[1], platform=platform, content=content,
                         on_layer=status.pair)
    changes = compare(a.fs, b.fs, content=content, prefix=prefix)
    s = summarize(changes)
    if as_json:
        head = {name: {"image": x.image, "manifest": x.manifest, "platform": x.platform,
                       "layers": len(x.layers)} for name, x in (("a", a), ("b", b))}
        doc: dict[str, Any] = {**head, "path": prefix, "content": content,
                               "summary": s}
        if not summary:
            doc["changes"] = [{"path": c.path, "change": c.change, "what": c.what,
                               "a": _node(c.a, content), "b": _node(c.b, content)}
                              for c in changes]
        print_json(doc)
        return
    if summary:
        rows = [("added", s.added, s.added_bytes), ("removed", s.removed, s.removed_bytes),
                ("changed", s.changed, s.changed_bytes_b - s.changed_bytes_a)]
        lines = [f"{a.image} → {b.image}" + (f"  (under {prefix})" if prefix != "/" else "")]
        for what, count, size in rows:
            sign = "+" if what == "changed" and size > 0 else ""
            lines.append(f"  {what:<8} {count:>7} paths  {sign}{human_size(size)}"
                         + ("  (file data)" if what != "changed" else "  (size change)"))
        fields = ", ".join(f"{k} {v}" for k, v in s.by_field.items() if v)
        if fields:
            lines.append(f"  changed fields: {fields}")
        write_text("\n".join(lines) + "\n")
        return
    cols = width()
    out = [fit(LETTERS[c.change], c.path, describe(c), cols) for c in changes]
    write_text("".join(line + "\n" for line in out) if out else "no differences\n")


def _container(state: State, name: str, as_json: bool, summary: bool, prefix: str) -> None:
    from ...jobs.containers.changes import container_diff
    from ...oci.fs.fsdiff import under

    d = container_diff(state.conn(), name)
    changes = [c for c in d.changes if under(c.path, prefix)]
    counts = {k: sum(c.change == k for c in changes) for k in ("A", "C", "D")}
    if as_json:
        doc = to_jsonable(d)
        doc["changes"] = to_jsonable(changes)
        if summary:
            del doc["changes"]
        doc["summary"] = {"added": counts["A"], "changed": counts["C"], "deleted": counts["D"]}
        print_json(doc)
        return
    if summary:
        write_text(f"{d.container} ({d.source}): {counts['A']} added, {counts['C']} changed, "
                   f"{counts['D']} deleted\n")
        return
    write_text("".join(f"{c.change} {c.path}\n" for c in changes))
