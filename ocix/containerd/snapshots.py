"""containerd.services.snapshots.v1.Snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._convert import timestamp
from .connection import Connection, load_stub_module
from .defaults import DEFAULT_SNAPSHOTTER as DEFAULT_SNAPSHOTTER

_pb = load_stub_module("services.snapshots.v1.snapshots_pb2")
KINDS = {0: "unknown", 1: "view", 2: "active", 3: "committed"}


@dataclass(frozen=True)
class Mount:
    type: str
    source: str
    target: str = ""
    options: list[str] = field(default_factory=list)


def mounts_pb(mounts: Sequence[Mount]) -> list[Any]:
    mount_pb = load_stub_module("types.mount_pb2")
    return [mount_pb.Mount(type=m.type, source=m.source, target=m.target, options=m.options)
            for m in mounts]


@dataclass(frozen=True)
class Snapshot:
    name: str
    parent: str
    kind: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Usage:
    size: int
    inodes: int


def _mounts(pbs: Any) -> list[Mount]:
    return [Mount(m.type, m.source, m.target, list(m.options)) for m in pbs]


def _snap(pb: Any) -> Snapshot:
    return Snapshot(pb.name, pb.parent, KINDS.get(pb.kind, str(pb.kind)), dict(pb.labels),
                    timestamp(pb.created_at), timestamp(pb.updated_at))


def stat(conn: Connection, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER,
         lease: str | None = None) -> Snapshot:
    r = conn.unary("snapshots", "Stat", _pb.StatSnapshotRequest(snapshotter=snapshotter, key=key),
                   lease=lease, what=f"snapshot {key}")
    return _snap(r.info)


def prepare(conn: Connection, key: str, parent: str = "", *, snapshotter: str = DEFAULT_SNAPSHOTTER,
            labels: dict[str, str] | None = None, lease: str | None = None) -> list[Mount]:
    req = _pb.PrepareSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent,
                                     labels=labels or {})
    return _mounts(conn.unary("snapshots", "Prepare", req, lease=lease,
                              what=f"prepare snapshot {key}").mounts)


def view(conn: Connection, key: str, parent: str, *, snapshotter: str = DEFAULT_SNAPSHOTTER,
         lease: str | None = None) -> list[Mount]:
    req = _pb.ViewSnapshotRequest(snapshotter=snapshotter, key=key, parent=parent)
    return _mounts(conn.unary("snapshots", "View", req, lease=lease, what=f"view {parent}").mounts)


def mounts(conn: Connection, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER) -> list[Mount]:
    req = _pb.MountsRequest(snapshotter=snapshotter, key=key)
    return _mounts(conn.unary("snapshots", "Mounts", req, what=f"mounts of {key}").mounts)


def commit(conn: Connection, name: str, key: str, *, snapshotter: str = DEFAULT_SNAPSHOTTER,
           labels: dict[str, str] | None = None, lease: str | None = None) -> None:
    req = _pb.CommitSnapshotRequest(snapshotter=snapshotter, name=name, key=key, labels=labels or {})
    conn.unary("snapshots", "Commit", req, lease=lease, what=f"commit snapshot {name}")


def remove(conn: Connection, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER,
           lease: str | None = None) -> None:
    conn.unary("snapshots", "Remove", _pb.RemoveSnapshotRequest(snapshotter=snapshotter, key=key),
               lease=lease, what=f"remove snapshot {key}")


def list_snapshots(conn: Connection, snapshotter: str = DEFAULT_SNAPSHOTTER,
                   filters: list[str] | None = None) -> list[Snapshot]:
    out: list[Snapshot] = []
    req = _pb.ListSnapshotsRequest(snapshotter=snapshotter, filters=filters or [])
    for r in conn.server_stream("snapshots", "List", req, what="list snapshots"):
        out.extend(_snap(i) for i in r.info)
    return sorted(out, key=lambda s: s.name)


def usage(conn: Connection, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER) -> Usage:
    r = conn.unary("snapshots", "Usage", _pb.UsageRequest(snapshotter=snapshotter, key=key),
                   what=f"usage of {key}")
    return Usage(r.size, r.inodes)
