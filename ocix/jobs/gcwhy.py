"""`ocix why`: the chains of references that keep a blob or snapshot from garbage collection."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..containerd import snapshots
from ..containerd.connection import Connection
from . import gcgraph
from .gcgraph import Edge, Graph, Node


@dataclass(frozen=True)
class Step:
    kind: str  # content, snapshot, image, container, lease, ingest
    id: str
    role: str  # what it is: "image record", "manifest", "layer", "committed snapshot" ...
    via: str  # how the previous step refers to this one ("" for the root)


@dataclass(frozen=True)
class Chain:
    root: str  # why the first step is a root
    steps: list[Step]


@dataclass(frozen=True)
class WhyResult:
    kind: str
    id: str
    namespace: str
    size: int | None
    kept: bool
    chains: list[Chain] = field(default_factory=list)
    verdict: str = ""


def role(g: Graph, node: Node, via: str = "") -> str:
    """A short name for what the object is, from its record or the label that points at it."""
    kind, key = node
    if kind == "snapshot":
        snap = g.snapshots.get(key)
        return f"{snap.kind} snapshot" if snap else "snapshot (missing)"
    if kind == "content":
        if key not in g.content:
            return "blob (missing)"
        suffix = via[len(gcgraph.CONTENT_REF):] if via.startswith(gcgraph.CONTENT_REF) else ""
        if suffix.startswith(".m."):
            return "manifest"
        if suffix == ".config":
            return "config"
        if suffix.startswith(".l."):
            return "layer"
        if via == "target":
            return "image target"
        return "blob"
    return {"image": "image record", "container": "container record", "lease": "lease",
            "ingest": "ingest"}.get(kind, kind)


def _target_role(g: Graph, node: Node) -> str:
    """The role of the object asked about, from any one edge that points at it."""
    for e in g.incoming().get(node, []):
        r = role(g, node, e.via)
        if r not in ("blob",):
            if e.via == "target":
                img = g.images.get(e.source[1])
                if img is not None:
                    return _media_role(img.target.media_type)
            return r
    return role(g, node)


def _media_role(media_type: str) -> str:
    return "index" if "index" in media_type or "manifest.list" in media_type else "manifest"


def chains_to(g: Graph, target: Node) -> list[Chain]:
    """One shortest chain from each root that reaches `target` (breadth-first, backwards)."""
    incoming = g.incoming()
    nxt: dict[Node, Edge | None] = {target: None}  # node -> the edge one step closer to target
    todo = deque([target])
    while todo:
        n = todo.popleft()
        for e in incoming.get(n, []):
            if e.source not in nxt:
                nxt[e.source] = e
                todo.append(e.source)
    out: list[Chain] = []
    for root in sorted((n for n in nxt if n in g.roots), key=_root_order):
        steps = [Step(root[0], root[1], role(g, root), "")]
        n = root
        while n != target:
            edge = nxt[n]
            assert edge is not None
            n = edge.target
            r = role(g, n, edge.via)
            if edge.via == "target" and n[0] == "content":
                img = g.images.get(edge.source[1])
                r = _media_role(img.target.media_type) if img else r
            steps.append(Step(n[0], n[1], r, edge.via))
        out.append(Chain(g.roots[root], steps))
    return out


def _root_order(n: Node) -> tuple[int, str]:
    return ({"image": 0, "container": 1, "lease": 2}.get(n[0], 3), n[1])


def why(conn: Connection, ref: str, snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> list[WhyResult]:
    """For the blob and/or snapshot REF names: every root that keeps it, and through what."""
    g = gcgraph.build(conn, snapshotter)
    out = []
    for node in gcgraph.resolve(g, ref, snapshotter):
        chains = chains_to(g, node)
        kind, key = node
        size = g.content[key].size if kind == "content" else None
        shown = key.split("/", 1)[1] if kind == "snapshot" else key
        what = _target_role(g, node)
        if chains:
            roots = sorted({c.steps[0].kind + " " + c.steps[0].id for c in chains})
            verdict = (f"{what} {shown} is kept by {len(chains)} root(s): " + ", ".join(roots))
        else:
            verdict = (f"nothing refers to {what} {shown}: no image, container, lease or "
                       f"gc.root label reaches it, so the next garbage collection removes it")
        out.append(WhyResult(kind, shown, g.namespace, size, bool(chains), chains, verdict))
    return out
