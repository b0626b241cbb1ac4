"""Leases with the resources each one holds (Leases.List + Leases.ListResources)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ...containerd import leases
from ...containerd.connection import Connection
from ...errors import NotFoundError


@dataclass(frozen=True)
class LeaseView:
    id: str
    created_at: datetime | None
    expires: str  # the containerd.io/gc.expire label, "" for never
    expired: bool
    labels: dict[str, str] = field(default_factory=dict)
    resources: list[leases.LeaseResource] = field(default_factory=list)


def list_with_resources(conn: Connection) -> list[LeaseView]:
    from .gcgraph import lease_expired

    out = []
    for lease in leases.list_leases(conn):
        try:
            res = leases.resources(conn, lease.id)
        except NotFoundError:
            continue  # removed between the two calls
        out.append(LeaseView(lease.id, lease.created_at, lease.labels.get(leases.EXPIRE_LABEL, ""),
                             lease_expired(lease), lease.labels, res))
    return out


def remove(conn: Connection, lease_id: str, sync: bool = False) -> None:
    try:
        leases.delete(conn, lease_id, sync=sync)
    except NotFoundError:
        raise NotFoundError(f"no lease {lease_id!r} in namespace {conn.namespace!r}",
                            kind="lease-unknown") from None
