"""Targets that live elsewhere: `image NAME` (containerd) and `ref REF` (a registry).

Both walk the same image tree as a layout does; only the blob opener differs.  Blobs are
streamed chunk by chunk (content.read / RegistryClient.open_blob), never read whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from ..errors import NotFoundError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from .findings import Report
from .walker import validate_image_tree


class _ChunkReader(io.RawIOBase):
    """A binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def validate_containerd_image(conn: Any, name: str) -> Report:
    """An image in containerd: its record's target, walked through the content store."""
    from ..containerd import content, images
    from ..registry.reference import parse

    def open_blob(d: Descriptor) -> IO[bytes]:
        return io.BufferedReader(_ChunkReader(iter(content.read(conn, d.digest))))

    try:
        record = images.get(conn, name)
    except NotFoundError:
        normalized = parse(name).name  # `busybox` names docker.io/library/busybox:latest
        if normalized == name:
            raise
        record = images.get(conn, normalized)
    return validate_image_tree(open_blob, record.target, target=record.name, kind="image")


def validate_registry_ref(ref: str, **client_options: Any) -> Report:
    """An image in a registry, through ocix.registry's client (options go to RegistryClient)."""
    from ..registry.client import RegistryClient
    from ..registry.reference import parse

    client = RegistryClient(parse(ref), **client_options)
    root = client.resolve().descriptor

    def open_blob(d: Descriptor) -> bytes | IO[bytes]:
        if mt.is_manifest(d.media_type) or mt.is_index(d.media_type):
            return client.fetch_manifest(d)
        return io.BufferedReader(_ChunkReader(iter(client.open_blob(d))))

    return validate_image_tree(open_blob, root, target=f"{ref} (registry)", kind="image")
