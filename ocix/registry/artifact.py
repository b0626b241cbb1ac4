"""Push an OCI 1.1 artifact with a subject, on oras-py, and keep the referrers tag index.

oras-py uploads the blobs (`Registry.upload_blob`, descriptors from `oras.oci.NewLayer`) and
gives the subject's shape (`oras.oci.Subject`).  It has no `artifactType`, puts an unknown
config type instead of the empty descriptor, and does not maintain the fallback tag; those are
added here.  The manifest goes up as our own bytes, so its digest is known before the PUT.
A registry with the referrers API answers the PUT with `OCI-Subject`; without it the client
must add the new descriptor to the index under the tag `<alg>-<hex>` (docs/registry.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DigestMismatchError, OcixError, RegistryError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.digest import sha256_digest
from .client import RegistryClient
from .hosts import Endpoint
from .referrers import API, TAG_SCHEMA, fallback_tag, list_referrers

EMPTY = Descriptor(mt.OCI_EMPTY, sha256_digest(mt.EMPTY_JSON), len(mt.EMPTY_JSON))
TITLE = "org.opencontainers.image.title"


@dataclass
class AttachResult:
    name: str  # host/repo@digest of the artifact
    digest: str
    size: int
    artifact_type: str
    subject: str
    via: str  # API when the registry took the subject itself, else TAG_SCHEMA
    fallback_tag: str = ""
    files: list[str] = field(default_factory=list)


def _push_endpoint(client: RegistryClient) -> Endpoint:
    return client.endpoints("push")[0]


def _upload(reg: Any, container: Any, path: str, layer: dict[str, Any]) -> None:
    resp = reg.upload_blob(path, container, layer)
    if resp.status_code not in (200, 201, 202):
        from ..errors import from_http

        raise from_http(resp, what=f"upload {layer['digest']}")


def put_manifest(client: RegistryClient, ep: Endpoint, ref: str, body: bytes,
                 media_type: str) -> Any:
    """PUT a manifest or index body as is; the registry's digest must be ours."""
    reg = client.transport(ep)
    url = f"{ep.base}/{client.ref.repository}/manifests/{ref}"
    resp = reg.request("PUT", url, ok=(201,), what=f"push manifest {client.ref.repository}:{ref}",
                       data=body, headers={"Content-Type": media_type})
    got = resp.headers.get("Docker-Content-Digest")
    if got and got != sha256_digest(body):
        raise DigestMismatchError(f"the registry stored {got}, we sent {sha256_digest(body)}")
    return resp


def artifact_manifest(artifact_type: str, layers: list[dict[str, Any]], subject: Descriptor,
                      annotations: dict[str, str]) -> bytes:
    import oras.oci

    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                           "artifactType": artifact_type, "config": EMPTY.to_json(),
                           "layers": layers,
                           "subject": asdict(oras.oci.Subject(subject.media_type, subject.digest,
                                                              subject.size))}
    if annotations:
        doc["annotations"] = dict(annotations)
    return json.dumps(doc, indent=None, separators=(",", ":")).encode()


def attach(client: RegistryClient, subject: Descriptor, artifact_type: str, files: list[Path],
           *, media_type: str = "", annotations: dict[str, str] | None = None) -> AttachResult:
    """Upload `files` as layers and push a manifest whose subject is `subject`."""
    import oras.oci

    from .client import load_transport

    load_transport()
    ep = _push_endpoint(client)
    reg = client.transport(ep)
    container = reg.get_container(f"{ep.netloc}/{client.ref.repository}")
    layers = []
    for f in files:
        if not f.is_file():
            raise OcixError(f"{f} is not a file")
        layer = oras.oci.NewLayer(str(f), media_type=media_type or artifact_type)
        layer["annotations"] = {TITLE: f.name}
        _upload(reg, container, str(f), layer)
        layers.append(layer)
    with tempfile.TemporaryDirectory(prefix="ocix-empty-") as tmp:
        empty = os.path.join(tmp, "empty.json")
        Path(empty).write_bytes(mt.EMPTY_JSON)
        _upload(reg, container, empty, EMPTY.to_json())
    body = artifact_manifest(artifact_type, layers, subject, annotations or {})
    digest = sha256_digest(body)
    resp = put_manifest(client, ep, digest, body, mt.OCI_MANIFEST)
    desc = Descriptor(mt.OCI_MANIFEST, digest, len(body), dict(annotations or {}),
                      artifact_type=artifact_type)
    result = AttachResult(f"{client.ref.host}/{client.ref.repository}@{digest}", digest,
                          len(body), artifact_type, subject.digest, API,
                          files=[str(f) for f in files])
    if resp.headers.get("OCI-Subject") == subject.digest:
        return result
    result.via, result.fallback_tag = TAG_SCHEMA, add_to_fallback_index(client, subject.digest,
                                                                         desc)
    return result


def add_to_fallback_index(client: RegistryClient, subject: str, desc: Descriptor) -> str:
    """Read the index under the subject's fallback tag (or start one), add `desc`, push it."""
    tag = fallback_tag(subject)
    current = list_referrers(client, subject, api=False).descriptors
    entries = [d.to_json() for d in current if d.digest != desc.digest] + [desc.to_json()]
    body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries},
                      separators=(",", ":")).encode()
    try:
        put_manifest(client, _push_endpoint(client), tag, body, mt.OCI_INDEX)
    except RegistryError as e:
        raise RegistryError(f"pushed the artifact, but not the referrers index {tag}: {e.message}",
                            status=e.status, hint=e.hint) from None
    return tag
