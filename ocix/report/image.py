"""One image's anatomy: index → manifest → config → layers as a diagram, each layer's history
line and A/C/D/O counts, and the final filesystem as a tree (docs/layers.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..containerd.connection import Connection
from ..jobs.images.imagefs import LayerProgress
from ..jobs.images.tree import children
from ..jobs.store.anatomy import image_manifest
from ..jobs.store.layers import LayersReport, scan_image
from ..oci import mediatypes as mt
from .filetree import TreeRow, tree_rows

COL_W, COL_GAP, BOX_H, STEP, TOP = 250, 70, 52, 62, 10


@dataclass
class Box:
    x: int
    y: int
    w: int
    kind: str  # index, manifest, chosen, config, layer
    title: str
    lines: list[str]
    digest: str  # shown in full as the box's tooltip


@dataclass
class Diagram:
    width: int
    height: int
    boxes: list[Box]
    edges: list[str]  # SVG path data


@dataclass
class ImageView:
    name: str
    digest: str
    media_type: str
    platform: str
    manifest: str
    config: str
    layers: LayersReport
    diagram: Diagram
    labels: dict[str, str]
    argv: str
    tree: list[TreeRow]
    tree_counts: str
    waste: Any = None  # report/waste.py's WasteView (without it, no waste section)
    extra: dict[str, Any] = field(default_factory=dict)


def _edge(a: Box, b: Box) -> str:
    x1, y1, x2, y2 = a.x + a.w, a.y + BOX_H // 2, b.x, b.y + BOX_H // 2
    mid = (x1 + x2) // 2
    return f"M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}"


def diagram(record_digest: str, record_type: str, index_size: int,
            manifests: list[tuple[str, str, int]], chosen: str, config: tuple[str, int],
            layers: list[tuple[str, int, str, str]]) -> Diagram:
    """manifests: (digest, platform, size); layers: (digest, size, media type, created_by)."""
    from .page import human_size, short_digest

    boxes: list[Box] = []
    edges: list[str] = []
    x = TOP
    index: Box | None = None
    if mt.is_index(record_type):
        index = Box(x, TOP, COL_W, "index", "index",
                    [short_digest(record_digest), f"{len(manifests)} manifests · "
                     f"{human_size(index_size)}"], record_digest)
        boxes.append(index)
        x += COL_W + COL_GAP
    picked: Box | None = None
    for i, (digest, platform, size) in enumerate(manifests):
        kind = "chosen" if digest == chosen else "manifest"
        b = Box(x, TOP + i * STEP, COL_W, kind, f"manifest {platform}",
                [short_digest(digest), human_size(size)], digest)
        boxes.append(b)
        if index:
            edges.append(_edge(index, b))
        if digest == chosen:
            picked = b
    x += COL_W + COL_GAP
    right = [Box(x, TOP, COL_W + 40, "config", "config",
                 [short_digest(config[0]), human_size(config[1])], config[0])]
    for n, (digest, size, media_type, made_by) in enumerate(layers, 1):
        title = f"layer {n}" + (f" · {made_by}" if made_by else "")
        title = title if len(title) <= 44 else title[:43] + "…"
        right.append(Box(x, TOP + n * STEP, COL_W + 40, "layer", title,
                         [short_digest(digest), f"{human_size(size)} · "
                          f"{media_type.rsplit('.', 1)[-1]}"], digest))
    for b in right:
        boxes.append(b)
        if picked:
            edges.append(_edge(picked, b))
    height = max(b.y for b in boxes) + BOX_H + TOP
    return Diagram(x + COL_W + 40 + TOP, height, boxes, edges)


def image_view(conn: Connection, name: str, platform: str | None = None,
               on_layer: LayerProgress | None = None) -> ImageView:
    from ..jobs.images import waste
    from .waste import waste_view

    record, m = image_manifest(conn, name, platform)
    listed = children(conn, record.target)
    tap = waste.Tap()  # the ledger reads the same pass over the layers as the file tree
    report = scan_image(conn, name, platform=platform, files=True, on_layer=on_layer, tap=tap)
    ledger = waste.tapped_waste(conn, record.name, m, tap,
                                [x.uncompressed_size for x in report.layers])
    manifests = [(d.digest, str(d.platform) if d.platform else m.platform, d.size)
                 for d in listed]
    dia = diagram(record.target.digest, record.target.media_type, record.target.size,
                  manifests, m.descriptor.digest, (m.config.digest, m.config.size),
                  [(d.digest, d.size, d.media_type, x.created_by)
                   for d, x in zip(m.layers, report.layers, strict=True)])
    cfg = m.config_doc.get("config") or {}
    argv = [*(cfg.get("Entrypoint") or []), *(cfg.get("Cmd") or [])]
    rows, counts = tree_rows((x.layer, x.files or []) for x in report.layers)
    return ImageView(record.name, record.target.digest, record.target.media_type, m.platform,
                     m.descriptor.digest, m.config.digest, report, dia,
                     {str(k): str(v) for k, v in (cfg.get("Labels") or {}).items()},
                     " ".join(str(a) for a in argv), rows, counts, waste_view(ledger))
