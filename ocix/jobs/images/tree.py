"""Read an image's tree back out of the content store: platforms, sizes, completeness.

This is what `ctr images ls` and `ctr images check` compute from an image record's target.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...containerd import content, images
from ...containerd.connection import Connection
from ...containerd.images import Image
from ...errors import NotFoundError, OcixError
from ...oci import mediatypes as mt
from ...oci import platform as plat
from ...oci.descriptor import Descriptor, json_object
from ...oci.streams import prepend


@dataclass(frozen=True)
class ManifestInfo:
    descriptor: Descriptor
    platform: str
    config: Descriptor
    layers: list[Descriptor]
    diff_ids: list[str]
    config_doc: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSummary:
    name: str
    digest: str
    media_type: str
    size: int  # compressed bytes of the default platform's manifest, config and layers
    platforms: list[str]
    unpacked: bool
    complete: bool
    present: int
    total: int


def _docker_io_name(name: str) -> str | None:
    """The normalized name a short one stands for (`busybox` → docker.io/library/busybox:latest),
    or None when `name` is already that name or is no valid reference."""
    from ...registry.reference import parse

    try:
        full = parse(name).name
    except OcixError:
        return None
    return full if full != name else None


def find_image(conn: Connection, name: str) -> Image:
    """The image record a user's name means: stored under that name, else under its
    normalized docker.io name."""
    try:
        return images.get(conn, name)
    except NotFoundError:
        full = _docker_io_name(name)
    if full is not None:
        try:
            return images.get(conn, full)
        except NotFoundError:
            pass
    # One line like `ocix images inspect`'s, not containerd's "image X: image "X": not found".
    raise NotFoundError(f"no image {name!r} in namespace {conn.namespace!r}",
                        kind="image-unknown", subject=name)


def remove_image(conn: Connection, name: str, *, sync: bool = False) -> str:
    """Delete the record `name` means (as find_image reads it); returns the name removed."""
    try:
        images.delete(conn, name, sync=sync)
        return name
    except NotFoundError:
        full = _docker_io_name(name)
        if full is None:
            raise
    images.delete(conn, full, sync=sync)
    return full


def _doc(conn: Connection, desc: Descriptor) -> dict[str, Any]:
    return json_object(content.read_blob(conn, desc.digest, limit=8 << 20), desc.digest)


def children(conn: Connection, target: Descriptor) -> list[Descriptor]:
    """The manifests an index lists (or the manifest itself)."""
    if mt.is_index(target.media_type):
        return [Descriptor.from_json(m) for m in _doc(conn, target).get("manifests") or []]
    return [target]


def manifest_info(conn: Connection, desc: Descriptor) -> ManifestInfo:
    doc = _doc(conn, desc)
    config = Descriptor.from_json(doc.get("config") or {})
    layers = [Descriptor.from_json(x) for x in doc.get("layers") or []]
    cdoc = _doc(conn, config)
    diff_ids = list((cdoc.get("rootfs") or {}).get("diff_ids") or [])
    p = plat.of_manifest(desc.platform, cdoc)
    return ManifestInfo(desc, p, config, layers, diff_ids, cdoc)


def pick_manifest(target: Descriptor, manifests: list[Descriptor],
                  platform: str | None) -> Descriptor:
    """`target` itself, or the entry of index `target` for `platform` (default: this host)."""
    if not mt.is_index(target.media_type):
        return target
    matcher = plat.Matcher(plat.parse(platform) if platform else plat.host())
    best = plat.best_manifest(manifests, matcher)
    if best is None:
        raise NotFoundError(f"no manifest for {matcher.wanted} in {target.digest}")
    return best


def default_manifest(conn: Connection, target: Descriptor, platform: str | None = None) -> ManifestInfo:
    """The manifest `ctr` would use on this host (or for `platform`)."""
    return manifest_info(conn, pick_manifest(target, children(conn, target), platform))


def summarize(conn: Connection, image: Image, snapshotter: str = "overlayfs") -> ImageSummary:
    """Size, platforms and completeness like `ctr images ls` + `ctr images check`.

    Each blob is read once: the index (if any), then the chosen manifest and its config."""
    target = image.target
    index = mt.is_index(target.media_type)
    try:
        manifests = children(conn, target)
    except OcixError:
        return ImageSummary(image.name, target.digest, target.media_type, 0, [], False, False, 0, 1)
    plats = sorted({str(m.platform) for m in manifests if m.platform}) if index else []
    try:
        m = manifest_info(conn, pick_manifest(target, manifests, None))
    except OcixError:
        return ImageSummary(image.name, target.digest, target.media_type, 0, plats, False, False, 1, 1)
    if not index:
        plats = [m.platform]
    from .unpack import is_unpacked  # not on `ocix run`'s import path

    blobs = [m.config, *m.layers]
    present = sum(1 for b in blobs if content.exists(conn, b.digest))
    size = m.descriptor.size + sum(b.size for b in blobs)
    return ImageSummary(image.name, target.digest, target.media_type, size, plats,
                        is_unpacked(conn, m.diff_ids, snapshotter), present == len(blobs), present,
                        len(blobs))


def blob_chunks(conn: Connection, desc: Descriptor) -> Iterator[bytes]:
    """A layer blob's chunks from the content store; a missing blob fails here, not at the
    first read."""
    chunks = content.read(conn, desc.digest)
    try:
        first = next(chunks, b"")
    except NotFoundError:
        raise NotFoundError(f"layer blob {desc.digest} is not in the content store",
                            kind="layer-missing") from None
    return prepend(first, chunks)


def decompressed_blob(conn: Connection, desc: Descriptor) -> tuple[str, Iterator[bytes]]:
    """(compression, decompressed chunks) of a layer blob as it streams from the content store.

    The compression comes from the blob's first bytes; the media type only breaks a tie."""
    from ...oci.fs.layerscan import decompress, sniff_compression
    from ...oci.mediatypes import layer_compression

    chunks = blob_chunks(conn, desc)
    first = next(chunks, b"")
    compression = sniff_compression(first, layer_compression(desc.media_type))
    return compression, decompress(prepend(first, chunks), compression)


def registry_target(client: Any, platform: str | None) -> tuple[Descriptor, Descriptor]:
    """(what a registry resolves the client's reference to, the manifest of `platform` in it,
    default this host's): an index is read, a manifest is its own."""
    root = client.resolve().descriptor
    if mt.is_index(root.media_type):
        doc = json_object(client.fetch_manifest(root), f"index {root.digest}")
        entries = [Descriptor.from_json(m) for m in doc.get("manifests") or []]
        return root, pick_manifest(root, [e for e in entries if mt.is_manifest(e.media_type)],
                                   platform)
    if not mt.is_manifest(root.media_type):
        raise OcixError(f"{client.ref.name}: unsupported media type {root.media_type}")
    return root, root
