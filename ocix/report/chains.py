"""The six ways a container is started on this host, as boxes and labelled edges for one SVG.

Who calls whom, over which API, and which process stays behind as the container init's parent
(docs/compare.md, docs/report.md).  With a compare result the boxes get live pids and versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..jobs.compare.model import CompareResult, PathResult

BOX_W, BOX_H, GAP, ROW_H, LEFT = 150, 46, 104, 112, 10
LINE = 17  # characters per line of an edge label


@dataclass(frozen=True)
class Chain:
    path: str  # the compare path that takes it
    title: str
    boxes: tuple[str, ...]  # callers first, the container's init last
    edges: tuple[str, ...]  # the API or protocol between box i and box i+1
    parent: int  # which box stays as the init's parent


CHAINS: tuple[Chain, ...] = (
    Chain("docker", "docker", ("docker CLI", "dockerd", "containerd", "containerd-shim-runc-v2",
                               "runc", "container init"),
          ("Engine API · HTTP on unix socket", "containerd API · gRPC", "shim API · ttrpc",
           "runtime CLI · exec", "create, then exits"), 3),
    Chain("containerd", "ctr / ocix", ("ctr / ocix", "containerd", "containerd-shim-runc-v2",
                                       "runc", "container init"),
          ("containerd API · gRPC", "shim API · ttrpc", "runtime CLI · exec",
           "create, then exits"), 2),
    Chain("cri", "CRI (kubelet, crictl)", ("kubelet / crictl", "containerd cri plugin",
                                           "containerd-shim-runc-v2", "runc", "pause + init"),
          ("CRI runtime.v1 · gRPC", "shim API · ttrpc", "runtime CLI · exec",
           "sandbox first, then the container"), 2),
    Chain("podman", "podman", ("podman", "conmon", "runc", "container init"),
          ("fork/exec · no daemon", "runtime CLI · exec", "create, then exits"), 1),
    Chain("runc", "runc alone", ("ocix (bundle)", "runc", "container init"),
          ("runtime CLI · config.json", "run -d, then exits"), 0),
    Chain("crun", "crun alone", ("ocix (bundle)", "crun", "container init"),
          ("runtime CLI · config.json", "run -d, then exits"), 0),
)


@dataclass
class Box:
    x: int
    y: int
    label: str
    note: str = ""  # live pid, "init's parent"
    role: str = "proc"  # proc, parent, init


@dataclass
class Edge:
    x1: int
    x2: int
    y: int
    lines: list[str]


def wrap(text: str, width: int = LINE) -> list[str]:
    """Words into lines of at most `width` characters (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


@dataclass
class Row:
    title: str
    y: int
    status: str  # "" without a compare; else the path's live chain or why it did not run
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


@dataclass
class ChainsView:
    width: int
    height: int
    rows: list[Row]
    live: bool


def _status(r: PathResult | None) -> str:
    if r is None:
        return ""
    if not r.available:
        return f"not run: {r.skipped_reason}"
    if r.error:
        return f"failed: {r.error}"
    return "live: " + " → ".join(r.chain)


def layout(result: CompareResult | None = None) -> ChainsView:
    by_path = {r.path: r for r in result.paths} if result else {}
    rows: list[Row] = []
    width = 0
    for n, c in enumerate(CHAINS):
        r = by_path.get(c.path)
        y = 24 + n * ROW_H
        row = Row(c.title, y, _status(r))
        for i, label in enumerate(c.boxes):
            x = LEFT + i * (BOX_W + GAP)
            box = Box(x, y + 8, label)
            if i == c.parent:
                box.role, box.note = "parent", "init's parent"
                if r is not None and r.parent is not None:  # the box names it, or says who
                    same = r.parent.name == label or label.startswith(r.parent.name + " ")
                    box.note = (f"init's parent · pid {r.parent.pid}" if same
                                else f"parent: {r.parent.name} pid {r.parent.pid}")
            if i == len(c.boxes) - 1:
                box.role = "init"
                if r is not None and r.pid is not None:
                    box.note = f"pid {r.pid}"
            row.boxes.append(box)
            if i:
                row.edges.append(Edge(x - GAP, x, y + 8 + BOX_H // 2, wrap(c.edges[i - 1])))
            width = max(width, x + BOX_W + LEFT)
        rows.append(row)
    return ChainsView(width, 24 + len(CHAINS) * ROW_H, rows, bool(by_path))
