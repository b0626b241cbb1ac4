"""`ocix layers --waste`: what the layers store that the final filesystem hides, and what it costs.

Every layer blob is streamed once (from containerd's content store, or from a registry without
pulling) and its tar headers feed two models side by side: ocix's ledger of hidden copies
(ocix/oci/fs/waste.py) and dive's three figures (ocix/oci/fs/divescore.py).  In containerd, the GC
graph `ocix df` walks (gcgraph.py) says which layers other images of the namespace share: those
bytes are paid once, and removing this image frees none of them.  docs/layers.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ...containerd.connection import Connection
from ...containerd.snapshots import DEFAULT_SNAPSHOTTER
from ...errors import NotFoundError, OcixError
from ...oci.descriptor import Descriptor
from ...oci.digest import chain_ids
from ...oci.fs import layerscan
from ...oci.fs.divescore import DiveFigures, DiveScore
from ...oci.fs.waste import WasteLedger
from ..store.anatomy import created_by
from .imagefs import LayerProgress
from .tree import ManifestInfo

COMPRESSED_NOTE = ("compressed bytes are estimated per layer in proportion: hidden bytes x "
                   "the layer's compressed size / its uncompressed size")
WHY_FIGURES_DIFFER = (
    "dive's wastedBytes adds every sighting of a path seen in more than one layer, the copy "
    "still visible included; ocix's hidden bytes count only the copies that no path of the "
    "final filesystem reaches")

Opener = Callable[[Descriptor], Iterator[bytes]]


@dataclass(frozen=True)
class WasteLayer:
    layer: int
    digest: str
    created_by: str
    size: int  # compressed, as stored
    uncompressed_size: int  # the tar stream's length
    added_bytes: int  # file bytes of its entries
    hidden_bytes: int  # of those, what later layers hide
    hidden_compressed: int  # estimated in proportion
    shared_with: list[str] | None  # other images of the namespace with this layer; None: unknown


@dataclass(frozen=True)
class HiddenRow:
    path: str
    added_in: int
    added_by: str  # created_by of the layer that wrote the copy
    hidden_by: int
    hidden_by_created_by: str
    how: str  # overwritten, deleted, opaque
    bytes: int
    entries: int
    subtree: bool  # the copies are below `path`, a directory
    compressed: int  # estimated in proportion to its layer
    shared: bool | None  # the copy's layer is shared with another image (None: unknown)


@dataclass(frozen=True)
class WasteTotals:
    added_bytes: int
    visible_bytes: int
    hidden_bytes: int
    hidden_compressed: int
    hidden_shared_bytes: int
    unshared_hidden_bytes: int  # what removing this image would free of its hidden bytes
    unshared_hidden_compressed: int


@dataclass(frozen=True)
class WasteReport:
    image: str
    source: str  # "containerd namespace NS" or "registry"
    manifest: str
    platform: str
    layers: list[WasteLayer]
    hidden: list[HiddenRow]  # biggest first
    totals: WasteTotals
    dive: DiveFigures
    compressed_note: str = COMPRESSED_NOTE
    why_figures_differ: str = WHY_FIGURES_DIFFER


def scan(m: ManifestInfo, open_chunks: Opener, on_layer: LayerProgress | None = None
         ) -> tuple[WasteLedger, DiveScore, list[int]]:
    """Stream every layer once through both models; the tar length of each layer."""
    ledger, dive = WasteLedger(), DiveScore()
    sizes: list[int] = []
    for i, desc in enumerate(m.layers):
        if on_layer:
            on_layer(i + 1, len(m.layers), desc.digest)
        counted = 0

        def counting(chunks: Iterator[bytes]) -> Iterator[bytes]:
            nonlocal counted
            for c in chunks:
                counted += len(c)
                yield c

        try:
            stream = counting(layerscan.decompressed(open_chunks(desc), desc.media_type))
            for member in layerscan.tar_members(stream):
                ledger.add(member)
                dive.add(member)
            for _ in stream:  # end-of-archive padding
                pass
        except NotFoundError:
            raise
        except OcixError as e:
            raise OcixError(f"layer {i + 1} ({desc.digest}): {e.message}") from None
        ledger.end_layer()
        dive.end_layer()
        sizes.append(counted)
    return ledger, dive, sizes


def report(image: str, source: str, m: ManifestInfo, ledger: WasteLedger, dive: DiveScore,
           tar_sizes: list[int], shared: list[list[str]] | None) -> WasteReport:
    lines = created_by(m.config_doc, len(m.layers))
    per_layer = ledger.hidden_per_layer()
    ratio = [d.size / t if t else 0.0 for d, t in zip(m.layers, tar_sizes, strict=True)]
    layers = [WasteLayer(i + 1, d.digest, lines[i], d.size, tar_sizes[i], ledger.added[i],
                         per_layer[i], round(per_layer[i] * ratio[i]),
                         shared[i] if shared is not None else None)
              for i, d in enumerate(m.layers)]
    rows = sorted((HiddenRow(h.path, h.added_in, lines[h.added_in - 1], h.hidden_by,
                             lines[h.hidden_by - 1], h.how, h.bytes, h.entries, h.subtree,
                             round(h.bytes * ratio[h.added_in - 1]),
                             bool(shared[h.added_in - 1]) if shared is not None else None)
                   for h in ledger.hidden),
                  key=lambda r: (-r.bytes, r.path, r.added_in))
    hidden = sum(per_layer)
    in_shared = sum(x.hidden_bytes for x in layers if x.shared_with)
    totals = WasteTotals(sum(ledger.added), ledger.visible_bytes(), hidden,
                         sum(x.hidden_compressed for x in layers), in_shared, hidden - in_shared,
                         sum(x.hidden_compressed for x in layers if not x.shared_with))
    return WasteReport(image, source, m.descriptor.digest, m.platform, layers, rows, totals,
                       dive.figures())


def sharing(conn: Connection, image: str, m: ManifestInfo, snapshotter: str) -> list[list[str]]:
    """Per layer, the other images of the namespace whose GC graph reaches its blob or its
    snapshot (the facts `ocix df` reads)."""
    from ..store import gcgraph

    g = gcgraph.build(conn, snapshotter)
    chains = chain_ids(m.diff_ids) if len(m.diff_ids) == len(m.layers) else [""] * len(m.layers)
    reach = {name: g.reachable([("image", name)]) for name in sorted(g.images) if name != image}
    out = []
    for desc, chain in zip(m.layers, chains, strict=True):
        nodes = {("content", desc.digest), ("snapshot", f"{snapshotter}/{chain}")}
        out.append([name for name, r in reach.items() if nodes & r])
    return out


def image_waste(conn: Connection, name: str, *, platform: str | None = None,
                snapshotter: str = DEFAULT_SNAPSHOTTER, on_layer: LayerProgress | None = None) -> WasteReport:
    from ..store.anatomy import image_manifest
    from .tree import blob_chunks

    record, m = image_manifest(conn, name, platform)
    ledger, dive, sizes = scan(m, lambda d: blob_chunks(conn, d), on_layer)
    return report(record.name, f"containerd namespace {conn.namespace}", m, ledger, dive, sizes,
                  sharing(conn, record.name, m, snapshotter))


class Tap:
    """Both models fed by another scan's pass over the same tar headers: the report reads
    each layer once for its file tree and its ledger (jobs/store/layers.py's `tap`)."""

    def __init__(self) -> None:
        self.ledger, self.dive = WasteLedger(), DiveScore()

    def add(self, m: Any) -> None:
        self.ledger.add(m)
        self.dive.add(m)

    def end_layer(self) -> None:
        self.ledger.end_layer()
        self.dive.end_layer()


def tapped_waste(conn: Connection, name: str, m: ManifestInfo, tap: Tap, tar_sizes: list[int],
                 snapshotter: str = DEFAULT_SNAPSHOTTER) -> WasteReport:
    """The report of what `tap` saw, with the sharing facts of this namespace (unknown, not
    an error, when an object vanishes while the GC graph is read)."""
    try:
        shared: list[list[str]] | None = sharing(conn, name, m, snapshotter)
    except NotFoundError:
        shared = None
    return report(name, f"containerd namespace {conn.namespace}", m, tap.ledger, tap.dive,
                  tar_sizes, shared)


def registry_manifest(client: Any, platform: str | None) -> ManifestInfo:
    """The manifest of `platform` (default: this host's) and its config, from a registry."""
    from ...oci import platform as plat
    from ...oci.descriptor import json_object
    from .tree import registry_target

    root, desc = registry_target(client, platform)
    doc = json_object(client.fetch_manifest(desc), desc.digest)
    config = Descriptor.from_json(doc.get("config") or {})
    layers = [Descriptor.from_json(x) for x in doc.get("layers") or []]
    cdoc = json_object(client.fetch_blob_bytes(config), config.digest)
    if platform and desc is root:
        plat.refuse_other_platform(client.ref.name, cdoc, platform)
    diff_ids = list((cdoc.get("rootfs") or {}).get("diff_ids") or [])
    return ManifestInfo(desc, plat.of_manifest(desc.platform, cdoc), config, layers, diff_ids,
                        cdoc)


def ref_waste(ref: str, *, platform: str | None = None, on_layer: LayerProgress | None = None,
              **client_options: Any) -> WasteReport:
    """The same for an image in a registry, streamed as `validate ref` streams it; nothing is
    pulled, so nothing is known about sharing on this node."""
    from ...registry.client import RegistryClient
    from ...registry.reference import parse

    client = RegistryClient(parse(ref), **client_options)
    m = registry_manifest(client, platform)
    ledger, dive, sizes = scan(m, client.open_blob, on_layer)
    return report(ref, "registry", m, ledger, dive, sizes, None)
