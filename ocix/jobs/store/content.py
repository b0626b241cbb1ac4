"""Find one blob by digest or unique digest prefix, with one clear error when it is not there."""

from __future__ import annotations

import json

from ...containerd import content
from ...containerd.connection import Connection
from ...errors import NotFoundError, OcixError
from ...oci.digest import resolve_digest


def resolve(conn: Connection, ref: str) -> str:
    """The full digest REF names (oci.digest.resolve_digest's rule over this namespace's blobs)."""
    digest = resolve_digest(ref, lambda: (i.digest for i in content.list_content(conn)))
    if digest is None:
        raise _missing(conn, ref)
    return digest


def info(conn: Connection, ref: str) -> content.Info:
    digest = resolve(conn, ref)
    try:
        return content.info(conn, digest)
    except NotFoundError:
        raise _missing(conn, digest) from None


def _missing(conn: Connection, ref: str) -> NotFoundError:
    return NotFoundError(f"no blob {ref} in namespace {conn.namespace!r}",
                         kind="blob-unknown")


def json_document(conn: Connection, blob: content.Info, limit: int = 16 << 20) -> object:
    """The blob parsed as JSON, or one clear error when it is not (a layer, say)."""

    if blob.size > limit:
        raise OcixError(f"{blob.digest} is {blob.size} bytes: too large to be a JSON document",
                        hint="drop --json to stream the raw bytes")
    try:
        return json.loads(content.read_blob(conn, blob.digest, limit))
    except ValueError:
        raise OcixError(f"{blob.digest} is not a JSON document",
                        hint="drop --json to stream the raw bytes") from None
