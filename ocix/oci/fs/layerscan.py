"""What a layer tar does to the filesystem below it: paths added, changed, deleted, made opaque.

Pure functions over tar member headers (docs/layers.md): a `Tree` holds the paths the lower
layers leave behind, `scan_members` classifies one layer's entries against it and then applies
the layer to it.  Whiteouts (`.wh.NAME`) delete NAME from the layers below, `.wh..wh..opq` makes
its directory opaque (the lower layers' contents of it disappear).  Entries that could write
outside the root are reported as hostile and kept out of the tree.  Nothing is ever extracted.
"""

from __future__ import annotations

import copy
import posixpath
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ...errors import OcixError
from ..mediatypes import layer_compression
from ..streams import prepend
from .extracttree import ExtractTree

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
ADDED, CHANGED, DELETED, OPAQUE = "added", "changed", "deleted", "opaque"
CHUNK = 1 << 20
# tarfile skips file data in reads of this size; 64 KiB was the fastest over 10 KiB-256 KiB.
TAR_BUFSIZE = 1 << 16
# A zstd frame may ask for a window this large at most; bigger ones would break the memory bound.
ZSTD_MAX_WINDOW = 1 << 25
GZIP_MAGIC, ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class FileChange:
    path: str  # as the container sees it: "/etc/passwd"
    change: str  # added, changed, deleted or opaque
    kind: str  # file, dir, symlink, hardlink, fifo, whiteout


@dataclass(frozen=True)
class Hostile:
    entry: str  # the raw tar entry name
    layer: int  # 1 = the base layer
    kind: str
    reason: str
    via: tuple[str, ...] = ()  # the symlinks the name resolves through, in order


@dataclass
class LayerScan:
    added: int = 0
    changed: int = 0
    deleted: int = 0
    opaque: int = 0
    hidden: int = 0  # paths of lower layers that the whiteouts and opaque dirs remove
    entries: int = 0
    hostile: list[Hostile] = field(default_factory=list)
    files: list[FileChange] | None = None


class Tree:
    """The paths that exist after some layers; directories (also implied ones) kept apart."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.dirs: set[str] = set()
        self.layers = 0  # how many layers were scanned into it
        self.fs = ExtractTree()  # the same layers as a naive extractor resolves them

    def __contains__(self, path: str) -> bool:
        return path in self.paths or path in self.dirs

    def add(self, path: str, is_dir: bool) -> None:
        self.paths.add(path)
        if is_dir:
            self.dirs.add(path)
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in self.dirs:
            self.dirs.add(parent)
            parent = posixpath.dirname(parent)

    def remove(self, deleted: Iterable[str], emptied: Iterable[str] = ()) -> int:
        """Remove the `deleted` paths with everything under them, and everything under the
        `emptied` directories (which stay); how many paths went.

        One pass over the tree for all of a layer's directories, not one per whiteout."""
        gone = 0
        cut: set[str] = set()
        for path in deleted:
            if path in self.paths:
                self.paths.discard(path)
                gone += 1
            if path in self.dirs:
                self.dirs.discard(path)
                cut.add(path)
        cut.update(p for p in emptied if p in self.dirs)
        if cut:
            under = [p for p in self.paths if below(p, cut)]
            self.paths.difference_update(under)
            self.dirs.difference_update([p for p in self.dirs if below(p, cut)])
            gone += len(under)
        return gone


def below(path: str, dirs: set[str]) -> bool:
    """Whether one of `path`'s ancestors is in `dirs`."""
    parent = posixpath.dirname(path)
    while parent != "/":
        if parent in dirs:
            return True
        parent = posixpath.dirname(parent)
    return False


def _kind(m: tarfile.TarInfo) -> str:
    if m.isdir():
        return "dir"
    if m.issym():
        return "symlink"
    if m.islnk():
        return "hardlink"
    if m.ischr() or m.isblk():
        return "device"
    if m.isfifo():
        return "fifo"
    return "file"


def climbs_out(target: str, base: str) -> bool:
    """Does `target`, taken relative to directory `base` of the layer, go above the root?

    An absolute target cannot: `..` at the root stays at the root, and runtimes resolve it
    inside the container's root."""
    if target.startswith("/"):
        return False
    depth = len([p for p in base.split("/") if p not in ("", ".")])
    for part in target.split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def hostile_reason(m: tarfile.TarInfo) -> str:
    """Why extracting this entry could touch something outside the root; "" if it cannot."""
    name = m.name
    if name.startswith("/"):
        return "absolute path"
    if ".." in name.split("/"):
        return "'..' in the path"
    if m.issym() and climbs_out(m.linkname, posixpath.dirname(name)):
        return f"symlink leaves the root (-> {m.linkname})"
    if m.islnk() and climbs_out(m.linkname, ""):
        return f"hardlink leaves the root (-> {m.linkname})"
    if m.ischr() or m.isblk():
        return f"device node ({'char' if m.ischr() else 'block'} {m.devmajor}:{m.devminor})"
    return ""


def verdict(m: tarfile.TarInfo, fs: ExtractTree, layer: int) -> Hostile | None:
    """The one verdict on entry `m` of layer `layer`, applying it to `fs` (docs/layers.md).

    The header alone decides first; an entry whose name stays inside the root is then resolved
    through `fs`, even when its header is hostile (a climbing symlink is still there for the
    entries written through it later)."""
    reason = hostile_reason(m)
    if reason and (m.name.startswith("/") or ".." in m.name.split("/")):
        # containerd cleans the name and clamps `..` at the root: that is where it lands.
        clamped = copy.copy(m)
        clamped.name = posixpath.normpath("/" + m.name).lstrip("/")
        fs.apply(clamped, layer)
        return Hostile(m.name, layer, _kind(m), reason)
    found = fs.apply(m, layer)
    if reason:
        return Hostile(m.name, layer, _kind(m), reason)
    if found is not None:
        return Hostile(m.name, layer, _kind(m), found.reason, found.via)
    return None


