"""Resolve and fetch from a registry over the distribution API, on oras-py.

oras-py's `Registry.do_request` answers 401/403 with the bearer or basic flow; around it this
module adds what a pull needs: mirrors from the hosts dir tried in order, the manifest Accept
list, Docker-Content-Digest checked against the body, Range requests to resume, retries with
backoff on 429/5xx and dropped connections, one `--trace` line per request, and errors that
keep the registry's message.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import trace
from ..errors import (
    AuthError,
    DigestMismatchError,
    OcixError,
    RegistryError,
    UnreachableError,
    from_http,
)
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.digest import sha256_digest
from .auth import Credentials, credentials_for
from .hosts import Endpoint, HostsConfig, load
from .reference import Reference

# Blob bodies are read in 256 KiB pieces (as fast as 1 MiB here): a connection that breaks
# mid-read loses the piece being read, and the resume starts after the last whole piece.
READ = 256 << 10
MAX_MANIFEST = 4 << 20  # containerd's limit for a manifest or index body
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Resolved:
    name: str
    descriptor: Descriptor
    endpoint: str


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_delay)
        return min(self.base_delay * (2 ** attempt), self.max_delay) * (0.5 + random.random() / 2)


def load_transport() -> Any:
    """Import the HTTP layer (oras-py and requests: the largest import of a pull in `bench/startup`) and return TracedRegistry.

    Safe to call from a thread: a pull starts it before its first gRPC calls so the import
    overlaps them.  jsonschema, which oras imports but ocix never has it use, loads lazily."""
    from ..startup import lazy_import

    lazy_import("jsonschema")
    from .http import TracedRegistry

    return TracedRegistry


def preload_transport() -> threading.Thread:
    """Start importing the HTTP layer in the background; the caller's imports wait for it."""
    t = threading.Thread(target=load_transport, name="ocix-import", daemon=True)
    t.start()
    return t


