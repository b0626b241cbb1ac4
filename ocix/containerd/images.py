"""containerd.services.images.v1.Images: the image records (name -> target descriptor)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf import field_mask_pb2

from ..errors import AlreadyExistsError
from ..oci.descriptor import Descriptor
from ._convert import descriptor, descriptor_pb, timestamp
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.images.v1.images_pb2")


@dataclass(frozen=True)
class Image:
    name: str
    target: Descriptor
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _image(pb: object) -> Image:
    return Image(name=pb.name, target=descriptor(pb.target), labels=dict(pb.labels),  # type: ignore[attr-defined]
                 created_at=timestamp(pb.created_at), updated_at=timestamp(pb.updated_at))  # type: ignore[attr-defined]


def list_images(conn: Connection, filters: list[str] | None = None) -> list[Image]:
    r = conn.unary("images", "List", _pb.ListImagesRequest(filters=filters or []), what="list images")
    return sorted((_image(i) for i in r.images), key=lambda i: i.name)


def get(conn: Connection, name: str) -> Image:
    r = conn.unary("images", "Get", _pb.GetImageRequest(name=name), what=f"image {name}")
    return _image(r.image)


def put(conn: Connection, name: str, target: Descriptor, labels: dict[str, str] | None = None,
        lease: str | None = None) -> Image:
    """Create the record, or update target and labels if it exists (like the Go client)."""
    img = _pb.Image(name=name, target=descriptor_pb(target), labels=labels or {})
    try:
        r = conn.unary("images", "Create", _pb.CreateImageRequest(image=img), lease=lease,
                       what=f"create image {name}")
    except AlreadyExistsError:
        mask = field_mask_pb2.FieldMask(paths=["target", "labels"])
        r = conn.unary("images", "Update", _pb.UpdateImageRequest(image=img, update_mask=mask),
                       lease=lease, what=f"update image {name}")
    return _image(r.image)


def delete(conn: Connection, name: str, sync: bool = False) -> None:
    conn.unary("images", "Delete", _pb.DeleteImageRequest(name=name, sync=sync),
               what=f"remove image {name}")
