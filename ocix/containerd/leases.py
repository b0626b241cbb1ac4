"""containerd.services.leases.v1.Leases: keep content and snapshots from GC while we work."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..errors import NotFoundError, OcixError
from ._convert import timestamp
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.leases.v1.leases_pb2")

EXPIRE_LABEL = "containerd.io/gc.expire"
OWNER_LABEL = "ocix.io/owner"  # "<hostname>:<pid>": lets a later run drop leases of dead runs

# Leases of this process that `temporary` could not delete (containerd was gone): the owner pid
# is alive, so only this process knows they are stale.
_undeleted: set[str] = set()


@dataclass(frozen=True)
class Lease:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class LeaseResource:
    id: str
    type: str


def new_id(prefix: str = "ocix") -> str:
    return f"{prefix}-{time.time_ns()}-{os.urandom(4).hex()}"


def create(conn: Connection, lease_id: str | None = None, *,
           expire: timedelta | None = timedelta(hours=24), labels: dict[str, str] | None = None,
           owned: bool = True) -> Lease:
    """A new lease; `expire` None never expires, `owned` False leaves out the owner label (a
    lease the user keeps, which no later run may treat as stale)."""
    all_labels: dict[str, str] = {}
    if expire is not None:
        all_labels[EXPIRE_LABEL] = (datetime.now(UTC) + expire).strftime("%Y-%m-%dT%H:%M:%SZ")
    if owned:
        all_labels[OWNER_LABEL] = f"{socket.gethostname()}:{os.getpid()}"
    all_labels.update(labels or {})  # the caller's labels win, as before
    r = conn.unary("leases", "Create", _pb.CreateRequest(id=lease_id or new_id(), labels=all_labels),
                   what="create lease")
    return Lease(r.lease.id, dict(r.lease.labels), timestamp(r.lease.created_at))


def delete(conn: Connection, lease_id: str, *, sync: bool = False) -> None:
    conn.unary("leases", "Delete", _pb.DeleteRequest(id=lease_id, sync=sync),
               what=f"remove lease {lease_id}")
    _undeleted.discard(lease_id)


def list_leases(conn: Connection, filters: list[str] | None = None) -> list[Lease]:
    r = conn.unary("leases", "List", _pb.ListRequest(filters=filters or []), what="list leases")
    return sorted((Lease(x.id, dict(x.labels), timestamp(x.created_at)) for x in r.leases),
                  key=lambda x: x.id)


def add_resource(conn: Connection, lease_id: str, resource_id: str, resource_type: str) -> None:
    """Make the lease hold a resource it did not create, e.g. ("sha256:...", "snapshots/overlayfs")."""
    conn.unary("leases", "AddResource",
               _pb.AddResourceRequest(id=lease_id,
                                      resource=_pb.Resource(id=resource_id, type=resource_type)),
               what=f"add {resource_type} {resource_id} to lease {lease_id}")


def resources(conn: Connection, lease_id: str) -> list[LeaseResource]:
    r = conn.unary("leases", "ListResources", _pb.ListResourcesRequest(id=lease_id),
                   what=f"resources of lease {lease_id}")
    return [LeaseResource(x.id, x.type) for x in r.resources]


def stale_ocix_leases(conn: Connection) -> list[Lease]:
    """ocix leases whose owning process on this host is gone (killed, crashed, containerd died),
    and this process's own leases that it failed to delete earlier."""
    host = socket.gethostname()
    out = []
    for lease in list_leases(conn):
        owner = lease.labels.get(OWNER_LABEL, "")
        h, _, pid = owner.rpartition(":")
        if h != host or not pid.isdigit():
            continue
        if lease.id in _undeleted or (int(pid) != os.getpid() and not _pid_alive(int(pid))):
            out.append(lease)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@contextmanager
def temporary(conn: Connection, labels: dict[str, str] | None = None) -> Iterator[Lease]:
    """A lease deleted on the way out, on success, failure and Ctrl-C alike."""
    lease = create(conn, labels=labels)
    try:
        yield lease
    finally:
        try:
            delete(conn, lease.id)
        except NotFoundError:
            pass
        except OcixError:
            # containerd is gone; the lease expires by itself and the next run removes it.
            _undeleted.add(lease.id)
