"""The referrers of a manifest: the distribution-spec v1.1 API, or the tag schema fallback.

`GET /v2/<name>/referrers/<digest>[?artifactType=T]` answers an image index of descriptors
(each with artifactType and the referrer's annotations); a registry that applied the filter
says so in `OCI-Filters-Applied`.  A registry without the API answers 404, and then the index
lives under the tag `<alg>-<hex>` (docs/registry.md).  Both are bounded: MAX_REFERRERS entries,
MAX_INDEX bytes per page, the Link pages of registry.listing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from .. import trace
from ..errors import OcixError, RegistryError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from .client import RegistryClient, best_error
from .hosts import Endpoint
from .listing import MAX_PAGES, HostileRegistryError

MAX_REFERRERS = 10_000
MAX_INDEX = 16 << 20
API = "referrers API"
TAG_SCHEMA = "tag schema"


@dataclass
class ReferrerList:
    subject: str
    source: str  # API or TAG_SCHEMA
    descriptors: list[Descriptor] = field(default_factory=list)
    filters_applied: list[str] = field(default_factory=list)
    tag: str = ""  # the fallback tag read, if any


def fallback_tag(digest: str) -> str:
    """The tag schema's tag: `<alg>-<hex>`, alg cut to 32 and hex to 64 characters."""
    algo, _, encoded = digest.partition(":")
    return f"{algo[:32]}-{encoded[:64]}"


def parse_index(body: bytes, what: str) -> list[Descriptor]:
    """The `manifests` of a referrers index, bounded to MAX_REFERRERS."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise HostileRegistryError(f"{what} is not JSON") from None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if manifests is None:
        manifests = []
    if not isinstance(manifests, list):
        raise HostileRegistryError(f"{what} has no list of manifests")
    if len(manifests) > MAX_REFERRERS:
        raise HostileRegistryError(f"{what} lists {len(manifests)} referrers, more than "
                                   f"{MAX_REFERRERS}: refused",
                                   hint="a registry this generous may be hostile")
    out = []
    for m in manifests:
        if not isinstance(m, dict):
            raise HostileRegistryError(f"{what} lists something that is not a descriptor")
        out.append(Descriptor.from_json(m))
    return out


def _read(resp: Any, what: str) -> bytes:
    try:
        body = resp.raw.read(MAX_INDEX + 1, decode_content=True)
    finally:
        resp.close()
    if len(body) > MAX_INDEX:
        raise HostileRegistryError(f"{what} is larger than {MAX_INDEX >> 20} MiB: refused")
    return bytes(body)


def _api(client: RegistryClient, ep: Endpoint, digest: str, artifact_type: str) -> ReferrerList:
    what = f"referrers of {digest}"
    query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
    url = f"{ep.base}/{client.ref.repository}/referrers/{digest}{query}"
    out = ReferrerList(digest, API)
    for _ in range(MAX_PAGES):
        resp = client.request_url(ep, "GET", url, stream=True, what=what,
                                  headers={"Accept": mt.OCI_INDEX})
        applied = resp.headers.get("OCI-Filters-Applied", "")
        out.filters_applied = sorted({f.strip() for f in applied.split(",") if f.strip()}
                                     | set(out.filters_applied))
        out.descriptors += parse_index(_read(resp, what), what)
        if len(out.descriptors) > MAX_REFERRERS:
            raise HostileRegistryError(f"{what}: more than {MAX_REFERRERS} referrers: refused")
        link = resp.links.get("next", {}).get("url") if resp.headers.get("Link") else None
        if not link:
            return out
        nxt = urljoin(url, link)
        if urlsplit(nxt)[:2] != urlsplit(url)[:2]:
            raise HostileRegistryError(f"{what}: the registry's Link header points at another "
                                       f"host ({urlsplit(nxt).netloc}): refused")
        url = nxt
    raise HostileRegistryError(f"{what}: more than {MAX_PAGES} pages: stopped")


def _tag_schema(client: RegistryClient, digest: str) -> ReferrerList:
    tag = fallback_tag(digest)
    out = ReferrerList(digest, TAG_SCHEMA, tag=tag)
    try:
        desc = client.resolve(tag).descriptor
    except RegistryError as e:
        if e.status == 404:
            return out  # no referrers yet
        raise
    if not mt.is_index(desc.media_type):
        raise OcixError(f"the fallback tag {tag} names a {desc.media_type}, not an index")
    body = client.fetch_manifest(desc)
    out.descriptors = parse_index(body, f"referrers index {tag}")
    return out


def list_referrers(client: RegistryClient, digest: str, artifact_type: str = "",
                   *, api: bool | None = None) -> ReferrerList:
    """The referrers of `digest`: through the API when the registry has it, else the tag schema.

    `api` True forces the API (a 404 is an error), False forces the tag schema.  A filter the
    registry did not apply is applied here (the list says so: filters_applied stays empty)."""
    result: ReferrerList | None = None
    if api is not False:
        errors: list[OcixError] = []
        for ep in client.endpoints("resolve"):
            try:
                result = _api(client, ep, digest, artifact_type)
                break
            except HostileRegistryError:
                raise
            except RegistryError as e:
                if e.status == 404 and api:
                    e = RegistryError(f"{ep.netloc} has no referrers API (GET referrers/ answered "
                                      "404)", status=404, hint="drop --api: ocix then reads the "
                                      "tag schema")
                if e.status != 404 or api:
                    errors.append(e)
                    continue
                trace.emit("http", f"no referrers API on {ep.base}", 0.0, "FALLBACK")
            except OcixError as e:
                errors.append(e)
        if result is None and errors:
            raise best_error(errors, f"referrers of {digest}")
    if result is None:
        result = _tag_schema(client, digest)
    if artifact_type and "artifactType" not in result.filters_applied:
        result.descriptors = [d for d in result.descriptors if d.artifact_type == artifact_type]
    return result
