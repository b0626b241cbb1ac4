"""Find one blob by digest or unique digest prefix, with one clear error when it is not there."""

from __future__ import annotations

from ..containerd import content
from ..containerd.connection import Connection
from ..errors import InvalidArgumentError, NotFoundError, OcixError
from ..oci.digest import digest_problem

_HEX = set("0123456789abcdef")


def resolve(conn: Connection, ref: str) -> str:
    """The full digest REF names: itself, or the one blob whose hex starts with REF (6+ chars)."""
    if ":" in ref:
        problem = digest_problem(ref)
        if problem:
            raise InvalidArgumentError(f"invalid digest: {problem}")
        return ref
    if len(ref) < 6 or not set(ref.lower()) <= _HEX:
        raise InvalidArgumentError(f"{ref!r} is neither a digest (sha256:…) nor a hex prefix "
                                   f"of one (6 characters or more)")
    found = [i.digest for i in content.list_content(conn)
             if i.digest.split(":", 1)[-1].startswith(ref.lower())]
    if len(found) > 1:
        raise OcixError(f"{ref!r} is ambiguous: {len(found)} blobs start with it",
                        hint="give more of the digest")
    if not found:
        raise _missing(conn, ref)
    return found[0]


def info(conn: Connection, ref: str) -> content.Info:
    digest = resolve(conn, ref)
    try:
        return content.info(conn, digest)
    except NotFoundError:
        raise _missing(conn, digest) from None


def _missing(conn: Connection, ref: str) -> NotFoundError:
    return NotFoundError(f"no blob {ref} in namespace {conn.namespace!r}",
                         hint="list blobs with `ocix content ls`")


def json_document(conn: Connection, blob: content.Info, limit: int = 16 << 20) -> object:
    """The blob parsed as JSON, or one clear error when it is not (a layer, say)."""
    import json

    if blob.size > limit:
        raise OcixError(f"{blob.digest} is {blob.size} bytes: too large to be a JSON document",
                        hint="drop --json to stream the raw bytes")
    try:
        return json.loads(content.read_blob(conn, blob.digest, limit))
    except ValueError:
        raise OcixError(f"{blob.digest} is not a JSON document",
                        hint="drop --json to stream the raw bytes") from None
