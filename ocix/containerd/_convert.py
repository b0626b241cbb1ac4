"""Protobuf <-> dataclass helpers shared by the service wrappers (private to containerd/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..oci.descriptor import Descriptor


def timestamp(ts: Any) -> datetime | None:
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC)


def descriptor(pb: Any) -> Descriptor:
    return Descriptor(media_type=pb.media_type, digest=pb.digest, size=pb.size,
                      annotations=dict(getattr(pb, "annotations", {}) or {}))


def descriptor_pb(desc: Descriptor) -> Any:
    from .connection import load_stub_module

    types = load_stub_module("types.descriptor_pb2")
    return types.Descriptor(media_type=desc.media_type, digest=desc.digest, size=desc.size,
                            annotations=dict(desc.annotations))
