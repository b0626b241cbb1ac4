"""`ocix df`: bytes in the content store and the snapshots, per image shared and unique.

An image "owns" everything its record reaches in the GC graph (jobs/store/gcgraph.py): its index,
manifests, configs and layers, and through the config's gc.ref.snapshot label its unpacked
snapshots.  What no other root (image, container, lease, gc.root) reaches is unique to it:
removing the image frees exactly that at the next GC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...containerd import introspection, namespaces, snapshots
from ...containerd.connection import Connection
from ...errors import OcixError
from . import gcgraph
from .gcgraph import Graph, Node

WHY_SIZES_DIFFER = (
    "Each tool counts something else.  `ctr images ls` prints the compressed bytes of the "
    "manifest, config and layers of one platform, as the registry sent them.  `docker images` "
    "prints the unpacked size, the sum of the layers' files on disk, and counts a layer shared "
    "by two images once per image; `docker system df` counts each layer once (SHARED SIZE).  "
    "`crictl images` prints what the CRI "
    "plugin records for the image, the compressed size of its content, in the k8s.io namespace "
    "only.  None of them counts the other side: blobs stay in the content store after unpacking, "
    "so an image costs its compressed plus its unpacked bytes, minus what it shares.")


@dataclass(frozen=True)
class Split:
    shared: int
    unique: int

    @property
    def total(self) -> int:
        return self.shared + self.unique


@dataclass(frozen=True)
class ImageUsage:
    name: str
    compressed: Split  # content store bytes
    unpacked: Split  # snapshot bytes
    frees: int  # what `images rm` of this image frees at the next GC
    blobs: int
    snapshots: int


@dataclass(frozen=True)
class ObjectUsage:
    kind: str  # content or snapshot
    id: str
    size: int
    images: list[str]
    kept: bool  # some root reaches it


@dataclass(frozen=True)
class StoreTotals:
    """All namespaces: blobs are stored once per digest, snapshots once per namespace."""

    namespaces: int
    content_bytes: int
    blobs: int
    snapshot_bytes: int
    snapshots: int
    content_root: str
    snapshot_root: str


@dataclass(frozen=True)
class DiskUsage:
    namespace: str
    snapshotter: str
    content_bytes: int
    blobs: int
    snapshot_bytes: int
    snapshots: int
    reclaimable: int  # bytes nothing keeps: the next GC frees them
    images: list[ImageUsage]
    store: StoreTotals
    objects: list[ObjectUsage] = field(default_factory=list)
    why_sizes_differ: str = WHY_SIZES_DIFFER


def snapshot_usage(conn: Connection, g: Graph) -> dict[str, int]:
    """Snapshots.Usage of every snapshot in the graph ("<snapshotter>/<key>" -> bytes)."""
    out = {}
    for key in g.snapshots:
        sn, name = key.split("/", 1)
        try:
            out[key] = snapshots.usage(conn, name, sn).size
        except OcixError:
            out[key] = 0  # removed while we looked
    return out


def _size(g: Graph, node: Node, usage: dict[str, int]) -> int:
    kind, key = node
    if kind == "content" and key in g.content:
        return g.content[key].size
    if kind == "snapshot":
        return usage.get(key, 0)
    return 0


def per_image(g: Graph, usage: dict[str, int]) -> list[ImageUsage]:
    reach = {name: g.reachable([("image", name)]) for name in g.images}
    out = []
    for name in sorted(g.images):
        others = g.reachable([r for r in g.roots if r != ("image", name)])
        mine = [n for n in reach[name] if g.exists(n) and n[0] in ("content", "snapshot")]
        split: dict[str, list[int]] = {"content": [0, 0], "snapshot": [0, 0]}
        for n in mine:
            split[n[0]][0 if n in others else 1] += _size(g, n, usage)
        c, s = split["content"], split["snapshot"]
        out.append(ImageUsage(name, Split(c[0], c[1]), Split(s[0], s[1]), c[1] + s[1],
                              sum(1 for n in mine if n[0] == "content"),
                              sum(1 for n in mine if n[0] == "snapshot")))
    return out


def objects(g: Graph, usage: dict[str, int]) -> list[ObjectUsage]:
    kept = g.reachable(g.roots)
    owners: dict[Node, list[str]] = {}
    for name in sorted(g.images):
        for n in g.reachable([("image", name)]):
            owners.setdefault(n, []).append(name)
    out = [ObjectUsage("content", d, i.size, owners.get(("content", d), []), ("content", d) in kept)
           for d, i in sorted(g.content.items())]
    out += [ObjectUsage("snapshot", k, usage.get(k, 0), owners.get(("snapshot", k), []),
                        ("snapshot", k) in kept) for k in sorted(g.snapshots)]
    return out


def store_totals(conn: Connection, snapshotter: str) -> StoreTotals:
    """Bytes across every namespace: what `du` of the store's directories sees."""
    from ...containerd import content as content_svc

    blobs: dict[str, int] = {}
    snap_bytes = snap_count = 0
    nss = namespaces.list_namespaces(conn)
    for ns in nss:
        scoped = conn.in_namespace(ns.name)
        for info in content_svc.list_content(scoped):
            blobs[info.digest] = info.size
        for s in snapshots.list_snapshots(scoped, snapshotter):
            try:
                snap_bytes += snapshots.usage(scoped, s.name, snapshotter).size
                snap_count += 1
            except OcixError:
                pass
    roots = plugin_roots(conn)
    return StoreTotals(len(nss), sum(blobs.values()), len(blobs), snap_bytes, snap_count,
                       roots.get("io.containerd.content.v1/content", ""),
                       roots.get(f"io.containerd.snapshotter.v1/{snapshotter}", ""))


def plugin_roots(conn: Connection) -> dict[str, str]:
    """"<type>/<id>" -> the directory the plugin says it keeps its data in (its `root` export)."""
    return {f"{p.type}/{p.id}": p.exports["root"] for p in introspection.plugins(conn)
            if "root" in p.exports}


def disk_usage(conn: Connection, snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
               verbose: bool = False) -> DiskUsage:
    g = gcgraph.build(conn, snapshotter)
    usage = snapshot_usage(conn, g)
    kept = g.reachable(g.roots)
    reclaim = sum(_size(g, n, usage) for n in [*(("content", d) for d in g.content),
                                                *(("snapshot", k) for k in g.snapshots)]
                  if n not in kept)
    return DiskUsage(g.namespace, snapshotter, sum(i.size for i in g.content.values()),
                     len(g.content), sum(usage.values()), len(g.snapshots), reclaim,
                     per_image(g, usage), store_totals(conn, snapshotter),
                     objects(g, usage) if verbose else [])
