"""containerd.services.containers.v1.Containers: container metadata records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._convert import timestamp
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.containers.v1.containers_pb2")


@dataclass(frozen=True)
class Container:
    id: str
    image: str
    runtime: str
    snapshotter: str
    snapshot_key: str
    labels: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _container(pb: Any) -> Container:
    spec = None
    if pb.spec and pb.spec.value:
        try:
            spec = json.loads(pb.spec.value)
        except ValueError:
            spec = None
    return Container(id=pb.id, image=pb.image, runtime=pb.runtime.name, snapshotter=pb.snapshotter,
                     snapshot_key=pb.snapshot_key, labels=dict(pb.labels), spec=spec,
                     created_at=timestamp(pb.created_at), updated_at=timestamp(pb.updated_at))


def list_containers(conn: Connection, filters: list[str] | None = None) -> list[Container]:
    r = conn.unary("containers", "List", _pb.ListContainersRequest(filters=filters or []),
                   what="list containers")
    return sorted((_container(c) for c in r.containers), key=lambda c: c.id)


def get(conn: Connection, container_id: str) -> Container:
    r = conn.unary("containers", "Get", _pb.GetContainerRequest(id=container_id),
                   what=f"container {container_id}")
    return _container(r.container)


def delete(conn: Connection, container_id: str) -> None:
    conn.unary("containers", "Delete", _pb.DeleteContainerRequest(id=container_id),
               what=f"remove container {container_id}")
