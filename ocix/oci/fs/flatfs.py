"""The final filesystem of an image, from its layers' tar headers alone (docs/imagefs.md).

`FlatFS` applies one layer after another: a whiteout `.wh.NAME` deletes NAME and what is under
it from the lower layers, `.wh..wh..opq` empties its directory of the lower layers' entries,
an entry replaces the lower one at its path (a non-directory over a directory drops what was
under it).  Whiteouts never touch entries of their own layer.  Each path keeps its type, size,
mode, owner, link target and the layer and tar member that wrote it, so one file's data can be
streamed again later.  Hostile entries (ocix.oci.fs.layerscan.hostile_reason) are kept apart and
never applied.  No file data is held: memory grows with the number of paths only.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ...errors import OcixError
from .layerscan import (
    OPAQUE_MARKER,
    TAR_BUFSIZE,
    WHITEOUT_PREFIX,
    Hostile,
    below,
    clean,
    hostile_reason,
)

FILE, DIR, SYMLINK, HARDLINK, FIFO, DEVICE = "file", "dir", "symlink", "hardlink", "fifo", "device"
MAX_SYMLINKS = 40  # Linux's limit before ELOOP


@dataclass(frozen=True, slots=True)
class Node:
    path: str  # "/etc/passwd"
    kind: str  # file, dir, symlink, hardlink, fifo, device
    size: int  # bytes of file data; a hardlink has its target's size; 0 for the others
    mode: int  # permission bits, with setuid/setgid/sticky
    uid: int
    gid: int
    linkname: str  # a symlink's target as written; a hardlink's target path ("/bin/x")
    layer: int  # 1 = the base layer; 0 for a parent directory no layer wrote
    member: int  # index of the entry among its layer's tar members (-1 when implied)
    mtime: int = 0
    sha256: str = ""  # of the file data, when the layers were read with digests
    source: tuple[int, int] = (0, -1)  # (layer, member) whose data this path has

    @property
    def regular(self) -> bool:
        return self.kind in (FILE, HARDLINK)


@dataclass(frozen=True, slots=True)
class Removal:
    layer: int  # the layer whose whiteout, opaque dir or replacing entry removed the path
    how: str  # "whiteout", "opaque directory /x", "whiteout of /x", "replaced by a file"


def _kind(m: tarfile.TarInfo) -> str:
    if m.isdir():
        return DIR
    if m.issym():
        return SYMLINK
    if m.islnk():
        return HARDLINK
    if m.ischr() or m.isblk():
        return DEVICE
    if m.isfifo():
        return FIFO
    return FILE


class FlatFS:
    """path -> Node after the layers applied so far; `removed` says who deleted a path."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.removed: dict[str, Removal] = {}
        self.hostile: list[tuple[int, Hostile]] = []
        self.layers = 0

    def __contains__(self, path: str) -> bool:
        return path in self.nodes

    def copy(self, layers: int) -> FlatFS:
        """An independent copy (the nodes are immutable); `layers` must be all applied."""
        if layers != self.layers:
            raise ValueError(f"a copy after {layers} layers of a tree of {self.layers}")
        other = FlatFS()
        other.nodes, other.removed = dict(self.nodes), dict(self.removed)
        other.hostile, other.layers = list(self.hostile), self.layers
        return other

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def apply_layer(self, members: Iterable[tarfile.TarInfo],
                    digest: Callable[[tarfile.TarInfo], str] | None = None) -> None:
        """Apply the next layer's members (in tar order); `digest(m)` hashes a file's data as
        it streams by (it must be called while the member is the current one)."""
        self.layers += 1
        n = self.layers
        here: dict[str, Node] = {}
        whiteouts: set[str] = set()
        opaque: set[str] = set()
        for i, m in enumerate(members):
            reason = hostile_reason(m)
            if reason:
                self.hostile.append((n, Hostile(m.name, n, _kind(m), reason)))
                continue
            path = clean(m.name)
            if path == "/":
                continue
            parent, base = posixpath.split(path)
            if base == OPAQUE_MARKER:
                opaque.add(parent)
                continue
            if "/" + WHITEOUT_PREFIX + WHITEOUT_PREFIX in path:
                continue  # aufs metadata (.wh..wh.plnk/...): not part of the tree
            if base.startswith(WHITEOUT_PREFIX):
                whiteouts.add(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
                continue
            here[path] = self._node(m, path, n, i, here, digest)
        self._remove(whiteouts, opaque, n)
        for path in opaque - set(here) - {"/"}:  # the marker alone says its dir exists
            if path not in self.nodes:
                self.nodes[path] = Node(path, DIR, 0, 0o755, 0, 0, "", 0, -1)
                self.removed.pop(path, None)
                self._parents(path)
        for path, node in here.items():
            old = self.nodes.get(path)
            if old is not None and old.kind == DIR and node.kind != DIR:
                self._cut({path}, n, f"replaced by a {node.kind} in layer {n}")
            self.nodes[path] = node
            self.removed.pop(path, None)
            self._parents(path)

    def _node(self, m: tarfile.TarInfo, path: str, n: int, i: int, here: dict[str, Node],
              digest: Callable[[tarfile.TarInfo], str] | None) -> Node:
        kind = _kind(m)
        size, link, sha, source = 0, "", "", (0, -1)
        if kind == FILE:
            size, source = m.size, (n, i)
            sha = digest(m) if digest else ""
        elif kind == SYMLINK:
            link = m.linkname
        elif kind == HARDLINK:
            link = clean(m.linkname)
            target = here.get(link) or self.nodes.get(link)
            if target is not None and target.regular:  # a link to a missing file gets no data
                size, sha, source = target.size, target.sha256, target.source
        return Node(path, kind, size, m.mode & 0o7777, m.uid, m.gid, link, n, i, int(m.mtime),
                    sha, source)

    def _remove(self, whiteouts: set[str], opaque: set[str], n: int) -> None:
        """Whiteouts and opaque dirs act on the lower layers only: the layer's own entries
        are added after this."""
        for path in whiteouts:
            if self.nodes.pop(path, None) is not None:
                self.removed[path] = Removal(n, "whiteout")
        self._cut(whiteouts, n, "whiteout of {dir}")
        self._cut(opaque, n, "opaque directory {dir}")

    def _cut(self, dirs: set[str], n: int, how: str) -> None:
        """Remove every lower path under `dirs` (one pass over the tree for all of them)."""
        if not dirs:
            return
        if "/" in dirs:  # an opaque root: nothing of the lower layers is left
            for path in list(self.nodes):
                del self.nodes[path]
                self.removed[path] = Removal(n, how.format(dir="/"))
            return
        for path in [p for p in self.nodes if below(p, dirs)]:
            del self.nodes[path]
            top = posixpath.dirname(path)
            while top not in dirs:
                top = posixpath.dirname(top)
            self.removed[path] = Removal(n, how.format(dir=top))

    def _parents(self, path: str) -> None:
        # tar -x makes missing parents; so does containerd's applier (mode 0755, root-owned).
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in self.nodes:
            self.nodes[parent] = Node(parent, DIR, 0, 0o755, 0, 0, "", 0, -1)
            self.removed.pop(parent, None)
            parent = posixpath.dirname(parent)

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, path: str, *, follow_last: bool = True) -> tuple[str, Node | None]:
        """(the path inside the image, its node) after following symlinks, never above "/".

        An absolute link target starts again at the image's root, `..` at the root stays
        there: the way a runtime resolves paths inside a container's root."""
        todo = [p for p in path.split("/") if p not in ("", ".")]
        todo.reverse()
        cur = "/"
        hops = 0
        while todo:
            part = todo.pop()
            if part == "..":
                cur = posixpath.dirname(cur)
                continue
            nxt = posixpath.join(cur, part)
            node = self.nodes.get(nxt)
            if node is None:
                return nxt if not todo else posixpath.join(nxt, *reversed(todo)), None
            if node.kind == SYMLINK and (todo or follow_last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OcixError(f"too many levels of symbolic links at {nxt}")
                parts = [p for p in node.linkname.split("/") if p not in ("", ".")]
                todo.extend(reversed(parts))
                if node.linkname.startswith("/"):
                    cur = "/"
                continue
            if todo and node.kind != DIR:
                return posixpath.join(nxt, *reversed(todo)), None
            cur = nxt
        return cur, self.nodes.get(cur) if cur != "/" else _ROOT

    def under(self, path: str) -> Iterator[Node]:
        """The nodes strictly below directory `path`, sorted by path."""
        prefix = path.rstrip("/") + "/"
        for p in sorted(self.nodes):
            if p.startswith(prefix):
                yield self.nodes[p]

    def why_missing(self, path: str) -> Removal | None:
        """Who removed `path` or the nearest of its parents, if a layer did."""
        p = path
        while p != "/":
            if p in self.removed:
                gone = self.removed[p]
                if p != path and gone.how == "whiteout":
                    return Removal(gone.layer, f"whiteout of {p}")
                return gone
            p = posixpath.dirname(p)
        return None

    def hostile_at(self, path: str) -> tuple[int, Hostile] | None:
        for n, h in self.hostile:
            if clean(h.entry.lstrip("/")) == path:
                return n, h
        return None


_ROOT = Node("/", DIR, 0, 0o755, 0, 0, "", 0, -1)


def tar_entries(stream: Iterable[bytes]) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Each member of an uncompressed tar stream with the archive positioned at its data
    (`tar.extractfile(m)` reads it until the next member is asked for)."""
    from ..streams import chunk_stream

    try:
        with tarfile.open(fileobj=chunk_stream(stream), mode="r|", bufsize=TAR_BUFSIZE) as tar:
            while (m := tar.next()) is not None:
                tar.members.clear()  # type: ignore[attr-defined]  # tarfile keeps them otherwise
                yield m, tar
    except (tarfile.TarError, EOFError) as e:
        raise OcixError(f"not a valid tar stream: {e}") from None


def file_sha256(tar: tarfile.TarFile, m: tarfile.TarInfo) -> str:
    import hashlib

    h = hashlib.sha256()
    f = tar.extractfile(m)
    if f is not None:
        while block := f.read(1 << 20):
            h.update(block)
    return "sha256:" + h.hexdigest()
