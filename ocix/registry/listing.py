"""Paginated listings of the distribution API: the catalog and a repository's tags.

A page is asked for with `n`; the registry's `Link: <url>; rel="next"` header names the next
page (docs/registry.md).  The walk is bounded: at most MAX_PAGES pages, and a Link to
another host or scheme is refused, so a registry can neither keep ocix paging forever nor send
its credentials elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode, urljoin, urlsplit

from .. import trace
from ..errors import OcixError, RegistryError
from .client import MAX_MANIFEST, RegistryClient, best_error
from .hosts import Endpoint

PAGE_SIZE = 1000
MAX_PAGES = 100  # 100,000 names at PAGE_SIZE: far more than a listing anyone reads


class HostileRegistryError(RegistryError):
    """The registry answered in a way ocix refuses (unbounded, off-host, malformed)."""


def _pages(client: RegistryClient, ep: Endpoint, first: str, key: str, what: str,
           max_pages: int) -> Iterator[list[str]]:
    url = first
    for page in range(max_pages):
        resp = client.request_url(ep, "GET", url, stream=True, what=what)
        try:
            body = resp.raw.read(MAX_MANIFEST + 1, decode_content=True)
        finally:
            resp.close()
        if len(body) > MAX_MANIFEST:
            raise HostileRegistryError(f"{what}: a page is larger than {MAX_MANIFEST} bytes")
        try:
            doc = json.loads(body)
        except ValueError:
            raise HostileRegistryError(f"{what}: page {page + 1} is not JSON") from None
        names = doc.get(key) if isinstance(doc, dict) else None
        if names is None:
            names = []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise HostileRegistryError(f"{what}: page {page + 1} has no list of {key}")
        yield names
        link = resp.links.get("next", {}).get("url") if resp.headers.get("Link") else None
        if not link:
            return
        nxt = urljoin(url, link)
        a, b = urlsplit(url), urlsplit(nxt)
        if (a.scheme, a.netloc) != (b.scheme, b.netloc):
            raise HostileRegistryError(
                f"{what}: the registry's Link header points at another host "
                f"({b.scheme}://{b.netloc}): refused",
                hint="a registry names its next page on itself; this one may be hostile")
        trace.emit("http", f"{what}: next page", 0.0, f"page {page + 2}")
        url = nxt
    raise HostileRegistryError(f"{what}: more than {max_pages} pages of {key}: stopped",
                               hint="the registry keeps sending a next page; it may be hostile")


def _walk(client: RegistryClient, path: str, key: str, what: str, page_size: int,
          max_pages: int) -> list[str]:
    errors: list[OcixError] = []
    for ep in client.endpoints("resolve"):
        first = f"{ep.base}/{path}?{urlencode({'n': page_size})}"
        out: list[str] = []
        try:
            for names in _pages(client, ep, first, key, what, max_pages):
                out.extend(names)
            return out
        except HostileRegistryError:
            raise
        except OcixError as e:
            errors.append(e)
    raise best_error(errors, what)


def catalog(client: RegistryClient, *, page_size: int = PAGE_SIZE,
            max_pages: int = MAX_PAGES) -> list[str]:
    """Every repository name of the registry (GET /v2/_catalog), in the registry's order."""
    return _walk(client, "_catalog", "repositories", f"catalog of {client.ref.host}",
                 page_size, max_pages)


def tags(client: RegistryClient, *, page_size: int = PAGE_SIZE,
         max_pages: int = MAX_PAGES) -> list[str]:
    """Every tag of the client's repository (GET /v2/<name>/tags/list)."""
    name = f"{client.ref.host}/{client.ref.repository}"
    return _walk(client, f"{client.ref.repository}/tags/list", "tags", f"tags of {name}",
                 page_size, max_pages)
