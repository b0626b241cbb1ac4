"""Upload a blob that arrives as a stream (from another registry or a layout), verified first.

The stream is hashed while it is spooled to a temporary file (in memory up to SPOOL bytes);
only a blob whose size and digest match its descriptor is sent (POST, then one PUT with
?digest=), so a corrupt source never reaches the destination.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from ..errors import DigestMismatchError, RegistryError
from ..oci.descriptor import Descriptor
from .client import RegistryClient
from .hosts import Endpoint

SPOOL = 8 << 20


def verified(desc: Descriptor, chunks: Iterable[bytes], *, what: str = "blob",
             writes: bool = True) -> Iterator[bytes]:
    """The chunks as they arrive, counted and hashed: DigestMismatchError past the descriptor's
    size, or at the end when the digest or the length differ (an unknown algorithm: at once).
    `what` names the blob in the message; `writes` says the caller writes only a whole blob."""
    algo = desc.digest.split(":", 1)[0]
    try:
        hasher = hashlib.new(algo)
    except ValueError:
        raise DigestMismatchError(f"unsupported digest algorithm in {desc.digest}") from None

    def counted() -> Iterator[bytes]:
        n = 0
        for chunk in chunks:
            n += len(chunk)
            if n > desc.size:
                raise DigestMismatchError(f"{what} {desc.digest} is longer than its descriptor's "
                                          f"{desc.size} bytes: refused")
            hasher.update(chunk)
            yield chunk
        actual = f"{algo}:{hasher.hexdigest()}"
        if actual != desc.digest or n != desc.size:
            said = f" ({n} bytes): refused, nothing written" if writes else ": refused"
            raise DigestMismatchError(f"{what} {desc.digest} has digest {actual}{said}")

    return counted()


def spool_verified(desc: Descriptor, chunks: Iterable[bytes]) -> IO[bytes]:
    """The blob in a temporary file positioned at 0, or DigestMismatchError."""
    stream = verified(desc, chunks)
    f: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 (the caller closes)
    try:
        for chunk in stream:
            f.write(chunk)
    except BaseException:
        f.close()
        raise
    f.seek(0)
    return f


def blob_exists(client: RegistryClient, ep: Endpoint, desc: Descriptor) -> bool:
    reg = client.transport(ep)
    url = f"{ep.base}/{client.ref.repository}/blobs/{desc.digest}"
    return bool(reg.request("HEAD", url, ok=(200, 404),
                            what=f"check blob {desc.digest}").status_code == 200)


def upload_verified(client: RegistryClient, ep: Endpoint, desc: Descriptor,
                    chunks: Iterable[bytes]) -> None:
    """Verify the stream against `desc`, then POST + PUT it to the client's repository."""
    with spool_verified(desc, chunks) as body:
        reg = client.transport(ep)
        start = reg.request("POST", f"{ep.base}/{client.ref.repository}/blobs/uploads/",
                            ok=(202,), what=f"start upload of {desc.digest}",
                            headers={"Content-Length": "0"})
        loc = start.headers.get("Location", "")
        if not loc:
            raise RegistryError(f"registry {ep.netloc} started an upload without a Location header")
        location = urljoin(f"{ep.scheme}://{ep.netloc}/", loc)
        if urlsplit(location).netloc != ep.netloc:
            raise RegistryError(f"registry {ep.netloc} sent an upload Location on another host "
                                f"({urlsplit(location).netloc}): refused")
        parts = urlsplit(location)
        query = (parts.query + "&" if parts.query else "") + urlencode({"digest": desc.digest})
        done = reg.request("PUT", urlunsplit(parts._replace(query=query)), ok=(201,),
                           what=f"upload {desc.digest}", data=body,
                           headers={"Content-Type": "application/octet-stream",
                                    "Content-Length": str(desc.size)})
        got = done.headers.get("Docker-Content-Digest")
        if got and got != desc.digest:
            raise DigestMismatchError(f"the registry stored {got}, we sent {desc.digest}")
