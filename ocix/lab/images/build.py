"""A small deterministic OCI image builder for the lab: layers, config, manifests, index.

Layers are described in Python (files, dirs, symlinks, hardlinks, whiteouts, opaque dirs) and
written by layers.py; this module assembles them with a config into manifests (and an index
for several platforms) and tags the result in one OCI image layout directory.

Identical inputs give identical digests. Each layer is cached by a fingerprint of its
description, and each image by the fingerprint of its whole recipe, so re-seeding is cheap.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import InvalidArgumentError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor, Platform
from ...oci.layout import (
    LayoutImage,
    atomic_write,
    blob_path,
    canonical_json,
    init_layout,
    locked,
    tag,
    write_blob,
)
from .entries import (
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
from .layers import BUILDER_VERSION, EPOCH, BuiltLayer, LayerSpec, layer_members, write_layer

# The layer vocabulary lives in entries.py and layers.py; recipes and tests take it from here
# with the builder.
__all__ = [
    "EPOCH",
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

# Fixed time for config "created" and history (2024-01-01T00:00:00Z), the layers' EPOCH.
EPOCH_RFC3339 = "2024-01-01T00:00:00Z"
DESCRIPTION = "org.opencontainers.image.description"
CACHE_FILE = "ocix-build-cache.json"


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
