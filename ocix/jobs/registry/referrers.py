"""`ocix referrers`: the tree of artifacts whose subject is an image, and theirs in turn.

Each referrer's manifest is fetched by digest (verified), held to `ocix validate`'s rules, and
checked to name its parent as subject.  Known kinds get a name (SBOMs, signatures,
attestations); docker buildx's attestation manifests, which sit inside the image's index rather
than refer to it, are shown under the platform manifest they describe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import OcixError, RegistryError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor, json_object
from ...registry.client import RegistryClient
from ...registry.reference import parse
from ...registry.referrers import list_referrers
from ...validate import validate_document
from .browse import ClientOptions

MAX_DEPTH = 8
MAX_NODES = 10_000

# artifactType (or layer media type) -> the kind it names (docs/registry.md, "Known kinds").
KINDS: dict[str, str] = {
    "application/vnd.cyclonedx+json": "CycloneDX SBOM",
    "application/vnd.cyclonedx+xml": "CycloneDX SBOM",
    "application/vnd.cyclonedx": "CycloneDX SBOM",
    "application/spdx+json": "SPDX SBOM",
    "text/spdx": "SPDX SBOM",
    "application/vnd.cncf.notary.signature": "notation signature",
    "application/vnd.dev.cosign.artifact.sig.v1+json": "cosign signature",
    "application/vnd.dev.cosign.simplesigning.v1+json": "cosign signature",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "sigstore bundle (cosign)",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "sigstore bundle (cosign)",
    "application/vnd.dev.cosign.artifact.sbom.v1+json": "cosign SBOM",
    "application/vnd.in-toto+json": "in-toto attestation",
    "application/vnd.dsse.envelope.v1+json": "in-toto attestation (DSSE)",
}


def kind_of(artifact_type: str, layer_types: list[str]) -> str:
    for t in [artifact_type, *layer_types]:
        if t in KINDS:
            return KINDS[t]
    return ""


@dataclass
class Node:
    digest: str
    media_type: str
    size: int
    artifact_type: str
    kind: str
    annotations: dict[str, str] = field(default_factory=dict)
    valid: bool = True
    problems: list[str] = field(default_factory=list)  # validate's errors and warnings, as text
    children: list[Node] = field(default_factory=list)


@dataclass
class ReferrersTree:
    name: str
    digest: str
    media_type: str
    source: str  # "referrers API" or "tag schema" (of the first query)
    filters_applied: list[str] = field(default_factory=list)
    referrers: list[Node] = field(default_factory=list)
    attestations: list[Node] = field(default_factory=list)  # buildx ones inside an index
    platforms: list[Node] = field(default_factory=list)  # an index's manifests that have referrers

    def count(self) -> int:
        def n(nodes: list[Node]) -> int:
            return sum(1 + n(x.children) for x in nodes)
        return n(self.referrers) + n(self.attestations) + sum(n(p.children) for p in self.platforms)


def check_referrer(doc: dict[str, Any], kind: str, subject: str) -> list[str]:
    """validate's findings for one referrer, plus: its subject is the parent."""
    report = validate_document(doc, kind)
    problems = [f"{f.severity} {f.pointer or '/'}: {f.message} [{f.rule}]" for f in report.findings]
    sub = doc.get("subject")
    got = sub.get("digest") if isinstance(sub, dict) else None
    if subject and got != subject:
        problems.append(f"error /subject: names {got or 'nothing'}, not {subject} [referrers.subject]")
    return problems


def _artifact_type(doc: dict[str, Any]) -> str:
    """artifactType, else the config's media type (distribution-spec: listing referrers)."""
    at = doc.get("artifactType")
    if isinstance(at, str) and at:
        return at
    config = doc.get("config")
    return str(config.get("mediaType", "")) if isinstance(config, dict) else ""