class RegistryClient:
    """One repository on one registry host, through its endpoints in order."""

    def __init__(self, ref: Reference, *, hosts_dir: str | None = None, plain_http: bool = False,
                 credentials: Credentials | None = None, retry: RetryPolicy | None = None) -> None:
        from ..startup import resume_gc

        resume_gc()
        self.ref = ref
        self.config: HostsConfig = load(ref.host, hosts_dir, plain_http=plain_http)
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        # The body resolve() read: fetch_manifest() of the same digest needs no second GET.
        self._manifest_cache: tuple[str, bytes] | None = None
        self._registries: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- transport -------------------------------------------------------------------------
    def _registry(self, ep: Endpoint) -> Any:
        with self._lock:
            reg = self._registries.get(ep.base)
            if reg is None:
                TracedRegistry = load_transport()
                verify: bool | str = not ep.skip_verify
                if ep.ca and verify:
                    verify = ep.ca[0]
                reg = TracedRegistry(ep.netloc, insecure=ep.scheme == "http", tls_verify=verify)
                reg.session.headers["User-Agent"] = "ocix/0.1 (+oras-py)"
                creds = self.credentials or credentials_for(self.ref.host)
                if creds:
                    reg.auth.set_basic_auth(creds.username, creds.password)
                self._registries[ep.base] = reg
            return reg

    def _request(self, ep: Endpoint, method: str, path: str, *, headers: dict[str, str] | None = None,
                 stream: bool = False, what: str = "") -> Any:
        """One request with retries on 429/5xx and dropped connections; returns a 2xx response.

        A refused connection or an unknown host fails at once: retrying cannot help, and a
        mirror list should move on quickly.
        """
        return self.request_url(ep, method, f"{ep.base}/{self.ref.repository}/{path}",
                                headers=headers, stream=stream, what=what)

    def request_url(self, ep: Endpoint, method: str, url: str, *,
                    headers: dict[str, str] | None = None, stream: bool = False,
                    what: str = "") -> Any:
        """_request for a full URL on `ep` (a catalog page, a Link header's next page)."""
        reg = self._registry(ep)
        for attempt in range(self.retry.attempts):
            try:
                resp = reg.do_request(url, method, headers=dict(headers or {}), stream=stream)
            except UnreachableError as e:
                if not e.retryable or attempt + 1 == self.retry.attempts:
                    raise
                time.sleep(self.retry.delay(attempt))
                continue
            if resp.status_code < 300:
                return resp
            if resp.status_code in RETRY_STATUS and attempt + 1 < self.retry.attempts:
                delay = self.retry.delay(attempt, resp.headers.get("Retry-After"))
                resp.close()
                time.sleep(delay)
                continue
            err = from_http(resp, what=what)
            resp.close()
            raise err
        raise AssertionError("unreachable: the loop returns or raises")

    def _endpoints(self, capability: str) -> list[Endpoint]:
        eps = [e for e in self.config.endpoints if e.can(capability)]
        if not eps:
            raise OcixError(f"no endpoint for {self.ref.host} has the {capability!r} capability",
                            hint=f"check {self.config.source or 'the hosts dir'}")
        return eps

    def transport(self, ep: Endpoint) -> Any:
        """The oras-py Registry (TracedRegistry) for `ep`, with this client's credentials."""
        return self._registry(ep)

    def endpoints(self, capability: str) -> list[Endpoint]:
        """The endpoints that may be used for `capability`, in the order to try them."""
        return self._endpoints(capability)

    def _each(self, capability: str) -> Iterator[Endpoint]:
        """Mirrors in order, then the server; a mirror's failure moves on to the next."""
        eps = self._endpoints(capability)
        for i, ep in enumerate(eps):
            yield ep
            if i + 1 < len(eps):
                trace.emit("http", f"fallback from {ep.base}", 0.0, "NEXT")

    # -- resolve and fetch --------------------------------------------------------------------
    def resolve(self, tag: str = "") -> Resolved:
        """Tag or digest (or another `tag` of the repository) -> the root descriptor."""
        errors: list[OcixError] = []
        for ep in self._each("resolve"):
            try:
                desc = self._resolve_on(ep, tag)
                return Resolved(self.ref.name, desc, ep.base)
            except (RegistryError, UnreachableError, DigestMismatchError) as e:
                if isinstance(e, AuthError) and not ep.mirror:
                    raise
                errors.append(e)
        raise best_error(errors, f"resolve {self.ref.name}")

    def _resolve_on(self, ep: Endpoint, tag: str = "") -> Descriptor:
        headers = {"Accept": mt.RESOLVE_ACCEPT}
        resp = self._request(ep, "GET", f"manifests/{tag or self.ref.object}", headers=headers,
                             stream=True, what=f"resolve {self.ref.name}")
        try:
            body = _read_capped(resp, MAX_MANIFEST, f"manifest of {self.ref.name}")
        finally:
            resp.close()
        actual = sha256_digest(body)
        header = resp.headers.get("Docker-Content-Digest", "")
        if self.ref.digest and not tag and actual != self.ref.digest:
            raise DigestMismatchError(f"{self.ref.name}: registry sent a manifest with digest {actual}, "
                                      f"not the {self.ref.digest} asked for")
        if header and header != actual:
            # The header is only trusted when it matches the bytes we got.
            trace.emit("http", f"Docker-Content-Digest {header} != body {actual}", 0.0, "IGNORED")
        media_type = _media_type(resp.headers.get("Content-Type", ""), body, self.ref.name)
        self._manifest_cache = (actual, body)
        return Descriptor(media_type=media_type, digest=actual, size=len(body))

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        """A manifest or index body, verified against its descriptor."""
        if self._manifest_cache and self._manifest_cache[0] == desc.digest:
            return self._manifest_cache[1]
        errors: list[OcixError] = []
        for ep in self._each("pull"):
            try:
                resp = self._request(ep, "GET", f"manifests/{desc.digest}",
                                     headers={"Accept": desc.media_type or mt.RESOLVE_ACCEPT},
                                     stream=True, what=f"fetch manifest {desc.digest}")
                try:
                    body = _read_capped(resp, MAX_MANIFEST, f"manifest {desc.digest}")
                finally:
                    resp.close()
                verify_bytes(body, desc)
                return body
            except (RegistryError, UnreachableError, DigestMismatchError) as e:
                errors.append(e)
        raise best_error(errors, f"fetch {desc.digest}")

    def fetch_blob_bytes(self, desc: Descriptor, limit: int = 64 << 20) -> bytes:
        """A small blob (a config), whole and verified."""
        chunks = []
        total = 0
        for chunk in self.open_blob(desc):
            total += len(chunk)
            if total > limit:
                raise RegistryError(f"blob {desc.digest} is larger than {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        verify_bytes(body, desc)
        return body

    def open_blob(self, desc: Descriptor, offset: int = 0) -> Iterator[bytes]:
        """Stream a blob from `offset`; a registry that ignores Range is skipped forward."""
        errors: list[OcixError] = []
        for ep in self._each("pull"):
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                resp = self._request(ep, "GET", f"blobs/{desc.digest}", headers=headers, stream=True,
                                     what=f"fetch blob {desc.digest}")
            except (RegistryError, UnreachableError) as e:
                errors.append(e)
                continue
            return self._resuming(ep, desc, resp, offset)
        raise best_error(errors, f"fetch {desc.digest}")

    def _resuming(self, ep: Endpoint, desc: Descriptor, resp: Any, offset: int) -> Iterator[bytes]:
        """The body of `resp`; a connection that breaks mid-body is re-requested from where it
        broke (Range), up to the retry policy's attempts."""
        import requests

        pos = offset
        for attempt in range(self.retry.attempts):
            try:
                for chunk in _stream(resp, pos):
                    pos += len(chunk)
                    yield chunk
                return
            except (requests.RequestException, OSError) as e:
                if attempt + 1 == self.retry.attempts:
                    raise UnreachableError(
                        f"fetch blob {desc.digest}: the connection to {ep.netloc} broke after "
                        f"{pos} of {desc.size} bytes, {attempt + 1} times ({_short(e)})",
                        hint="is the registry or a proxy in between failing?") from None
                trace.emit("http", f"GET blobs/{desc.digest} broke at {pos}", 0.0, "RESUME")
                time.sleep(self.retry.delay(attempt))
                resp = self._request(ep, "GET", f"blobs/{desc.digest}",
                                     headers={"Range": f"bytes={pos}-"} if pos else {},
                                     stream=True, what=f"fetch blob {desc.digest}")


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) <= 160 else text[:157] + "..."


