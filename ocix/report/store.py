"""The store: the snapshot forest with its images and containers, `df` as stacked bars, and
`why` for one object as a graph of references (docs/gc.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..containerd.connection import Connection
from ..jobs.store.df import DiskUsage, disk_usage
from ..jobs.store.snapshots import Node, tree
from ..jobs.store.why import WhyResult, why

BAR_W, BAR_H, LABEL_W = 640, 16, 300
NODE_W, NODE_H, COL_GAP, ROW_GAP = 210, 50, 60, 16


@dataclass
class Bar:
    y: int
    label: str
    parts: list[tuple[str, int, int, int]]  # (class, x, width, bytes)


@dataclass
class Bars:
    width: int
    height: int
    bars: list[Bar]
    scale: int  # bytes of the longest bar


@dataclass
class GraphNode:
    x: int
    y: int
    kind: str
    id: str
    role: str
    root: str  # why it is a root ("" for the others)


@dataclass
class GraphEdge:
    path: str  # SVG path data
    via: str
    lx: int
    ly: int


@dataclass
class WhyGraph:
    target: str
    width: int
    height: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    verdict: str


@dataclass
class StoreView:
    namespace: str
    snapshots: list[Node]
    df: DiskUsage
    bars: Bars
    why: list[WhyGraph] = field(default_factory=list)
    why_ref: str = ""


def df_bars(df: DiskUsage) -> Bars:
    """Per image three bars: content and snapshots, each split into shared and unique, and
    what removing the image frees at the next GC."""
    scale = max([i.compressed.total for i in df.images] + [i.unpacked.total for i in df.images]
                + [1])
    bars: list[Bar] = []
    y = 4
    for img in df.images:
        for what, split in (("content", img.compressed), ("snapshots", img.unpacked)):
            parts = []
            x = LABEL_W
            for cls, n in (("shared", split.shared), ("unique", split.unique)):
                w = round(n * BAR_W / scale)
                parts.append((cls, x, w, n))
                x += w
            bars.append(Bar(y, f"{img.name} · {what}", parts))
            y += BAR_H + 4
        bars.append(Bar(y, f"{img.name} · rm frees",
                        [("frees", LABEL_W, round(img.frees * BAR_W / scale), img.frees)]))
        y += BAR_H + 12
    return Bars(LABEL_W + BAR_W + 120, y + 4, bars, scale)


def why_graph(res: WhyResult) -> WhyGraph:
    """Chains merged into one graph: each object once, placed by its distance from the object
    that is kept (rightmost), roots on the left."""
    depth: dict[tuple[str, str], int] = {}
    info: dict[tuple[str, str], tuple[str, str]] = {}
    links: dict[tuple[tuple[str, str], tuple[str, str]], str] = {}
    for chain in res.chains:
        n = len(chain.steps)
        for i, s in enumerate(chain.steps):
            key = (s.kind, s.id)
            depth[key] = max(depth.get(key, 0), n - 1 - i)
            info.setdefault(key, (s.role, chain.root if i == 0 else ""))
            if i:
                prev = chain.steps[i - 1]
                links.setdefault(((prev.kind, prev.id), key), s.via)
    if not depth:
        return WhyGraph(res.id, NODE_W + 20, NODE_H + 20,
                        [GraphNode(10, 10, res.kind, res.id, "nothing keeps it", "")], [],
                        res.verdict)
    far = max(depth.values())
    columns: dict[int, list[tuple[str, str]]] = {}
    for key, d in depth.items():
        columns.setdefault(far - d, []).append(key)
    pos: dict[tuple[str, str], tuple[int, int]] = {}
    nodes = []
    for col, keys in sorted(columns.items()):
        for row, key in enumerate(sorted(keys)):
            x, y = 10 + col * (NODE_W + COL_GAP), 10 + row * (NODE_H + ROW_GAP)
            pos[key] = (x, y)
            role, root = info[key]
            nodes.append(GraphNode(x, y, key[0], key[1], role, root))
    edges = []
    for (a, b), via in links.items():
        (x1, y1), (x2, y2) = pos[a], pos[b]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H // 2, y2 + NODE_H // 2
        if x2 <= x1:  # a back edge: same column or to the left; route it below
            low = max(y1, y2) + NODE_H
            line = (f"M{x1 - NODE_W // 2} {y1 + NODE_H // 2} C{x1} {low} {x2} {low} "
                    f"{x2 + NODE_W // 2} {y2 + NODE_H // 2}")
        else:
            m = (x1 + x2) // 2
            line = f"M{x1} {y1} C{m} {y1} {m} {y2} {x2} {y2}"
        edges.append(GraphEdge(line, via, (x1 + x2) // 2, (y1 + y2) // 2 - 4))
    width = 20 + (far + 1) * NODE_W + far * COL_GAP
    height = 20 + max(len(k) for k in columns.values()) * (NODE_H + ROW_GAP)
    return WhyGraph(res.id, width, height, nodes, edges, res.verdict)


def store_view(conn: Connection, why_ref: str | None = None) -> StoreView:
    df = disk_usage(conn)
    graphs: list[WhyGraph] = []
    if why_ref:
        graphs = [why_graph(r) for r in why(conn, why_ref)]
    return StoreView(conn.namespace, tree(conn), df, df_bars(df), graphs, why_ref or "")
