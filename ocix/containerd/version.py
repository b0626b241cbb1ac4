"""containerd.services.version.v1.Version."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import empty_pb2

from .connection import Connection


@dataclass(frozen=True)
class DaemonVersion:
    version: str
    revision: str


def get(conn: Connection) -> DaemonVersion:
    r = conn.unary("version", "Version", empty_pb2.Empty(), what="version")
    return DaemonVersion(version=r.version, revision=r.revision)
