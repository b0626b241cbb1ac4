"""The reference graph containerd's garbage collector walks, rebuilt from its API and labels.

Roots: image records, containers, unexpired leases, and content or snapshots labelled
`containerd.io/gc.root`.  Edges: an image to its target; a container to its rootfs snapshot;
a lease to its resources; any object's `containerd.io/gc.ref.content*` and
`containerd.io/gc.ref.snapshot.<snapshotter>` labels; a snapshot to its parent.  Everything not
reachable from a root goes at the next GC (docs/gc.md).  One namespace at a time, as GC does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ...containerd import containers, content, images, leases, snapshots
from ...containerd.connection import Connection
from ...errors import NotFoundError, OcixError
from ...oci.digest import digest_prefix, digest_problem, resolve_digest

CONTENT_REF = "containerd.io/gc.ref.content"
SNAPSHOT_REF = "containerd.io/gc.ref.snapshot."
ROOT_LABEL = "containerd.io/gc.root"
EXPIRE_LABEL = "containerd.io/gc.expire"
FLAT_LABEL = "containerd.io/gc.flat"

# Node ids: ("content", digest), ("snapshot", "<snapshotter>/<key>"), ("image", name),
# ("container", id), ("lease", id), ("ingest", ref).
Node = tuple[str, str]
State = tuple[Node, bool]  # a node, and whether it is reached through a flat lease


@dataclass(frozen=True)
class Edge:
    source: Node
    target: Node
    via: str  # why source keeps target: "target", "parent", "snapshot_key", a label key ...


@dataclass
class Graph:
    namespace: str
    roots: dict[Node, str] = field(default_factory=dict)  # node -> why it is a root
    edges: dict[Node, list[Edge]] = field(default_factory=dict)
    content: dict[str, content.Info] = field(default_factory=dict)
    snapshots: dict[str, snapshots.Snapshot] = field(default_factory=dict)  # "<sn>/<key>"
    images: dict[str, images.Image] = field(default_factory=dict)
    containers: dict[str, containers.Container] = field(default_factory=dict)
    leases: dict[str, leases.Lease] = field(default_factory=dict)
    flat_leases: set[Node] = field(default_factory=set)

    def add(self, source: Node, target: Node, via: str) -> None:
        self.edges.setdefault(source, []).append(Edge(source, target, via))

    def exists(self, node: Node) -> bool:
        kind, key = node
        if kind == "content":
            return key in self.content
        if kind == "snapshot":
            return key in self.snapshots
        if kind == "image":
            return key in self.images
        if kind == "container":
            return key in self.containers
        return kind == "lease" and key in self.leases

    def successors(self, state: State) -> Iterator[tuple[Edge, State]]:
        """The edges GC follows out of `state`.  What a flat lease holds keeps nothing through
        its labels: a flat blob keeps nothing more, a flat snapshot only its parent."""
        node, flat = state
        if node[0] == "lease":
            for e in self.edges.get(node, []):
                yield e, (e.target, node in self.flat_leases)
            return
        for e in self.edges.get(node, []):
            if not flat or e.via == "parent":
                yield e, (e.target, flat)

    def reachable(self, starts: Iterable[Node]) -> set[Node]:
        seen: set[State] = set()
        todo: deque[State] = deque((n, False) for n in starts)
        while todo:
            st = todo.popleft()
            if st in seen:
                continue
            seen.add(st)
            todo.extend(nxt for _, nxt in self.successors(st))
        return {n for n, _ in seen}

    def incoming(self) -> dict[Node, list[Edge]]:
        rev: dict[Node, list[Edge]] = {}
        for edges in self.edges.values():
            for e in edges:
                rev.setdefault(e.target, []).append(e)
        return rev


def label_refs(labels: dict[str, str]) -> list[tuple[str, Node]]:
    """The references GC reads from one object's labels, as (label key, node)."""
    out: list[tuple[str, Node]] = []
    for k, v in sorted(labels.items()):
        if k == CONTENT_REF or (k.startswith(CONTENT_REF) and k[len(CONTENT_REF)] in "./"):
            out.append((k, ("content", v)))
        elif k.startswith(SNAPSHOT_REF):
            snapshotter = k[len(SNAPSHOT_REF):].split("/", 1)[0]
            out.append((k, ("snapshot", f"{snapshotter}/{v}")))
    return out


