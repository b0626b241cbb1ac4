"""The final filesystem of an image as rows of a collapsible tree, each path with the change
marker of the last layer that touched it (docs/layers.md).

A: added, C: changed, O: an opaque directory, D: deleted by a whiteout (shown struck through,
so a reader sees what a layer took away).  A directory with more than MAX_LISTED entries lists
the first ones and sums up the rest in one row: big directories are aggregated, never dropped.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..oci.fs.layerscan import ADDED, CHANGED, DELETED, OPAQUE, FileChange

MARK = {ADDED: "A", CHANGED: "C", DELETED: "D", OPAQUE: "O"}
MAX_LISTED = 200  # entries of one directory shown one by one


@dataclass
class Entry:
    name: str
    marker: str  # A, C, D, O, or "" for a directory only implied by its contents
    layer: int  # 0 for an implied directory
    kind: str
    children: dict[str, Entry] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)  # markers of everything below


@dataclass(frozen=True)
class TreeRow:
    op: str  # open, close, file, more
    name: str = ""
    marker: str = ""
    layer: int = 0
    kind: str = ""
    depth: int = 0
    total: int = 0  # open and more: entries below / left out
    counts: str = ""  # "A 812 · C 3 · D 40"
    expanded: bool = False


def final_state(layers: Iterable[tuple[int, list[FileChange]]]) -> dict[str, tuple[str, int, str]]:
    """path -> (marker, layer, kind) after applying the layers bottom-up."""
    state: dict[str, tuple[str, int, str]] = {}
    dirs: set[str] = set()  # every directory that has held something (may be stale: cheap)
    for n, files in layers:
        for f in files:
            if f.change in (DELETED, OPAQUE) and f.path in dirs:
                prefix = f.path.rstrip("/") + "/"
                below = [p for p in state if p.startswith(prefix)
                         and (f.change == DELETED or state[p][1] < n)]
                for p in below:
                    del state[p]
            state[f.path] = (MARK[f.change], n, f.kind)
            parent = posixpath.dirname(f.path)
            while parent not in dirs and parent != "/":
                dirs.add(parent)
                parent = posixpath.dirname(parent)
    return state


def build(state: dict[str, tuple[str, int, str]]) -> Entry:
    root = Entry("/", "", 0, "dir")
    for path in sorted(state):
        marker, layer, kind = state[path]
        node = root
        parts = [p for p in path.split("/") if p]
        for part in parts[:-1]:
            node = node.children.setdefault(part, Entry(part, "", 0, "dir"))
        if not parts:
            continue
        last = node.children.get(parts[-1])
        if last is None:
            node.children[parts[-1]] = Entry(parts[-1], marker, layer, kind)
        else:
            last.marker, last.layer, last.kind = marker, layer, kind
    _count(root)
    return root


def _count(node: Entry) -> Counter[str]:
    for c in node.children.values():
        node.counts.update(_count(c))
        if c.marker:
            node.counts[c.marker] += 1
    return node.counts


def counts_text(c: Counter[str]) -> str:
    return " · ".join(f"{m} {c[m]}" for m in "ACDO" if c[m])


def _order(e: Entry) -> tuple[bool, str]:
    return (not e.children and e.kind != "dir", e.name)


def rows(root: Entry, open_depth: int = 1) -> list[TreeRow]:
    """The tree depth-first: directories first, each opened for its rows and closed after."""
    out: list[TreeRow] = []

    def walk(node: Entry, depth: int) -> None:
        kids = sorted(node.children.values(), key=_order)
        for c in kids[:MAX_LISTED]:
            if c.children or c.kind == "dir":
                out.append(TreeRow("open", c.name, c.marker, c.layer, c.kind, depth,
                                   sum(c.counts.values()), counts_text(c.counts),
                                   depth < open_depth and sum(c.counts.values()) <= 40))
                walk(c, depth + 1)
                out.append(TreeRow("close", depth=depth))
            else:
                out.append(TreeRow("file", c.name, c.marker, c.layer, c.kind, depth))
        rest = kids[MAX_LISTED:]
        if rest:
            c2: Counter[str] = Counter()
            for c in rest:
                c2.update(c.counts)
                if c.marker:
                    c2[c.marker] += 1
            out.append(TreeRow("more", f"{len(rest)} more entries", depth=depth,
                               total=sum(c2.values()), counts=counts_text(c2)))

    walk(root, 0)
    return out


def tree_rows(layers: Iterable[tuple[int, list[FileChange]]]) -> tuple[list[TreeRow], str]:
    """The rows and the whole tree's counts."""
    root = build(final_state(layers))
    return rows(root), counts_text(root.counts)