def clean(name: str) -> str:
    """A tar name as the container sees it: "./etc/x/" -> "/etc/x"; the root itself is "/"."""
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "/" + name if name not in ("", ".") else "/"


def scan_members(members: Iterable[tarfile.TarInfo], lower: Tree, *,
                 keep_files: bool = False) -> LayerScan:
    """Classify one layer's entries against `lower`, then apply the layer to `lower`.

    "changed" means a lower layer already has the path.  Whiteouts apply to the lower layers
    only, never to entries of the same layer, so the tree is updated after the whole layer."""
    result = LayerScan()
    lower.layers += 1
    layer = lower.layers
    changes: dict[str, tuple[str, str]] = {}  # path -> (change, kind), in tar order
    for m in members:
        result.entries += 1
        hostile = verdict(m, lower.fs, layer)
        if hostile is not None:
            result.hostile.append(hostile)
            continue
        path = clean(m.name)
        if path == "/":
            continue  # the root's own metadata: neither added nor changed in any useful sense
        parent, base = posixpath.split(path)
        if base == OPAQUE_MARKER:
            changes[parent] = (OPAQUE, "dir")
        elif "/" + WHITEOUT_PREFIX + WHITEOUT_PREFIX in path:
            continue  # aufs metadata (.wh..wh.plnk/...): not part of the tree
        elif base.startswith(WHITEOUT_PREFIX):
            changes[posixpath.join(parent, base[len(WHITEOUT_PREFIX):])] = (DELETED, "whiteout")
        elif changes.get(path, ("",))[0] != OPAQUE:  # the dir entry of an opaque dir
            changes[path] = (CHANGED if path in lower else ADDED, _kind(m))
    result.hostile += [Hostile(name, layer, "dir", v.reason, v.via)
                       for name, v in lower.fs.end_layer()]
    result.hidden = lower.remove([p for p, (c, _) in changes.items() if c == DELETED],
                                 [p for p, (c, _) in changes.items() if c == OPAQUE])
    for path, (change, kind) in changes.items():
        if change == ADDED:
            result.added += 1
        elif change == CHANGED:
            result.changed += 1
        elif change == DELETED:
            result.deleted += 1
            continue
        else:
            result.opaque += 1
        lower.add(path, kind == "dir")
    if keep_files:
        result.files = [FileChange(p, c, k) for p, (c, k) in changes.items()]
    return result


# -- byte streams -----------------------------------------------------------------------------

def sniff_compression(head: bytes, media_type_says: str = "") -> str:
    """'gzip', 'zstd' or '' from a blob's first bytes; the media type only when they are too few."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return media_type_says if len(head) < 4 else ""


def decompress(chunks: Iterable[bytes], compression: str) -> Iterator[bytes]:
    """Decompress as the chunks arrive; each output chunk is at most CHUNK bytes, so a layer
    that inflates a thousandfold still needs only a bounded amount of memory."""
    if compression == "gzip":
        return _gunzip(chunks)
    if compression == "zstd":
        return _unzstd(chunks)
    if compression:
        raise OcixError(f"unsupported layer compression {compression!r}")
    return iter(chunks)


def decompressed(chunks: Iterable[bytes], media_type: str) -> Iterator[bytes]:
    """A layer blob's chunks decompressed, the compression sniffed from its first bytes (the
    media type only breaks a tie)."""
    it = iter(chunks)
    first = next(it, b"")
    return decompress(prepend(first, it), sniff_compression(first, layer_compression(media_type)))


def _gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        for data in chunks:
            while data:
                if d.eof:  # a second gzip member follows (concatenated gzip is valid gzip)
                    if not data.startswith(GZIP_MAGIC):
                        if data.strip(b"\0"):
                            raise OcixError("garbage after the end of the gzip stream")
                        break
                    d = zlib.decompressobj(zlib.MAX_WBITS | 16)
                out = d.decompress(data, CHUNK)
                if out:
                    yield out
                data = d.unused_data if d.eof else d.unconsumed_tail
                while not data and len(out) == CHUNK and not d.eof:
                    out = d.decompress(b"", CHUNK)  # output still pending inside zlib
                    if out:
                        yield out
                    data = d.unused_data if d.eof else d.unconsumed_tail
        if not d.eof:
            raise OcixError("the gzip stream ends early (truncated layer)")
    except zlib.error as e:
        raise OcixError(f"not a valid gzip stream: {e}") from None


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    from ..streams import chunk_stream

    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    try:
        with dctx.stream_reader(chunk_stream(chunks), read_size=CHUNK,
                                read_across_frames=True) as reader:
            while block := reader.read(CHUNK):
                yield block
    except zstandard.ZstdError as e:
        raise OcixError(f"not a valid zstd stream: {e}") from None


def tar_members(stream: Iterable[bytes]) -> Iterator[tarfile.TarInfo]:
    """The headers of an uncompressed tar stream, read forward only (tarfile's "r|" mode).

    tarfile keeps every member it has read; that list is emptied as we go so that memory does
    not grow with the number of entries."""
    from ..streams import chunk_stream

    try:
        with tarfile.open(fileobj=chunk_stream(stream), mode="r|", bufsize=TAR_BUFSIZE) as tar:
            while (m := tar.next()) is not None:
                tar.members.clear()  # type: ignore[attr-defined]  # not in typeshed
                yield m
    except (tarfile.TarError, EOFError) as e:
        raise OcixError(f"not a valid tar stream: {e}") from None