def lease_expired(lease: leases.Lease, now: datetime | None = None) -> bool:
    value = lease.labels.get(EXPIRE_LABEL)
    if not value:
        return False
    try:
        until = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False  # containerd ignores an unparsable expiry and keeps the lease
    return (now or datetime.now(UTC)) > until


def build(conn: Connection, snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> Graph:
    """Read every image, container, lease, blob and snapshot of the namespace."""
    g = Graph(conn.namespace)
    for c in content.list_content(conn):
        g.content[c.digest] = c
    for img in images.list_images(conn):
        g.images[img.name] = img
    for ctr in containers.list_containers(conn):
        g.containers[ctr.id] = ctr
    for lease in leases.list_leases(conn):
        g.leases[lease.id] = lease
    lease_resources = {lid: leases.resources(conn, lid) for lid in g.leases}

    # Every snapshotter something names, so labels pointing elsewhere resolve too.
    names = {snapshotter}
    names.update(c.snapshotter for c in g.containers.values() if c.snapshotter)
    for obj_labels in [*(i.labels for i in g.content.values()), *(i.labels for i in g.images.values())]:
        names.update(n[1].split("/", 1)[0] for _, n in label_refs(obj_labels) if n[0] == "snapshot")
    for res in lease_resources.values():
        names.update(r.type.split("/", 1)[1] for r in res if r.type.startswith("snapshots/"))
    for name in sorted(names):
        try:
            found = snapshots.list_snapshots(conn, name)
        except OcixError:
            if name == snapshotter:
                raise
            continue  # a snapshotter this daemon does not have
        for s in found:
            g.snapshots[f"{name}/{s.name}"] = s
    link(g, lease_resources)
    return g


def link(g: Graph, lease_resources: dict[str, list[leases.LeaseResource]]) -> None:
    """Add the roots and edges GC sees among the objects already in `g`."""
    for name, img in g.images.items():
        node: Node = ("image", name)
        g.roots[node] = "image record"
        g.add(node, ("content", img.target.digest), "target")
        for k, ref in label_refs(img.labels):
            g.add(node, ref, k)
    for cid, ctr in g.containers.items():
        node = ("container", cid)
        g.roots[node] = "container record"
        if ctr.snapshotter:
            g.add(node, ("snapshot", f"{ctr.snapshotter}/{ctr.snapshot_key}"), "snapshot_key")
        for k, ref in label_refs(ctr.labels):
            g.add(node, ref, k)
    for lid, lease in g.leases.items():
        if lease_expired(lease):
            continue
        node = ("lease", lid)
        g.roots[node] = "lease"
        if FLAT_LABEL in lease.labels:
            g.roots[node] = "flat lease"
            g.flat_leases.add(node)
        for r in lease_resources.get(lid, []):
            kind = "snapshot" if r.type.startswith("snapshots/") else r.type.rstrip("s")
            key = f"{r.type.split('/', 1)[1]}/{r.id}" if kind == "snapshot" else r.id
            g.add(node, (kind, key), "lease resource")
    for digest, info in g.content.items():
        node = ("content", digest)
        if ROOT_LABEL in info.labels:
            g.roots[node] = f"label {ROOT_LABEL}"
        for k, ref in label_refs(info.labels):
            g.add(node, ref, k)
    for key, snap in g.snapshots.items():
        node = ("snapshot", key)
        if ROOT_LABEL in snap.labels:
            g.roots[node] = f"label {ROOT_LABEL}"
        if snap.parent:
            g.add(node, ("snapshot", f"{key.split('/', 1)[0]}/{snap.parent}"), "parent")
        for k, ref in label_refs(snap.labels):
            g.add(node, ref, k)


def resolve(g: Graph, ref: str, snapshotter: str) -> list[Node]:
    """The content and/or snapshot that REF names: a digest, a snapshot key, or a unique hex
    prefix of a digest (at least 6 characters)."""
    found: list[Node] = []
    if ref in g.content:
        found.append(("content", ref))
    skey = f"{snapshotter}/{ref}"
    if skey in g.snapshots:
        found.append(("snapshot", skey))
    if found:
        return found
    if digest_problem(ref) is None or digest_prefix(ref) is not None:  # else a snapshot key
        digest = resolve_digest(ref, lambda: g.content)
        if digest in g.content:
            return [("content", digest)]
    raise NotFoundError(f"no content or {snapshotter} snapshot {ref!r} in namespace "
                        f"{g.namespace!r}",
                        kind="gc-ref-unknown")
