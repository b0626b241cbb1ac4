"""Browse a registry without pulling: its catalog, a repository's tags, one image's documents.

Everything is read through ocix.registry's client, so mirrors (hosts dir), credentials and
--plain-http work as they do for `ocix pull`.  Only manifests, indexes and configs are read;
no layer is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import OcixError, UsageError
from ...oci import mediatypes as mt
from ...oci import platform as plat
from ...oci.descriptor import Descriptor, json_object
from ...registry import listing
from ...registry.auth import Credentials
from ...registry.client import RegistryClient
from ...registry.reference import Reference, parse


@dataclass
class ClientOptions:
    hosts_dir: str | None = None
    plain_http: bool = False
    credentials: Credentials | None = None

    def client(self, ref: Reference) -> RegistryClient:
        return RegistryClient(ref, hosts_dir=self.hosts_dir, plain_http=self.plain_http,
                              credentials=self.credentials)


@dataclass
class TagRow:
    tag: str
    digest: str = ""
    media_type: str = ""


@dataclass
class PlatformRow:
    platform: str
    digest: str
    media_type: str
    size: int
    layers: int
    layers_size: int
    created: str
    kind: str = "image"  # image, attestation (a buildx attestation manifest), artifact


@dataclass
class LayerRow:
    digest: str
    media_type: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Inspection:
    name: str
    digest: str  # of what the reference names (the index for a multi-platform image)
    media_type: str
    size: int
    platforms: list[PlatformRow] = field(default_factory=list)  # an index's entries
    manifest_digest: str = ""  # the manifest shown below (for an index: the --platform one)
    platform: str = ""
    artifact_type: str = ""
    created: str = ""
    config: LayerRow | None = None
    layers: list[LayerRow] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    subject: str = ""


def repositories(host: str, opts: ClientOptions, *, max_pages: int = listing.MAX_PAGES,
                 page_size: int = listing.PAGE_SIZE) -> list[str]:
    ref = parse(f"{host}/x")  # only the host matters for the catalog
    if ref.repository != "x" and host.lower() not in ("docker.io", "index.docker.io"):
        # "notahost/x" is the docker.io repository notahost/x: a host needs a dot, a port or
        # the name localhost (docs/registry.md), else docker.io's catalog would be listed.
        raise UsageError(f"{host!r} is not a registry host",
                         hint="a host has a dot or a port, or is localhost (127.0.0.1:5000)")
    return listing.catalog(opts.client(Reference(ref.host, "")), page_size=page_size,
                           max_pages=max_pages)


def _looks_like_a_host(ref: str) -> bool:
    """HOST:PORT alone parses as the docker.io repository HOST with the tag PORT."""
    name, _, port = ref.partition(":")
    return "/" not in ref and port.isdigit() and ("." in name or name == "localhost")


def tags(ref: str, opts: ClientOptions, *, digests: bool = False,
         max_pages: int = listing.MAX_PAGES, page_size: int = listing.PAGE_SIZE) -> list[TagRow]:
    if _looks_like_a_host(ref):
        raise UsageError(f"{ref!r} is a registry host, not a repository",
                         kind="registry-host-not-repo", subject=ref)
    client = opts.client(parse(ref))
    rows = [TagRow(t) for t in listing.tags(client, page_size=page_size, max_pages=max_pages)]
    if digests:
        for row in rows:
            desc = client.resolve(row.tag).descriptor
            row.digest, row.media_type = desc.digest, desc.media_type
    return rows


def attestation_kind(desc: Descriptor) -> str:
    """docker buildx marks its attestation manifests in an index with an annotation."""
    if desc.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
        return "attestation"
    if desc.artifact_type:
        return "artifact"
    return "image"


def raw(ref: str, opts: ClientOptions) -> bytes:
    """The exact bytes the registry serves for `ref` (verified against their digest)."""
    client = opts.client(parse(ref))
    return client.fetch_manifest(client.resolve().descriptor)


def _config(client: RegistryClient, doc: dict[str, Any]) -> tuple[Descriptor, dict[str, Any]]:
    if not isinstance(doc.get("config"), dict):
        raise OcixError("the manifest has no config descriptor")
    desc = Descriptor.from_json(doc["config"])
    if not mt.is_config(desc.media_type):
        return desc, {}  # an artifact's config (often the empty descriptor): not an image config
    return desc, json_object(client.fetch_blob_bytes(desc), f"config {desc.digest}")


def _row(client: RegistryClient, entry: Descriptor) -> PlatformRow:
    kind = attestation_kind(entry)
    doc = json_object(client.fetch_manifest(entry), f"manifest {entry.digest}") \
        if mt.is_manifest(entry.media_type) else {}
    layers = [Descriptor.from_json(x) for x in doc.get("layers") or []]
    created = ""
    if doc and kind == "image":
        _, cdoc = _config(client, doc)
        created = str(cdoc.get("created") or "")
    name = str(entry.platform) if entry.platform else "?"
    return PlatformRow(name, entry.digest, entry.media_type, entry.size, len(layers),
                       sum(x.size for x in layers), created, kind)


def inspect(ref: str, opts: ClientOptions, *, platform: str | None = None) -> Inspection:
    client = opts.client(parse(ref))
    root = client.resolve().descriptor
    body = client.fetch_manifest(root)
    doc = json_object(body, f"{ref}")
    out = Inspection(client.ref.name, root.digest, root.media_type, root.size)
    manifest, mdoc = root, doc
    if mt.is_index(root.media_type):
        entries = [Descriptor.from_json(m) for m in doc.get("manifests") or []]
        out.platforms = [_row(client, e) for e in entries]
        out.annotations = dict(doc.get("annotations") or {})
        images = [e for e in entries if attestation_kind(e) == "image"]
        if platform is None:
            return out
        chosen = plat.best_manifest(images, plat.Matcher(plat.parse(platform)))
        if chosen is None:
            have = ", ".join(r.platform for r in out.platforms if r.kind == "image") or "none"
            raise OcixError(f"{ref} has no manifest for {platform} (it has: {have})")
        manifest = chosen
        mdoc = json_object(client.fetch_manifest(chosen), f"manifest {chosen.digest}")
    elif not mt.is_manifest(root.media_type):
        raise OcixError(f"{ref}: unsupported media type {root.media_type}")
    elif platform is not None:
        plat.refuse_other_platform(client.ref.name, _config(client, doc)[1], platform)
    _fill_manifest(client, out, manifest, mdoc)
    return out


def _fill_manifest(client: RegistryClient, out: Inspection, desc: Descriptor,
                   doc: dict[str, Any]) -> None:
    cdesc, cdoc = _config(client, doc)
    out.manifest_digest = desc.digest
    out.config = LayerRow(cdesc.digest, cdesc.media_type, cdesc.size)
    out.layers = [LayerRow(d.digest, d.media_type, d.size, dict(d.annotations))
                  for d in (Descriptor.from_json(x) for x in doc.get("layers") or [])]
    out.artifact_type = str(doc.get("artifactType") or "")
    out.annotations = dict(doc.get("annotations") or {})
    subject = doc.get("subject")
    out.subject = str(subject.get("digest", "")) if isinstance(subject, dict) else ""
    if cdoc:
        out.platform = plat.of_manifest(desc.platform, cdoc)
        out.created = str(cdoc.get("created") or "")
        inner = cdoc.get("config")
        inner = inner if isinstance(inner, dict) else {}
        out.labels = dict(inner.get("Labels") or {})
        out.env = list(inner.get("Env") or [])
