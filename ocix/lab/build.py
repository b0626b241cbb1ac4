"""A small deterministic OCI image builder for the lab.

Layers are described in Python (files, dirs, symlinks, hardlinks, whiteouts, opaque dirs) and
written as PAX tar (uid/gid 0 unless given, fixed mtime, sorted, parents first) through gzip
(header mtime 0) straight to a blob file, hashing the tar (diff_id) and the gzip (digest) on the
way, so a 500 MiB layer never sits in memory. Images land in one OCI image layout directory.

Identical inputs give identical digests. Each layer is cached by a fingerprint of its
description, and each image by the fingerprint of its whole recipe, so re-seeding is cheap.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InvalidArgumentError, OcixError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor, Platform
from ..oci.layout import (
    LayoutImage,
    atomic_write,
    blob_path,
    canonical_json,
    init_layout,
    locked,
    tag,
    write_blob,
)
from ..oci.streams import chunk_stream
from .entries import (
    CHUNK,
    Content,
    Data,
    Dir,
    Entry,
    File,
    Hardlink,
    HostFile,
    Opaque,
    RandomBytes,
    Symlink,
    Whiteout,
)

# The layer vocabulary lives in entries.py; recipes and tests take it from here with the builder.
__all__ = [
    "BuiltImage",
    "BuiltLayer",
    "Content",
    "Data",
    "Dir",
    "Entry",
    "File",
    "Hardlink",
    "HostFile",
    "ImageConfig",
    "ImageSpec",
    "LayerSpec",
    "Opaque",
    "PlatformImage",
    "RandomBytes",
    "Symlink",
    "Whiteout",
    "build_image",
    "config_json",
    "image_fingerprint",
    "layer_members",
    "write_layer",
]

# Fixed time for tar entries, config "created" and history (2024-01-01T00:00:00Z).
EPOCH = 1704067200
EPOCH_RFC3339 = "2024-01-01T00:00:00Z"
DESCRIPTION = "org.opencontainers.image.description"
# Bump when the bytes the builder writes for a given recipe change, to invalidate caches.
BUILDER_VERSION = "1"
CACHE_FILE = "ocix-build-cache.json"


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
class ImageConfig:
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformImage:
    """One image manifest: its platform, layers (bottom first) and config."""

    platform: Platform
    layers: tuple[LayerSpec, ...]
    config: ImageConfig = field(default_factory=ImageConfig)
    annotations: dict[str, str] = field(default_factory=dict)  # on the manifest and its descriptor


@dataclass(frozen=True)
class ImageSpec:
    repo: str
    tag: str
    images: tuple[PlatformImage, ...]
    description: str = ""
    index: bool = False  # force an index even for one platform

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}"


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class BuiltLayer:
    descriptor: Descriptor
    diff_id: str
    uncompressed_size: int


@dataclass
class BuiltImage(LayoutImage):
    platforms: list[str]
    layers: int  # layers of the first platform's manifest
    description: str
    cached: bool = False
    build_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "tag": self.tag, "root": self.root.to_json(),
                "platforms": self.platforms, "layers": self.layers,
                "description": self.description}


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


# --------------------------------------------------------------------------- images

class _Cache:
    """Layer fingerprint -> built layer; image ref -> fingerprint and result (in the layout)."""

    def __init__(self, layout: Path) -> None:
        self.path = Path(layout) / CACHE_FILE
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("layers", {})
        self.data.setdefault("images", {})
        self.layout = Path(layout)

    def _present(self, desc: Descriptor) -> bool:
        p = blob_path(self.layout, desc.digest)
        return p.exists() and p.stat().st_size == desc.size

    def layer(self, fp: str) -> BuiltLayer | None:
        d = self.data["layers"].get(fp)
        if not d:
            return None
        built = BuiltLayer(Descriptor.from_json(d["descriptor"]), d["diff_id"], d["uncompressed"])
        return built if self._present(built.descriptor) else None

    def put_layer(self, fp: str, built: BuiltLayer) -> None:
        self.data["layers"][fp] = {"descriptor": built.descriptor.to_json(),
                                   "diff_id": built.diff_id, "uncompressed": built.uncompressed_size}

    def image(self, ref: str, fp: str) -> dict[str, Any] | None:
        d = self.data["images"].get(ref)
        if not d or d.get("fingerprint") != fp:
            return None
        return d if all(self._present(Descriptor.from_json(x)) for x in d["blobs"]) else None

    def put_image(self, ref: str, fp: str, built: BuiltImage, blobs: list[Descriptor]) -> None:
        self.data["images"][ref] = {"fingerprint": fp, **built.to_json(),
                                    "blobs": [b.to_json() for b in blobs]}

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True).encode())


def image_fingerprint(spec: ImageSpec) -> str:
    h = hashlib.sha256(f"image v{BUILDER_VERSION}\n".encode())
    h.update(canonical_json([spec.repo, spec.tag, spec.description, spec.index]))
    for img in spec.images:
        h.update(canonical_json([img.platform.to_json(), vars(img.config), img.annotations,
                                 [layer.fingerprint() for layer in img.layers],
                                 [layer.created_by for layer in img.layers]]))
    return "sha256:" + h.hexdigest()


def config_json(img: PlatformImage, diff_ids: list[str]) -> dict[str, Any]:
    c = img.config
    cfg: dict[str, Any] = {}
    if c.env:
        cfg["Env"] = list(c.env)
    if c.entrypoint is not None:
        cfg["Entrypoint"] = list(c.entrypoint)
    if c.cmd is not None:
        cfg["Cmd"] = list(c.cmd)
    if c.working_dir:
        cfg["WorkingDir"] = c.working_dir
    if c.user:
        cfg["User"] = c.user
    if c.labels:
        cfg["Labels"] = dict(c.labels)
    doc: dict[str, Any] = {
        "created": EPOCH_RFC3339,
        "architecture": img.platform.architecture,
        "os": img.platform.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": EPOCH_RFC3339, "created_by": layer.created_by or "ocix lab build"}
                    for layer in img.layers],
    }
    if img.platform.variant:
        doc["variant"] = img.platform.variant
    return doc


def build_image(layout: Path, spec: ImageSpec, *, force: bool = False) -> BuiltImage:
    """Build `spec` into the OCI layout (creating it) and tag it there as repo:tag."""
    layout = Path(layout)
    if not spec.images:
        raise InvalidArgumentError(f"{spec.ref}: an image needs at least one platform")
    init_layout(layout)
    start = time.monotonic()
    with locked(layout):
        cache = _Cache(layout)
        fp = image_fingerprint(spec)
        hit = None if force else cache.image(spec.ref, fp)
        if hit is not None:
            built = BuiltImage(spec.repo, spec.tag, Descriptor.from_json(hit["root"]), layout,
                               list(hit["platforms"]), int(hit["layers"]), hit["description"],
                               cached=True)
        else:
            built, blobs = _build(layout, spec, cache, force)
            cache.put_image(spec.ref, fp, built, blobs)
            cache.save()
        tag(layout, spec.ref, built.root)
    built.build_seconds = time.monotonic() - start
    return built


def _build(layout: Path, spec: ImageSpec, cache: _Cache, force: bool
           ) -> tuple[BuiltImage, list[Descriptor]]:
    manifests: list[Descriptor] = []
    blobs: list[Descriptor] = []
    for img in spec.images:
        layers: list[BuiltLayer] = []
        for layer in img.layers:
            lfp = layer.fingerprint()
            got = None if force else cache.layer(lfp)
            if got is None:
                got = write_layer(layout, layer)
                cache.put_layer(lfp, got)
                cache.save()  # a later failure must not lose an expensive layer
            layers.append(got)
        config = write_blob(layout, canonical_json(config_json(img, [x.diff_id for x in layers])),
                            mt.OCI_CONFIG)
        manifest: dict[str, Any] = {
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config.to_json(),
            "layers": [x.descriptor.to_json() for x in layers]}
        if img.annotations:
            manifest["annotations"] = dict(img.annotations)
        mdesc = write_blob(layout, canonical_json(manifest), mt.OCI_MANIFEST,
                           annotations=img.annotations, platform=img.platform)
        manifests.append(mdesc)
        blobs += [config, mdesc] + [x.descriptor for x in layers]
    platforms = [str(img.platform) for img in spec.images]
    nlayers = len(spec.images[0].layers)
    if len(manifests) == 1 and not spec.index:
        m = manifests[0]
        root = Descriptor(m.media_type, m.digest, m.size)
    else:
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                 "manifests": [m.to_json() for m in manifests]}
        if spec.description:
            index["annotations"] = {DESCRIPTION: spec.description}
        idesc = write_blob(layout, canonical_json(index), mt.OCI_INDEX)
        root = Descriptor(idesc.media_type, idesc.digest, idesc.size)
        blobs.append(root)
    return BuiltImage(spec.repo, spec.tag, root, layout, platforms, nlayers, spec.description), blobs
