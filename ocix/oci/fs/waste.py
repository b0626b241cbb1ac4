"""The waste ledger: bytes that layers store and the final filesystem no longer shows.

Fed one layer of tar headers at a time (`add`, then `end_layer`), bottom layer first.  It keeps,
for every path of the filesystem so far, which layer wrote it and its size; a later layer hides
that copy when it writes the same path again (a mode-only change rewrites the whole file), when
a whiteout deletes it or a directory above it, when an opaque directory above it drops the lower
layers' contents, or when it replaces a directory above it by a file (or the path, a directory,
by a file).  Like the layer scan (layerscan.py), a layer's whiteouts apply to the layers below
only, and hostile entries are never applied.  docs/layers.md, "The waste ledger".
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass

from .layerscan import OPAQUE_MARKER, WHITEOUT_PREFIX, clean, hostile_reason

OVERWRITTEN, DELETED, OPAQUE = "overwritten", "deleted", "opaque"


@dataclass(frozen=True)
class HiddenCopy:
    path: str  # the path whose copy is hidden, or the directory whose subtree is
    added_in: int  # the layer (1 = base) that wrote the copy
    hidden_by: int  # the layer that hid it (equal to added_in: written twice in one layer)
    how: str  # overwritten, deleted or opaque
    bytes: int  # tar header sizes of the hidden entries: file data, uncompressed
    entries: int
    subtree: bool  # the copies are below `path` (a directory deleted, made opaque, replaced)


class WasteLedger:
    def __init__(self) -> None:
        self.live: dict[str, tuple[int, int, bool]] = {}  # path -> (layer, size, is a dir)
        self.layer = 0  # layers applied so far
        self.added: list[int] = []  # per layer: bytes of its entries
        self.hidden: list[HiddenCopy] = []
        # Hard links: paths that name one file's data (in one layer); the data's size sits on
        # one of them, and moves to another when that one is hidden.
        self._group: dict[str, set[str]] = {}
        self._links: list[tuple[str, str]] = []
        self._adds: dict[str, tuple[int, bool]] = {}
        self._dups: list[tuple[str, int]] = []
        self._deleted: list[str] = []
        self._opaque: list[str] = []
        self._added = 0

    def add(self, m: tarfile.TarInfo) -> None:
        if hostile_reason(m):
            return
        path = clean(m.name)
        if path == "/":
            return
        parent, base = posixpath.split(path)
        if base == OPAQUE_MARKER:
            self._opaque.append(parent)
        elif "/" + WHITEOUT_PREFIX + WHITEOUT_PREFIX in path:
            return  # aufs bookkeeping, not part of the tree
        elif base.startswith(WHITEOUT_PREFIX):
            self._deleted.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
        else:
            self._added += m.size
            if m.islnk():
                self._links.append((path, clean(m.linkname)))
            earlier = self._adds.pop(path, None)
            if earlier is not None and not earlier[1]:
                self._dups.append((path, earlier[0]))
            self._adds[path] = (m.size, m.isdir())

    def end_layer(self) -> None:
        self.layer += 1
        n = self.layer
        rows: dict[tuple[str, int, str], list[int]] = {}  # -> [bytes, entries, subtree]

        def hide(key: str, path: str, how: str) -> None:
            layer, size, _ = self.live.pop(path)
            size = self._release(path, size)
            r = rows.setdefault((key, layer, how), [0, 0, 0])
            r[0] += size
            r[1] += 1
            r[2] |= path != key

        for path, size in self._dups:
            r = rows.setdefault((path, n, OVERWRITTEN), [0, 0, 0])
            r[0] += size
            r[1] += 1
        cut: dict[str, str] = {}  # directory -> how its lower subtree goes
        for path in self._deleted:
            if path in self.live:
                hide(path, path, DELETED)
            cut.setdefault(path, DELETED)
        for path in self._opaque:
            cut.setdefault(path, OPAQUE)
        checked: set[str] = set()
        for path, (_, is_dir) in self._adds.items():
            lower = self.live.get(path)
            if lower is not None and not (lower[2] and is_dir):
                hide(path, path, OVERWRITTEN)
                if lower[2]:
                    cut.setdefault(path, OVERWRITTEN)
            parent = path[:path.rfind("/")]
            while parent and parent not in checked:
                checked.add(parent)
                up = self.live.get(parent)
                if up is not None and not up[2]:  # a file where this layer needs a directory
                    hide(parent, parent, OVERWRITTEN)
                parent = parent[:parent.rfind("/")]
        if cut:  # one pass over the tree for all of this layer's directories
            prefixes = tuple(d + "/" for d in cut)
            for path in [p for p in self.live if p.startswith(prefixes)]:
                top = above = path[:path.rfind("/")]
                while above:  # the highest cut directory above the path
                    if above in cut:
                        top = above
                    above = above[:above.rfind("/")]
                hide(top, path, cut[top])
        for path, (size, is_dir) in self._adds.items():
            self.live[path] = (n, size, is_dir)
        for link, target in self._links:
            a, b = self.live.get(link), self.live.get(target)
            if a is not None and b is not None and a[0] == b[0] == n and not b[2]:
                group = self._group.get(target) or {target}
                group |= self._group.get(link) or {link}
                for p in group:
                    self._group[p] = group
        self.hidden += [HiddenCopy(p, layer, n, how, b, e, bool(sub))
                        for (p, layer, how), (b, e, sub) in rows.items()]
        self.added.append(self._added)
        self._adds, self._dups, self._deleted, self._opaque, self._added = {}, [], [], [], 0
        self._links = []

    def _release(self, path: str, size: int) -> int:
        """`path` leaves the tree: the bytes that become unreachable (0 while a hard link to the
        same data stays, which then carries them)."""
        group = self._group.pop(path, None)
        if group is None:
            return size
        group.discard(path)
        if group and size:
            heir = min(group)
            layer, _, is_dir = self.live[heir]
            self.live[heir] = (layer, size, is_dir)
            return 0
        return size

    def hidden_per_layer(self) -> list[int]:
        out = [0] * self.layer
        for h in self.hidden:
            out[h.added_in - 1] += h.bytes
        return out

    def visible_bytes(self) -> int:
        return sum(size for _, size, _ in self.live.values())