def node_for(client: RegistryClient, desc: Descriptor, subject: str) -> Node:
    try:
        body = client.fetch_manifest(desc)
    except RegistryError as e:
        if e.status != 404:
            raise
        # A tag schema index may outlive a deleted referrer: show it, do not fail the tree.
        return Node(desc.digest, desc.media_type, desc.size, desc.artifact_type,
                    kind_of(desc.artifact_type, []), dict(desc.annotations), False,
                    ["error: the index lists it, but the registry has no such manifest (404) "
                     "[referrers.missing]"])
    doc = json_object(body, f"referrer {desc.digest}")
    kind = "index" if mt.is_index(desc.media_type) or "manifests" in doc else "manifest"
    layers = [str(x.get("mediaType", "")) for x in doc.get("layers") or [] if isinstance(x, dict)]
    at = _artifact_type(doc)
    problems = check_referrer(doc, kind, subject)
    return Node(desc.digest, desc.media_type, desc.size, at, kind_of(at, layers),
                dict(doc.get("annotations") or {}),
                not any(p.startswith("error") for p in problems), problems)


class _Walker:
    def __init__(self, client: RegistryClient, artifact_type: str, api: bool | None) -> None:
        self.client = client
        self.artifact_type = artifact_type
        self.api = api
        self.seen: set[str] = set()
        self.source = ""
        self.filters: list[str] = []

    def children(self, digest: str, depth: int, top: bool, wanted: str = "") -> list[Node]:
        if depth > MAX_DEPTH:
            raise OcixError(f"referrers nest deeper than {MAX_DEPTH} levels: stopped")
        # The filter picks the first level only; what refers to those is shown whole.
        found = list_referrers(self.client, digest, self.artifact_type if top else wanted,
                               api=self.api)
        if top:
            self.source, self.filters = found.source, found.filters_applied
        out = []
        for d in found.descriptors:
            if d.digest in self.seen:
                continue  # a cycle or a repeat: each manifest once
            self.seen.add(d.digest)
            if len(self.seen) > MAX_NODES:
                raise OcixError(f"more than {MAX_NODES} referrers in the tree: stopped")
            node = node_for(self.client, d, digest)
            if d.artifact_type and d.artifact_type != node.artifact_type:
                node.problems.append(f"error: the index lists artifactType {d.artifact_type}, the "
                                     f"manifest has {node.artifact_type} [referrers.artifact-type]")
                node.valid = False
            node.children = self.children(d.digest, depth + 1, False)
            out.append(node)
        return out


def attestations_in(client: RegistryClient, index: dict[str, Any]) -> list[Node]:
    """docker buildx attestation manifests of an index, each checked like a referrer."""
    out = []
    for m in index.get("manifests") or []:
        d = Descriptor.from_json(m)
        if d.annotations.get("vnd.docker.reference.type") != "attestation-manifest":
            continue
        body = client.fetch_manifest(d)
        doc = json_object(body, f"attestation manifest {d.digest}")
        problems = [f"{f.severity} {f.pointer or '/'}: {f.message} [{f.rule}]"
                    for f in validate_document(doc, "manifest").findings]
        predicates = sorted({str((x.get("annotations") or {}).get("in-toto.io/predicate-type", ""))
                             for x in doc.get("layers") or [] if isinstance(x, dict)} - {""})
        notes = {"attests": d.annotations.get("vnd.docker.reference.digest", "")}
        if predicates:
            notes["in-toto.io/predicate-type"] = ", ".join(predicates)
        out.append(Node(d.digest, d.media_type, d.size, mt.OCI_MANIFEST,
                        "buildx attestation manifest", notes,
                        not any(p.startswith("error") for p in problems), problems))
    return out


def referrers(ref: str, opts: ClientOptions, *, artifact_type: str = "",
              api: bool | None = None) -> ReferrersTree:
    client = opts.client(parse(ref))
    root = client.resolve().descriptor
    walker = _Walker(client, artifact_type, api)
    walker.seen.add(root.digest)
    nodes = walker.children(root.digest, 1, True)
    tree = ReferrersTree(client.ref.name, root.digest, root.media_type, walker.source,
                         walker.filters, nodes)
    if mt.is_index(root.media_type):
        index = json_object(client.fetch_manifest(root), f"index {root.digest}")
        for m in index.get("manifests") or []:
            child = Descriptor.from_json(m)
            if not mt.is_manifest(child.media_type) or \
                    child.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                continue
            walker.seen.add(child.digest)
            below = walker.children(child.digest, 2, False, artifact_type)
            if below:  # a platform's own referrers (a signature per platform, say)
                tree.platforms.append(Node(child.digest, child.media_type, child.size, "",
                                           f"platform {child.platform or '?'}", children=below))
        if not artifact_type:
            tree.attestations = attestations_in(client, index)
    return tree
