"""The tree a naive extractor builds, entry by entry, across the layers of one image.

`ExtractTree.apply` takes the tar headers in the order an extractor meets them (lower layers
first, tar order within a layer) and resolves each name's parent directories through the
symlinks created so far, as a naive extractor does when it opens `root/NAME`: relative targets
from the symlink's directory, chains of symlinks, at most MAX_SYMLINKS hops as the kernel
allows.  An absolute target is taken as the host's path and a `..` above the root as the host's
parent: that is where a naive extractor (GNU tar -P, Python's tarfile without a filter) would
write.  containerd and runc resolve inside the root instead (docs/layers.md, "Hostile
entries"), which is why an absolute symlink on its own is harmless.

Only paths, kinds and symlink targets are kept: one small node per entry, never file data.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_SYMLINKS = 40  # the kernel's limit on symlinks followed in one lookup (ELOOP)
DIR, FILE, SYMLINK = "dir", "file", "symlink"


@dataclass(frozen=True)
class Verdict:
    """Why extracting one entry reaches outside the root (or makes an extractor refuse it)."""

    reason: str
    via: tuple[str, ...] = ()  # the symlinks followed, "/a/dir -> /tmp (layer 2)", in order


class _Node:
    __slots__ = ("kind", "layer", "target")

    def __init__(self, kind: str, layer: int, target: str = "") -> None:
        self.kind, self.layer, self.target = kind, layer, target


@dataclass(frozen=True)
class _Resolved:
    path: str = ""  # where the name lands, inside the root ("" when it does not)
    via: tuple[str, ...] = ()
    escape: str = ""  # the symlink hop that left the root
    problem: str = ""  # why an extractor would refuse it (not a directory, a loop)
    absolute: bool = False  # the escape is an absolute target (not a climb above the root)


def parts_of(name: str) -> list[str]:
    """The components of a tar name, cleaned: "./a//b/." -> ["a", "b"]; [] is the root."""
    return [p for p in name.split("/") if p not in ("", ".")]


class ExtractTree:
    """What exists after the entries applied so far: path -> node, plus each dir's children."""

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {"/": _Node(DIR, 0)}
        self.children: dict[str, set[str]] = {"/": set()}
        self.layer_dirs: list[str] = []  # the directory entries of the current layer

    def __len__(self) -> int:
        return len(self.nodes)

    # -- the tree ---------------------------------------------------------------------------
    def _put(self, path: str, node: _Node) -> None:
        old = self.nodes.get(path)
        if old is not None and not (old.kind == DIR and node.kind == DIR):
            self._remove(path)
        parent = posixpath.dirname(path)
        if parent not in self.nodes:
            self._put(parent, _Node(DIR, node.layer))
        if old is not None and old.kind == DIR and node.kind == DIR:
            return
        self.nodes[path] = node
        self.children.setdefault(parent, set()).add(path)
        if node.kind == DIR:
            self.children[path] = set()

    def _remove(self, path: str) -> None:
        """`path` and everything under it (RemoveAll); the root itself stays."""
        stack = [path]
        while stack:
            p = stack.pop()
            node = self.nodes.pop(p, None)
            if node is None:
                continue
            stack.extend(self.children.pop(p, ()))
        if path == "/":
            self.nodes["/"], self.children["/"] = _Node(DIR, 0), set()
        else:
            self.children.get(posixpath.dirname(path), set()).discard(path)

    def _empty(self, path: str, layer: int) -> None:
        """An opaque directory: what the lower layers put under it goes, this layer's stays."""
        for child in list(self.children.get(path, ())):
            node = self.nodes[child]
            if node.layer < layer:
                self._remove(child)
            elif node.kind == DIR:
                self._empty(child, layer)

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, parts: list[str], *, follow_last: bool) -> _Resolved:
        """Walk `parts` from the root through the symlinks of the tree, like openat() in a
        naive extractor; a missing component is a directory the extractor would create."""
        cur = "/"
        via: list[str] = []
        pending = list(reversed(parts))
        hops = 0
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if cur == "/":
                    return _Resolved(via=tuple(via), escape=via[-1] if via else "..")
                cur = posixpath.dirname(cur)
                continue
            nxt = cur + "/" + comp if cur != "/" else "/" + comp
            node = self.nodes.get(nxt)
            if node is None:
                cur = nxt
                continue
            if node.kind == SYMLINK and (pending or follow_last):
                hops += 1
                hop = f"{nxt} -> {node.target} (layer {node.layer})"
                via.append(hop)
                if hops > MAX_SYMLINKS:
                    return _Resolved(via=tuple(via[:3]), problem=f"more than {MAX_SYMLINKS} "
                                     f"symlinks in a loop, starting at symlink {via[0]}")
                if node.target.startswith("/"):
                    return _Resolved(via=tuple(via), escape=hop, absolute=True)
                pending.extend(reversed(node.target.split("/")))
                continue
            if node.kind != DIR and (pending or follow_last):
                return _Resolved(via=tuple(via), problem=f"{nxt} is a {node.kind}, not a directory")
            cur = nxt
        return _Resolved(path=cur, via=tuple(via))

    def _leaves(self, path: str) -> _Resolved | None:
        """The resolution of an existing symlink at `path` when it leads out of the root."""
        node = self.nodes.get(path)
        if node is None or node.kind != SYMLINK:
            return None
        r = self.resolve(parts_of(path), follow_last=True)
        return r if r.escape else None

    # -- one entry --------------------------------------------------------------------------
    def apply(self, m: tarfile.TarInfo, layer: int) -> Verdict | None:
        """Apply one entry of layer `layer` (1 = base); a Verdict when it is hostile.

        Names with `..` or a leading `/` arrive cleaned and clamped at the root, where
        containerd puts them (the caller has flagged them already).  A hostile entry that lands
        inside the root is applied anyway, so that what is later written through it is flagged
        too."""
        parts = parts_of(m.name)
        if not parts:
            if m.isdir():
                return None  # the root's own metadata
            return Verdict("the name is empty after cleaning (it names the root)")
        base = parts[-1]
        parent = self.resolve(parts[:-1], follow_last=True)
        if base == OPAQUE_MARKER:
            return self._opaque(parent, layer)
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return None  # aufs metadata (.wh..wh.plnk/...): not part of the tree
        if base.startswith(WHITEOUT_PREFIX):
            return self._whiteout(parent, base[len(WHITEOUT_PREFIX):])
        if parent.escape:
            return Verdict(f"written through symlink {parent.escape}", parent.via)
        if parent.problem:
            return Verdict(f"an extractor refuses it: {parent.problem}", parent.via)
        path = posixpath.join(parent.path, base)
        verdict: Verdict | None = None
        out = self._leaves(path)
        if out is not None and out.absolute and not m.isdir():
            # Replacing a symlink such as /usr/bin/awk -> /etc/alternatives/awk is what package
            # updates do; only tarfile without a filter would write to the host's file.
            out = None
        if out is not None:
            what = "directory entry" if m.isdir() else "written"
            chain = "" if len(out.via) == 1 else f" through {out.escape}"
            verdict = Verdict(f"{what} over symlink {out.via[0]}, which leads out of the "
                              f"root{chain}", out.via)
        if m.islnk():
            verdict = verdict or self._hardlink(m.linkname, layer)
        if m.isdir():
            self._put(path, _Node(DIR, layer))
            self.layer_dirs.append(m.name)
        elif m.issym():
            self._put(path, _Node(SYMLINK, layer, m.linkname))
        else:
            self._put(path, _Node(FILE, layer))
        return verdict

    def end_layer(self) -> list[tuple[str, Verdict]]:
        """After the last entry of a layer: containerd sets each directory entry's times only
        now, resolving its name again, and fails when the directory is gone by then."""
        out: list[tuple[str, Verdict]] = []
        for name in self.layer_dirs:
            r = self.resolve(parts_of(name), follow_last=True)
            node = self.nodes.get(r.path) if r.path else None
            if r.problem or (not r.escape and (node is None or node.kind != DIR)):
                why = r.problem or "a later entry of the layer replaced or removed it"
                out.append((name, Verdict(f"directory entry is no longer a directory at the end "
                                          f"of its layer ({why}); containerd refuses it when it "
                                          "sets directory times", r.via)))
        self.layer_dirs = []
        return out

    def _opaque(self, parent: _Resolved, layer: int) -> Verdict | None:
        if parent.escape:
            return Verdict(f"opaque directory through symlink {parent.escape}: its contents "
                           "outside the root would be removed", parent.via)
        if parent.problem:
            return Verdict(f"an extractor refuses it: {parent.problem}", parent.via)
        self._empty(parent.path, layer)
        return None

    def _whiteout(self, parent: _Resolved, name: str) -> Verdict | None:
        if name in ("", ".", ".."):
            what = {"": "its own directory", ".": "its own directory",
                    "..": "the parent of its directory"}[name]
            where = "the root's parent" if name == ".." and parent.path == "/" else what
            return Verdict(f"whiteout of {name!r} deletes {where}; containerd refuses it "
                           "(invalid whiteout name)", parent.via)
        if parent.escape:
            return Verdict(f"deleted through symlink {parent.escape}", parent.via)
        if parent.problem:
            return Verdict(f"an extractor refuses it: {parent.problem}", parent.via)
        self._remove(posixpath.join(parent.path, name))
        return None

    def _hardlink(self, linkname: str, layer: int) -> Verdict | None:
        if linkname.startswith("/"):
            return Verdict(f"hardlink to the absolute path {linkname}: a naive extractor links "
                           "the host's file")
        target = self.resolve(parts_of(linkname), follow_last=False)
        if target.escape:
            return Verdict(f"hardlink target {linkname} resolves through symlink "
                           f"{target.escape}", target.via)
        if target.problem:
            return Verdict(f"hardlink target {linkname}: {target.problem}", target.via)
        node = self.nodes.get(target.path)
        if node is None:
            return Verdict(f"hardlink target {linkname} does not exist in the tree so far; "
                           "containerd refuses it", target.via)
        if node.kind == DIR:
            return Verdict(f"hardlink target {linkname} is a directory", target.via)
        out = self._leaves(target.path)
        if out is not None:
            # link(2) links the symlink itself, but Python's os.link follows it by default.
            return Verdict(f"hardlink target {linkname} is symlink {out.via[0]}, which leads out "
                           "of the root", out.via)
        if node.layer < layer:
            # containerd's overlayfs unpack writes into the new layer's upper directory alone,
            # where a lower layer's file is not there to link to (docs/layers.md).
            return Verdict(f"hardlink target {linkname} is in layer {node.layer}, below this "
                           "one; containerd refuses a hardlink across layers", target.via)
        return None
