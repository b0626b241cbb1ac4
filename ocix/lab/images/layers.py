"""Write one lab image layer: PAX tar through gzip, streamed into an OCI layout blob.

Entries (entries.py) become tar headers with uid/gid 0 unless given, a fixed mtime, sorted,
parents first and hardlinks last; the tar goes through gzip (header mtime 0) straight to a blob
file, hashing the tar (diff_id) and the gzip (digest) on the way, so a 500 MiB layer never sits
in memory. Identical entries give identical digests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import tarfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ...errors import InvalidArgumentError, OcixError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor
from ...oci.layout import blob_path
from ...oci.streams import chunk_stream
from .entries import CHUNK, Content, Dir, Entry, File, Hardlink, Opaque, Symlink, Whiteout

# Fixed time for tar entries (2024-01-01T00:00:00Z).
EPOCH = 1704067200
# Bump when the bytes the builder writes for a given recipe change, to invalidate caches.
BUILDER_VERSION = "1"


@dataclass(frozen=True)
class LayerSpec:
    entries: tuple[Entry, ...]
    created_by: str = ""
    # 6 is gzip's default; random data is stored (level 0): level 1 costs ~30 MB/s for nothing.
    compresslevel: int = 6

    def fingerprint(self) -> str:
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:  # once per spec: the image and the layer cache both ask
        h = hashlib.sha256(f"layer v{BUILDER_VERSION} level={self.compresslevel}\n".encode())
        for e in self.entries:
            fields = {k: (v.fingerprint() if k == "content" else v)
                      for k, v in vars(e).items()}
            h.update(json.dumps([type(e).__name__, fields], sort_keys=True).encode() + b"\n")
        return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class BuiltLayer:
    descriptor: Descriptor
    diff_id: str
    uncompressed_size: int


# --------------------------------------------------------------------------- helpers

def _clean(path: str) -> str:
    p = posixpath.normpath("/" + path.strip()).lstrip("/")
    if not p or ".." in path.split("/"):
        raise InvalidArgumentError(f"bad path in layer: {path!r}")
    return p


# --------------------------------------------------------------------------- tar writing

class _HashingSink:
    """File-like target for tarfile: hashes the tar, gzips it, hashes and writes the gzip."""

    def __init__(self, out: BinaryIO, level: int) -> None:
        self.out = out
        self.tar_hash = hashlib.sha256()
        self.gz_hash = hashlib.sha256()
        self.tar_size = 0
        self.gz_size = 0
        # wbits 31 = gzip wrapper; zlib writes mtime 0 and no file name, so it is reproducible.
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)

    def write(self, b: bytes) -> int:
        self.tar_hash.update(b)
        self.tar_size += len(b)
        self._emit(self._z.compress(b))
        return len(b)

    def tell(self) -> int:
        return self.tar_size

    def finish(self) -> None:
        self._emit(self._z.flush())

    def _emit(self, out: bytes) -> None:
        if out:
            self.gz_hash.update(out)
            self.gz_size += len(out)
            self.out.write(out)


def layer_members(entries: Iterable[Entry]) -> list[tuple[tarfile.TarInfo, Content | None]]:
    """Tar headers (and contents) in write order: missing parents added, sorted, links last."""
    by_path: dict[str, tuple[tarfile.TarInfo, Content | None]] = {}
    links: list[tuple[tarfile.TarInfo, Content | None]] = []
    explicit: set[str] = set()

    def info(name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, EPOCH
        ti.uname = ti.gname = ""
        return ti

    def put(path: str, ti: tarfile.TarInfo, content: Content | None = None) -> None:
        if path in explicit:
            raise InvalidArgumentError(f"path {path!r} appears twice in one layer")
        explicit.add(path)
        by_path[path] = (ti, content)

    for e in entries:
        p = _clean(e.path)
        if isinstance(e, File):
            ti = info(p, tarfile.REGTYPE, e.mode, e.uid, e.gid)
            ti.size = e.content.size
            put(p, ti, e.content)
        elif isinstance(e, Dir):
            put(p, info(p, tarfile.DIRTYPE, e.mode, e.uid, e.gid))
        elif isinstance(e, Symlink):
            ti = info(p, tarfile.SYMTYPE, 0o777)
            ti.linkname = e.target
            put(p, ti)
        elif isinstance(e, Hardlink):
            ti = info(p, tarfile.LNKTYPE, 0o644)
            ti.linkname = _clean(e.target)
            if p in explicit:
                raise InvalidArgumentError(f"path {p!r} appears twice in one layer")
            explicit.add(p)
            links.append((ti, None))
        elif isinstance(e, Whiteout):
            parent, base = posixpath.split(p)
            wh = posixpath.join(parent, ".wh." + base)
            put(wh, info(wh, tarfile.REGTYPE, 0o644))
        elif isinstance(e, Opaque):
            if p not in by_path:
                put(p, info(p, tarfile.DIRTYPE, e.mode))
            marker = posixpath.join(p, ".wh..wh..opq")
            put(marker, info(marker, tarfile.REGTYPE, 0o644))
    # Parents before children: create missing dirs; a plain sort puts prefixes first.
    for path in list(by_path) + [ti.name for ti, _ in links]:
        parent = posixpath.dirname(path)
        while parent and parent not in by_path:
            by_path[parent] = (info(parent, tarfile.DIRTYPE, 0o755), None)
            parent = posixpath.dirname(parent)
    regular = {p for p, (ti, _) in by_path.items() if ti.type == tarfile.REGTYPE}
    for ti, _ in links:
        if ti.linkname not in regular:
            raise InvalidArgumentError(f"hardlink {ti.name!r}: target {ti.linkname!r} is not a "
                                       "regular file of the same layer")
        # One inode, one mode: GNU tar and Go's archive/tar give a link the target's mode and
        # owner, and containerd chmods the shared inode to the link's mode (docs/real-images.md).
        target = by_path[ti.linkname][0]
        ti.mode, ti.uid, ti.gid = target.mode, target.uid, target.gid
    out = [by_path[p] for p in sorted(by_path)]
    for ti, _ in out:
        if ti.type == tarfile.DIRTYPE:
            ti.name = ti.name + "/"  # what docker and buildkit write
    return out + sorted(links, key=lambda m: m[0].name)


def write_layer(layout: Path, layer: LayerSpec, media_type: str = mt.OCI_LAYER_GZIP
                ) -> BuiltLayer:
    """Write one layer blob into the layout, streaming; returns its descriptor and diff_id."""
    blobs = Path(layout) / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / f".layer.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        with open(tmp, "wb") as out:
            sink = _HashingSink(out, layer.compresslevel)
            tar = tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[arg-type]
                                  copybufsize=CHUNK)
            for ti, content in layer_members(layer.entries):
                if content is None:
                    tar.addfile(ti)
                    continue
                reader = chunk_stream(content.chunks())
                tar.addfile(ti, reader)
                if reader.read(1):
                    raise OcixError(f"{ti.name}: content is longer than its declared size")
            tar.close()
            sink.finish()
        digest = "sha256:" + sink.gz_hash.hexdigest()
        os.replace(tmp, blob_path(layout, digest))
    finally:
        tmp.unlink(missing_ok=True)
    desc = Descriptor(media_type=media_type, digest=digest, size=sink.gz_size)
    return BuiltLayer(desc, "sha256:" + sink.tar_hash.hexdigest(), sink.tar_size)