def _stream(resp: Any, offset: int) -> Iterator[bytes]:
    try:
        skip = offset if offset and resp.status_code != 206 else 0
        for chunk in resp.iter_content(READ):
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            yield chunk
    finally:
        resp.close()


def _read_capped(resp: Any, limit: int, what: str) -> bytes:
    import requests

    out = bytearray()
    try:
        for chunk in resp.iter_content(64 << 10):
            out += chunk
            if len(out) > limit:
                raise RegistryError(f"{what} is larger than {limit} bytes")
    except (requests.RequestException, OSError) as e:
        raise UnreachableError(f"{what}: the connection broke after {len(out)} bytes "
                               f"({_short(e)})") from None
    return bytes(out)


def _media_type(content_type: str, body: bytes, name: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        raise RegistryError(f"{name}: the registry's manifest is not JSON "
                            f"(Content-Type {content_type or 'missing'})") from None
    declared = doc.get("mediaType") if isinstance(doc, dict) else None
    ctype = content_type.split(";")[0].strip()
    if isinstance(declared, str) and declared:
        return declared
    if ctype in mt.MANIFESTS or ctype in mt.INDEXES:
        return ctype
    if isinstance(doc, dict) and "manifests" in doc:
        return mt.OCI_INDEX
    if isinstance(doc, dict) and "layers" in doc:
        return mt.OCI_MANIFEST
    raise RegistryError(f"{name}: unknown manifest type {ctype or 'missing'}")


def verify_bytes(body: bytes, desc: Descriptor) -> None:
    algo = desc.digest.split(":", 1)[0]
    try:
        actual = f"{algo}:" + hashlib.new(algo, body).hexdigest()
    except ValueError:
        raise DigestMismatchError(f"unsupported digest algorithm in {desc.digest}") from None
    if actual != desc.digest:
        raise DigestMismatchError(f"content of {desc.digest} has digest {actual}")
    if desc.size and len(body) != desc.size:
        raise DigestMismatchError(f"content of {desc.digest} is {len(body)} bytes, expected {desc.size}")


def best_error(errors: list[OcixError], what: str) -> OcixError:
    """One error for several endpoints: a single failure as is, else each endpoint's reason.

    A 404 from a mirror plus an unreachable upstream is "not found", not "unreachable"."""
    if not errors:
        return OcixError(f"{what}: no endpoint answered")
    if len(errors) == 1:
        return errors[0]
    statuses = [getattr(e, "status", None) for e in errors]
    text = "; ".join(e.message for e in errors)
    if 404 in statuses:
        return RegistryError(text, status=404, hint="check the repository name and tag")
    last = errors[-1]
    if isinstance(last, RegistryError):
        return RegistryError(text, status=last.status, body=last.body, hint=last.hint,
                             kind=last.kind)
    return type(last)(text, hint=last.hint, kind=last.kind, subject=last.subject)
