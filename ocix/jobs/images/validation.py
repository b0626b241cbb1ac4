"""Targets that live elsewhere: `image NAME` (containerd) and `ref REF` (a registry).

Both walk the same image tree as a layout does; only the blob opener differs.  Blobs are
streamed chunk by chunk (content.read / RegistryClient.open_blob), never read whole.
"""

from __future__ import annotations

from typing import IO, Any

from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor
from ...oci.streams import chunk_stream
from ...validate.findings import Report
from ...validate.walker import validate_image_tree


def validate_containerd_image(conn: Any, name: str, *, hostile: bool = False) -> Report:
    """An image in containerd: its record's target, walked through the content store."""
    from ...containerd import content
    from .tree import find_image

    def open_blob(d: Descriptor) -> IO[bytes]:
        return chunk_stream(content.read(conn, d.digest))

    record = find_image(conn, name)
    return validate_image_tree(open_blob, record.target, target=record.name, kind="image",
                               hostile=hostile)


def validate_registry_ref(ref: str, *, hostile: bool = False, **client_options: Any) -> Report:
    """An image in a registry, through ocix.registry's client (options go to RegistryClient)."""
    from ...registry.client import RegistryClient
    from ...registry.reference import parse

    client = RegistryClient(parse(ref), **client_options)
    root = client.resolve().descriptor

    def open_blob(d: Descriptor) -> bytes | IO[bytes]:
        if mt.is_manifest(d.media_type) or mt.is_index(d.media_type):
            return client.fetch_manifest(d)
        return chunk_stream(client.open_blob(d))

    return validate_image_tree(open_blob, root, target=f"{ref} (registry)", kind="image",
                               hostile=hostile)
