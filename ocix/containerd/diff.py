"""containerd.services.diff.v1.Diff: apply a layer blob onto snapshot mounts."""

from __future__ import annotations

from ..oci.descriptor import Descriptor
from ._convert import descriptor, descriptor_pb
from .connection import Connection, load_stub_module
from .snapshots import Mount, mounts_pb

_pb = load_stub_module("services.diff.v1.diff_pb2")


def apply(conn: Connection, layer: Descriptor, mounts: list[Mount], *,
          lease: str | None = None, timeout: float | None = None) -> Descriptor:
    """Unpack `layer` (read from the content store) onto `mounts`; returns the diff ID descriptor."""
    req = _pb.ApplyRequest(diff=descriptor_pb(layer), mounts=mounts_pb(mounts))
    r = conn.unary("diff", "Apply", req, lease=lease, timeout=timeout, what=f"apply {layer.digest}")
    return descriptor(r.applied)
