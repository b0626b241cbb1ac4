"""Image anatomy: index → manifest → config, layers with chain IDs and snapshots, history, diff.

What `ocix images inspect|history|diff` show (docs/layers.md).  Everything comes from the
content store and the snapshotter; only a layer that is not unpacked is streamed, to learn its
uncompressed size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...containerd import images, snapshots
from ...containerd.connection import Connection
from ...errors import NotFoundError
from ...oci.descriptor import Descriptor
from ...oci.digest import chain_ids
from ..images.tree import (
    ManifestInfo,
    children,
    decompressed_blob,
    find_image,
    manifest_info,
    pick_manifest,
)

# Where an uncompressed size came from: bytes the snapshot takes on disk, or the tar's length.
FROM_SNAPSHOT, FROM_STREAM = "snapshot usage", "tar stream"


@dataclass(frozen=True)
class LayerInfo:
    layer: int  # 1 = the base layer
    media_type: str
    digest: str
    diff_id: str
    chain_id: str
    size: int
    uncompressed_size: int | None
    uncompressed_from: str  # FROM_SNAPSHOT, FROM_STREAM, or why there is no size
    snapshot: str  # the snapshot key: containerd names a layer's committed snapshot by chain ID
    unpacked: bool
    created_by: str


@dataclass(frozen=True)
class HistoryEntry:
    created: str
    created_by: str
    comment: str
    empty_layer: bool
    layer: int | None  # None for an empty_layer entry
    digest: str
    size: int
    unpacked_size: int | None = None


@dataclass(frozen=True)
class ImageInspect:
    name: str
    digest: str
    media_type: str
    manifest: str
    platform: str
    config: str
    snapshotter: str
    layers: list[LayerInfo]
    history: list[HistoryEntry]
    env: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    user: str = ""
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def image_manifest(conn: Connection, name: str, platform: str | None = None
                   ) -> tuple[images.Image, ManifestInfo]:
    """The image record and the manifest of `platform` (default: this host's) it points to."""
    record = find_image(conn, name)
    try:
        manifests = children(conn, record.target)
    except NotFoundError:
        raise NotFoundError(f"image {record.name}: its index {record.target.digest} is not in the "
                            "content store", hint="pull the image again") from None
    desc = pick_manifest(record.target, manifests, platform)
    try:
        info = manifest_info(conn, desc)
    except NotFoundError:
        which = f" for {desc.platform}" if desc.platform else ""
        raise NotFoundError(
            f"image {record.name}: the manifest{which} ({desc.digest}) or its config is not in "
            "the content store",
            kind="platform-not-pulled") from None
    if platform and desc is record.target:
        from ...oci.platform import refuse_other_platform

        refuse_other_platform(record.name, info.config_doc, platform)
    return record, info


def history_layers(config_doc: dict[str, Any], layers: int) -> list[int | None]:
    """For each history entry, the 0-based layer it made; `empty_layer` entries made none."""
    out: list[int | None] = []
    n = 0
    for h in config_doc.get("history") or []:
        if isinstance(h, dict) and h.get("empty_layer"):
            out.append(None)
        else:
            out.append(n if n < layers else None)
            n += 1
    return out


def created_by(config_doc: dict[str, Any], layers: int) -> list[str]:
    """The history line that made each layer ("" where the history says nothing)."""
    lines = [""] * layers
    history = [h for h in config_doc.get("history") or [] if isinstance(h, dict)]
    for h, i in zip(history, history_layers(config_doc, layers), strict=False):
        if i is not None:
            lines[i] = str(h.get("created_by") or "")
    return lines


def _snapshot_usage(conn: Connection, key: str, snapshotter: str) -> int | None:
    """Bytes of snapshot `key`, None when it does not exist (Usage says so itself: no Stat)."""
    try:
        return snapshots.usage(conn, key, snapshotter).size
    except NotFoundError:
        return None


def stream_size(conn: Connection, desc: Descriptor) -> int:
    """Uncompressed bytes of a layer blob, decompressed as it streams; nothing is kept."""
    return sum(len(b) for b in decompressed_blob(conn, desc)[1])


def inspect_image(conn: Connection, name: str, platform: str | None = None,
                  snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER, *,
                  stream: bool = True) -> ImageInspect:
    record, m = image_manifest(conn, name, platform)
    chains = chain_ids(m.diff_ids) if m.diff_ids else []
    lines = created_by(m.config_doc, len(m.layers))
    layers: list[LayerInfo] = []
    for i, desc in enumerate(m.layers):
        diff_id = m.diff_ids[i] if i < len(m.diff_ids) else ""
        chain = chains[i] if i < len(chains) else ""
        used = _snapshot_usage(conn, chain, snapshotter) if chain else None
        size, source = used, FROM_SNAPSHOT
        if used is None:
            size, source = None, "not unpacked"
            if stream:
                try:
                    size, source = stream_size(conn, desc), FROM_STREAM
                except NotFoundError:
                    source = "blob not in the content store"
        layers.append(LayerInfo(i + 1, desc.media_type, desc.digest, diff_id, chain, desc.size,
                                size, source, chain, used is not None, lines[i]))
    cfg = m.config_doc.get("config") or {}
    return ImageInspect(
        record.name, record.target.digest, record.target.media_type, m.descriptor.digest,
        m.platform, m.config.digest, snapshotter, layers, _history(m, layers),
        env=list(cfg.get("Env") or []), entrypoint=_strings(cfg.get("Entrypoint")),
        cmd=_strings(cfg.get("Cmd")), user=str(cfg.get("User") or ""),
        working_dir=str(cfg.get("WorkingDir") or ""),
        labels={str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()})


def _strings(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None


def _history(m: ManifestInfo, layers: list[LayerInfo]) -> list[HistoryEntry]:
    history = [h if isinstance(h, dict) else {} for h in m.config_doc.get("history") or []]
    out = []
    for h, i in zip(history, history_layers(m.config_doc, len(m.layers)), strict=True):
        layer = layers[i] if i is not None else None
        out.append(HistoryEntry(
            str(h.get("created") or ""), str(h.get("created_by") or ""), str(h.get("comment") or ""),
            bool(h.get("empty_layer")), i + 1 if i is not None else None,
            layer.digest if layer else "", layer.size if layer else 0,
            layer.uncompressed_size if layer and layer.unpacked else None))
    return out


def image_history(conn: Connection, name: str, platform: str | None = None,
                  snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> list[HistoryEntry]:
    """Newest first, like `docker history`; unpacked sizes only where a snapshot exists."""
    return list(reversed(inspect_image(conn, name, platform, snapshotter, stream=False).history))


@dataclass(frozen=True)
class DiffLayer:
    digest: str
    size: int
    diff_id: str
    in_a: int | None  # layer number in A (1 = base), None if A lacks it
    in_b: int | None
    created_by: str


@dataclass(frozen=True)
class ImageDiff:
    a: str
    b: str
    a_platform: str
    b_platform: str
    layers: list[DiffLayer]
    shared: int  # layers both have, by digest
    shared_bytes: int
    only_a_bytes: int
    only_b_bytes: int
    shared_snapshots: int  # leading layers with equal chain IDs: one snapshot serves both


def diff_images(conn: Connection, a: str, b: str, platform: str | None = None) -> ImageDiff:
    """Which layers A and B share (by digest), and how many snapshots they share (by chain ID)."""
    ra, ma = image_manifest(conn, a, platform)
    rb, mb = image_manifest(conn, b, platform)
    la, lb = created_by(ma.config_doc, len(ma.layers)), created_by(mb.config_doc, len(mb.layers))
    pos_a = {d.digest: i for i, d in enumerate(ma.layers)}
    pos_b = {d.digest: i for i, d in enumerate(mb.layers)}
    rows: list[DiffLayer] = []
    for i, d in enumerate(ma.layers):
        j = pos_b.get(d.digest)
        rows.append(DiffLayer(d.digest, d.size, _at(ma.diff_ids, i), i + 1,
                              None if j is None else j + 1, la[i]))
    rows += [DiffLayer(d.digest, d.size, _at(mb.diff_ids, j), None, j + 1, lb[j])
             for j, d in enumerate(mb.layers) if d.digest not in pos_a]
    shared = [r for r in rows if r.in_a and r.in_b]
    snaps = 0
    for x, y in zip(chain_ids(ma.diff_ids) if ma.diff_ids else [],
                    chain_ids(mb.diff_ids) if mb.diff_ids else [], strict=False):
        if x != y:
            break
        snaps += 1
    return ImageDiff(ra.name, rb.name, ma.platform, mb.platform, rows, len(shared),
                     sum(r.size for r in shared),
                     sum(r.size for r in rows if r.in_a and not r.in_b),
                     sum(r.size for r in rows if r.in_b and not r.in_a), snaps)


def _at(values: list[str], i: int) -> str:
    return values[i] if i < len(values) else ""
