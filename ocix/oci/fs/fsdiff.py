"""Two flattened filesystems compared path by path (docs/imagefs.md).

A path only in B is added, only in A removed; in both, it changed when its type, size, mode,
owner, link target or (when both sides were read with digests) its data's sha256 differ.
Modification times are not compared: rebuilding the same files changes them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .flatfs import FILE, HARDLINK, FlatFS, Node

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
FIELDS = ("type", "size", "mode", "uid", "gid", "link", "content")


@dataclass(frozen=True)
class PathChange:
    path: str
    change: str  # added, removed, changed
    what: list[str]  # for a change: which of FIELDS differ
    a: Node | None
    b: Node | None


@dataclass
class DiffSummary:
    added: int = 0
    removed: int = 0
    changed: int = 0
    added_bytes: int = 0  # file data of the added paths
    removed_bytes: int = 0
    changed_bytes_a: int = 0  # file data of the changed paths, in A and in B
    changed_bytes_b: int = 0
    by_field: dict[str, int] = field(default_factory=dict)


def _type(n: Node) -> str:
    return FILE if n.kind == HARDLINK else n.kind  # a hardlink is a file with a second name


def differences(a: Node, b: Node, *, content: bool) -> list[str]:
    what = []
    if _type(a) != _type(b):
        what.append("type")
    if a.size != b.size:
        what.append("size")
    if a.mode != b.mode:
        what.append("mode")
    if a.uid != b.uid:
        what.append("uid")
    if a.gid != b.gid:
        what.append("gid")
    if a.linkname != b.linkname:
        what.append("link")
    if content and a.sha256 and b.sha256 and a.sha256 != b.sha256:
        what.append("content")
    return what


def under(path: str, prefix: str) -> bool:
    prefix = "/" + prefix.strip("/")
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def compare(a: FlatFS, b: FlatFS, *, content: bool = False, prefix: str = "/"
            ) -> list[PathChange]:
    """Every path that differs between A and B, sorted by path."""
    out: list[PathChange] = []
    for path in sorted(a.nodes.keys() | b.nodes.keys()):
        if not under(path, prefix):
            continue
        x, y = a.nodes.get(path), b.nodes.get(path)
        if x is None:
            out.append(PathChange(path, ADDED, [], None, y))
        elif y is None:
            out.append(PathChange(path, REMOVED, [], x, None))
        else:
            what = differences(x, y, content=content)
            if what:
                out.append(PathChange(path, CHANGED, what, x, y))
    return out


def summarize(changes: list[PathChange]) -> DiffSummary:
    s = DiffSummary(by_field={f: 0 for f in FIELDS})
    for c in changes:
        if c.change == ADDED and c.b is not None:
            s.added += 1
            s.added_bytes += c.b.size
        elif c.change == REMOVED and c.a is not None:
            s.removed += 1
            s.removed_bytes += c.a.size
        elif c.a is not None and c.b is not None:
            s.changed += 1
            s.changed_bytes_a += c.a.size
            s.changed_bytes_b += c.b.size
            for f in c.what:
                s.by_field[f] += 1
    return s


def describe(c: PathChange) -> str:
    """"size 20 → 31, mode 0644 → 0755" for a change; the kind and size for the others."""
    if c.a is None or c.b is None:
        n = c.a or c.b
        assert n is not None
        return _one(n)
    parts = []
    for f in c.what:
        if f == "type":
            parts.append(f"type {c.a.kind} → {c.b.kind}")
        elif f == "size":
            parts.append(f"size {c.a.size} → {c.b.size}")
        elif f == "mode":
            parts.append(f"mode {c.a.mode:04o} → {c.b.mode:04o}")
        elif f in ("uid", "gid"):
            parts.append(f"{f} {getattr(c.a, f)} → {getattr(c.b, f)}")
        elif f == "link":
            parts.append(f"link {c.a.linkname or '-'} → {c.b.linkname or '-'}")
        elif f == "content":
            parts.append(f"sha256 {c.a.sha256[7:19]} → {c.b.sha256[7:19]}")
    return ", ".join(parts)


def _one(n: Node) -> str:
    if n.kind == FILE:
        return f"file, {n.size} bytes"
    if n.kind in ("symlink", HARDLINK):
        return f"{n.kind} → {n.linkname}"
    return n.kind
