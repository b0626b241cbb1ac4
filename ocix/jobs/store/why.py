"""`ocix why`: the chains of references that keep a blob or snapshot from garbage collection."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ...containerd import snapshots
from ...containerd.connection import Connection
from . import gcgraph
from .gcgraph import Edge, Graph, Node, State


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


def role(g: Graph, node: Node, edge: Edge | None = None) -> str:
    """A short name for what the object is, from its record or the edge that points at it."""
    kind, key = node
    if kind == "snapshot":
        snap = g.snapshots.get(key)
        return f"{snap.kind} snapshot" if snap else "snapshot (missing)"
    if kind != "content":
        return {"image": "image record", "container": "container record"}.get(kind, kind)
    if key not in g.content:
        return "blob (missing)"
    via = edge.via if edge else ""
    if via == "target":
        img = g.images.get(edge.source[1]) if edge else None
        mt = img.target.media_type if img else ""
        return "index" if "index" in mt or "manifest.list" in mt else "manifest"
    suffix = via[len(gcgraph.CONTENT_REF):] if via.startswith(gcgraph.CONTENT_REF) else ""
    if suffix.startswith(".m."):
        return "manifest"
    if suffix == ".config":
        return "config"
    if suffix.startswith(".l."):
        return "layer"
    return "blob"


def _target_role(g: Graph, node: Node) -> str:
    """The object's role as the first edge naming it precisely sees it ("blob" otherwise)."""
    roles = [role(g, node, e) for e in g.incoming().get(node, [])]
    return next((r for r in roles if r != "blob"), role(g, node))


def chains_to(g: Graph, target: Node) -> list[Chain]:
    """One shortest chain from each root that reaches `target` (breadth-first from each root,
    following only what GC follows, flat leases included)."""
    out: list[Chain] = []
    for root in sorted(g.roots, key=_root_order):
        start: State = (root, False)
        came: dict[State, tuple[Edge, State] | None] = {start: None}
        todo = deque([start])
        end: State | None = None
        while todo and end is None:
            st = todo.popleft()
            if st[0] == target:
                end = st
                break
            for edge, nxt in g.successors(st):
                if nxt not in came:
                    came[nxt] = (edge, st)
                    todo.append(nxt)
        if end is None:
            continue
        steps: list[Step] = []
        cur: State = end
        while (back := came[cur]) is not None:
            edge, prev = back
            steps.append(Step(cur[0][0], cur[0][1], role(g, cur[0], edge), edge.via))
            cur = prev
        steps.append(Step(root[0], root[1], role(g, root), ""))
        out.append(Chain(g.roots[root], steps[::-1]))
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
