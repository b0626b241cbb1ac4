"""Targets that live elsewhere: `image NAME` (containerd) and `ref REF` (a registry).

Both walk the same image tree as a layout does; only the blob opener differs.  Blobs are
streamed chunk by chunk (content.read / RegistryClient.open_blob), never read whole.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterator
from types import ModuleType
from typing import IO, Any

from ..errors import OcixError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from .findings import Report
from .walker import validate_image_tree


class TargetUnavailable(OcixError):
    """This build cannot reach the kind of target asked for: not a finding about the image."""

    exit_code = 2


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


def _module(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise TargetUnavailable(f"validating {what} needs {name}, which this build of ocix does "
                                "not have yet", hint="validate an image layout directory instead "
                                "(e.g. one written by `skopeo copy ... oci:DIR`)") from e


def validate_containerd_image(conn: Any, name: str) -> Report:
    """An image in containerd: its record's target, walked through the content store."""
    content = _module("ocix.containerd.content", f"image {name!r} from containerd")
    from ..containerd import images

    def open_blob(d: Descriptor) -> IO[bytes]:
        return io.BufferedReader(_ChunkReader(iter(content.read(conn, d.digest))))

    target = images.get(conn, name).target
    return validate_image_tree(open_blob, target, target=f"image {name}", kind="image")


def validate_registry_ref(ref: str, **client_options: Any) -> Report:
    """An image in a registry, through ocix.registry's client (options go to RegistryClient)."""
    client_mod = _module("ocix.registry.client", f"ref {ref!r} from a registry")
    reference = _module("ocix.registry.reference", f"ref {ref!r} from a registry")
    client = client_mod.RegistryClient(reference.parse(ref), **client_options)
    root = client.resolve().descriptor

    def open_blob(d: Descriptor) -> bytes | IO[bytes]:
        if mt.is_manifest(d.media_type) or mt.is_index(d.media_type):
            return client.fetch_manifest(d)
        return io.BufferedReader(_ChunkReader(iter(client.open_blob(d))))

    return validate_image_tree(open_blob, root, target=f"ref {ref}", kind="image")
