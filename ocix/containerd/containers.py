"""containerd.services.containers.v1.Containers: container metadata records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._convert import timestamp
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.containers.v1.containers_pb2")

SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options"  # bare name, as `ctr c info` shows it
DEFAULT_RUNTIME = "io.containerd.runc.v2"
STOP_SIGNAL_LABEL = "io.containerd.image.config.stop-signal"


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
    runtime_binary: str = ""  # containerd.runc.v1.Options.binary_name ("" = runc)


def _container(pb: Any) -> Container:
    spec = None
    if pb.spec and pb.spec.value:
        try:
            spec = json.loads(pb.spec.value)
        except ValueError:
            spec = None
    binary = ""
    if pb.runtime.options.type_url.endswith(RUNC_OPTIONS_TYPE_URL) and pb.runtime.options.value:
        opts = load_stub_module("runtime.v2.runc.options.oci_pb2").Options()
        try:
            opts.ParseFromString(pb.runtime.options.value)
            binary = opts.binary_name
        except Exception:  # a foreign runtime's options: show nothing rather than fail a listing
            binary = ""
    return Container(id=pb.id, image=pb.image, runtime=pb.runtime.name, snapshotter=pb.snapshotter,
                     snapshot_key=pb.snapshot_key, labels=dict(pb.labels), spec=spec,
                     created_at=timestamp(pb.created_at), updated_at=timestamp(pb.updated_at),
                     runtime_binary=binary)


def _runc_options_any(binary_name: str = "") -> Any:
    """The container's runtime options as ctr writes them: containerd.runc.v1.Options in an Any
    whose type_url is the bare message name (containerd 1.6's typeurl rejects the
    type.googleapis.com/ form)."""
    from google.protobuf import any_pb2

    opts = load_stub_module("runtime.v2.runc.options.oci_pb2").Options(binary_name=binary_name)
    return any_pb2.Any(type_url=RUNC_OPTIONS_TYPE_URL, value=opts.SerializeToString())


def _spec_any(spec_json: bytes) -> Any:
    from google.protobuf import any_pb2

    return any_pb2.Any(type_url=SPEC_TYPE_URL, value=spec_json)


def create(conn: Connection, container_id: str, *, image: str, spec_json: bytes,
           snapshot_key: str, snapshotter: str = "overlayfs", runtime: str = DEFAULT_RUNTIME,
           runtime_binary: str = "", labels: dict[str, str] | None = None,
           lease: str | None = None) -> Container:
    """Containers.Create with the spec as JSON bytes, like the Go client's WithSpec."""
    c = _pb.Container(id=container_id, image=image, labels=labels or {},
                      runtime=_pb.Container.Runtime(name=runtime,
                                                    options=_runc_options_any(runtime_binary)),
                      spec=_spec_any(spec_json), snapshotter=snapshotter, snapshot_key=snapshot_key)
    r = conn.unary("containers", "Create", _pb.CreateContainerRequest(container=c), lease=lease,
                   what=f"create container {container_id}")
    return _container(r.container)


def update_labels(conn: Connection, container_id: str, labels: dict[str, str]) -> Container:
    """Set (or with an empty value, remove) labels; other fields stay."""
    from google.protobuf import field_mask_pb2

    c = _pb.Container(id=container_id, labels={k: v for k, v in labels.items() if v})
    mask = field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in labels])
    r = conn.unary("containers", "Update", _pb.UpdateContainerRequest(container=c, update_mask=mask),
                   what=f"update container {container_id}")
    return _container(r.container)


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
