"""Push an image from an OCI image layout to a registry over the distribution API.

Blobs: HEAD (once per repo in a session), then (cross-repo mount if we pushed it elsewhere in
this session) POST + one streamed PUT, or POST + PATCH chunks + PUT when a chunk size is given.
Bodies stream from the blob file, so a 500 MiB layer never sits in memory. Manifests go up byte for byte (so their
digests hold), children before the index that lists them, the root by digest and then by tag.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests

from ..errors import DigestMismatchError, OcixError, RegistryError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.layout import LayoutImage, blob_path, read_blob
from .http import TracedRegistry

Progress = Callable[[str, int, int], None]  # (digest, bytes done, bytes total)
CHUNK = 1 << 20


@dataclass
class PushResult:
    registry: str
    repo: str
    tag: str
    digest: str  # of the root manifest or index
    media_type: str
    blobs_pushed: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    bytes_pushed: int = 0
    manifests: int = 0
    seconds: float = 0.0

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repo}:{self.tag}"


@dataclass
class _Session:
    client: TracedRegistry
    progress: Progress | None
    chunk_size: int | None
    seen: dict[str, list[str]] = field(default_factory=dict)  # blob digest -> repos that have it


def push(registry: str, image: LayoutImage, *, insecure: bool, progress: Progress | None = None,
         repo: str | None = None, tag: str | None = None, chunk_size: int | None = None,
         client: TracedRegistry | None = None) -> PushResult:
    """Push `image` (from its layout) to `registry` ("host:port") as repo:tag.

    `repo`/`tag` override the image's own (e.g. push library/pause:3.6 also as pause:3.6).
    `chunk_size` switches blob uploads to POST/PATCH.../PUT with chunks of that many bytes.
    """
    sess = _Session(client or TracedRegistry(registry, insecure=insecure), progress, chunk_size)
    return _push(sess, registry, image.layout, image.root, repo or image.repo, tag or image.tag)


def push_many(registry: str, images: Iterable[LayoutImage], *, insecure: bool,
              progress: Progress | None = None, chunk_size: int | None = None
              ) -> list[PushResult]:
    """Push several images over one connection; blobs shared between repos are mounted."""
    sess = _Session(TracedRegistry(registry, insecure=insecure), progress, chunk_size)
    return [_push(sess, registry, im.layout, im.root, im.repo, im.tag) for im in images]


def push_then_tag(registry: str, images: Iterable[LayoutImage], *, insecure: bool,
                  progress: Progress | None = None) -> list[PushResult]:
    """Push every image by digest first and tag them all only then: a failure part-way leaves
    no tag pointing at anything half-pushed."""
    sess = _Session(TracedRegistry(registry, insecure=insecure), progress, None)
    items = list(images)
    results = [_push(sess, registry, im.layout, im.root, im.repo, im.tag, tagged=False)
               for im in items]
    for im, result in zip(items, results, strict=True):
        _push_manifest(sess.client, im.layout, im.repo, im.root, im.tag, result, force=True)
    return results


def _push(sess: _Session, registry: str, layout: Path, root: Descriptor, repo: str, tag: str,
          *, tagged: bool = True) -> PushResult:
    start = time.monotonic()
    result = PushResult(registry, repo, tag, root.digest, root.media_type)
    for manifest, blobs in walk(layout, root):
        for blob in blobs:
            _push_blob(sess, layout, repo, blob, result)
        if manifest.digest != root.digest:
            _push_manifest(sess.client, layout, repo, manifest, manifest.digest, result)
    _push_manifest(sess.client, layout, repo, root, root.digest, result)
    if tagged:
        _push_manifest(sess.client, layout, repo, root, tag, result, force=True)
    result.seconds = time.monotonic() - start
    return result


def _blob_file(layout: Path, desc: Descriptor) -> Path:
    path = blob_path(layout, desc.digest)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise OcixError(f"blob {desc.digest} is missing from the layout {layout}",
                        kind="lab-layout-blob-missing") from None
    if size != desc.size:
        raise DigestMismatchError(f"blob {desc.digest} in {layout} has {size} bytes, "
                                  f"its descriptor says {desc.size}")
    return path


def _push_blob(sess: _Session, layout: Path, repo: str, desc: Descriptor,
               result: PushResult) -> None:
    c = sess.client
    path = _blob_file(layout, desc)
    holders = sess.seen.setdefault(desc.digest, [])
    # A blob this session already put in (or found in) this repo is not asked about again.
    if repo in holders or c.request("HEAD", f"/v2/{repo}/blobs/{desc.digest}", ok=(200, 404),
                                    what=f"check blob {desc.digest}").status_code == 200:
        result.blobs_skipped += 1
        if repo not in holders:
            holders.append(repo)
        _report(sess, desc.digest, desc.size, desc.size)
        return
    query = {"mount": desc.digest, "from": holders[0]} if holders else {}
    start = c.request("POST", f"/v2/{repo}/blobs/uploads/" + (f"?{urlencode(query)}" if query
                                                               else ""),
                      ok=(201, 202), what=f"start upload of {desc.digest}",
                      headers={"Content-Length": "0"})
    if start.status_code == 201:  # mounted from the other repo: nothing to send
        result.blobs_mounted += 1
        holders.append(repo)
        _report(sess, desc.digest, desc.size, desc.size)
        return
    location = _location(c, start)
    with _FileBody(path, desc, sess.progress) as body:
        if sess.chunk_size and desc.size > sess.chunk_size:
            location = _patch_chunks(c, location, body, sess.chunk_size, desc)
            done = c.request("PUT", _with_digest(location, desc.digest), ok=(201,),
                             what=f"finish upload of {desc.digest}",
                             headers={"Content-Length": "0"})
        else:
            done = c.request("PUT", _with_digest(location, desc.digest), ok=(201,),
                             what=f"upload {desc.digest}", data=body,
                             headers={"Content-Type": "application/octet-stream",
                                      "Content-Length": str(desc.size)})
    _check_digest(done, desc.digest)
    result.blobs_pushed += 1
    result.bytes_pushed += desc.size
    holders.append(repo)


def _patch_chunks(c: TracedRegistry, location: str, body: _FileBody, chunk_size: int,
                  desc: Descriptor) -> str:
    offset = 0
    while chunk := body.read(chunk_size):
        end = offset + len(chunk) - 1
        resp = c.request("PATCH", location, ok=(202,), what=f"upload {desc.digest}",
                         data=chunk, headers={"Content-Type": "application/octet-stream",
                                              "Content-Range": f"{offset}-{end}",
                                              "Content-Length": str(len(chunk))})
        location = _location(c, resp)
        offset = end + 1
    return location


def _push_manifest(c: TracedRegistry, layout: Path, repo: str, desc: Descriptor, ref: str,
                   result: PushResult, *, force: bool = False) -> None:
    path = _blob_file(layout, desc)
    if not force:
        head = c.request("HEAD", f"/v2/{repo}/manifests/{ref}", ok=(200, 404),
                         what=f"check manifest {ref}", headers={"Accept": desc.media_type})
        if head.status_code == 200:
            return
    data = path.read_bytes()  # manifests are small (the registry caps them at 4 MiB)
    resp = c.request("PUT", f"/v2/{repo}/manifests/{ref}", ok=(201,),
                     what=f"push manifest {repo}:{ref}", data=data,
                     headers={"Content-Type": desc.media_type})
    _check_digest(resp, desc.digest)
    result.manifests += 1


def _check_digest(resp: requests.Response, digest: str) -> None:
    got = resp.headers.get("Docker-Content-Digest")
    if got and got != digest:
        raise DigestMismatchError(f"the registry stored {got}, we sent {digest}")


def _location(c: TracedRegistry, resp: requests.Response) -> str:
    loc = resp.headers.get("Location", "")
    if not loc:
        raise RegistryError(f"registry {c.hostname} started an upload without a Location header")
    return urljoin(c.url("/"), loc)  # relative locations are relative to the registry


def _with_digest(location: str, digest: str) -> str:
    parts = urlsplit(location)
    query = (parts.query + "&" if parts.query else "") + urlencode({"digest": digest})
    return urlunsplit(parts._replace(query=query))


def _report(sess: _Session, digest: str, done: int, total: int) -> None:
    if sess.progress is not None:
        sess.progress(digest, done, total)


class _FileBody:
    """A streamed request body over a blob file with a known length, reporting progress."""

    def __init__(self, path: Path, desc: Descriptor, progress: Progress | None) -> None:
        self._f: BinaryIO = open(path, "rb")  # noqa: SIM115 (closed by __exit__)
        self.size = desc.size
        self.digest = desc.digest
        self._progress = progress
        self._reported = -1

    def __enter__(self) -> _FileBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n if n and n > 0 else CHUNK)
        pos = self._f.tell()
        # Report each MiB, not each 16 KiB read of urllib3.
        if self._progress and pos != self._reported and (pos - self._reported >= CHUNK
                                                          or pos == self.size):
            self._reported = pos
            self._progress(self.digest, pos, self.size)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read(CHUNK):
            yield data

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        self._reported = -1
        return self._f.seek(offset, whence)


def _load_manifest(layout: Path, desc: Descriptor) -> dict[str, Any]:
    doc = json.loads(read_blob(layout, desc.digest))
    if not isinstance(doc, dict):
        raise OcixError(f"{desc.digest}: not a JSON object")
    return doc


def walk(layout: Path, root: Descriptor) -> Iterator[tuple[Descriptor, list[Descriptor]]]:
    """Each manifest under `root` with the blobs it references (config first), children first."""
    doc = _load_manifest(layout, root)
    if mt.is_index(root.media_type):
        for child in doc.get("manifests", []):
            yield from walk(layout, Descriptor.from_json(child))
    refs = []
    if mt.is_manifest(root.media_type):
        refs = [Descriptor.from_json(doc["config"])] + [Descriptor.from_json(x)
                                                        for x in doc.get("layers", [])]
    yield root, refs
