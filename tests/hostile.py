"""Layer stacks built on purpose (hostile or not) as tars, an OCI layout and a pushed image.

Shared by the unit tests of the scanner, the property test and the integration tests that push
such images to the lab registry."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.oci.digest import sha256_digest
from ocix.oci.platform import host
from tests.helpers import tar_bytes

Member = tuple[str, bytes, str]  # (name, tar type, linkname)
F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def make_tar(members: list[Member]) -> bytes:
    """A plain tar of the members; files get a few bytes so that a write is visible."""
    return tar_bytes([(name, kind, b"written by a layer\n" if kind == F else link,
                       0o755 if kind == D else 0o644, 0) for name, kind, link in members], mtime=1)


def write_layout(root: Path, layers: list[bytes]) -> Descriptor:
    """An OCI layout at `root` holding one image of these plain tars (gzipped); its manifest."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def put(data: bytes, media_type: str) -> Descriptor:
        digest = sha256_digest(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return Descriptor(media_type, digest, len(data))

    descs = [put(gzip.compress(t, mtime=0), mt.OCI_LAYER_GZIP) for t in layers]
    plat = host()
    config = json.dumps({"architecture": plat.architecture, "os": "linux",
                         "rootfs": {"type": "layers",
                                    "diff_ids": [sha256_digest(t) for t in layers]}}).encode()
    cfg = put(config, mt.OCI_CONFIG)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                           "config": cfg.to_json(), "layers": [d.to_json() for d in descs]}).encode()
    m = put(manifest, mt.OCI_MANIFEST)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m.to_json()]}))
    return m


def layer_digests(layout: Path, manifest: Descriptor) -> list[str]:
    doc = json.loads((layout / "blobs" / "sha256" / manifest.digest.split(":", 1)[1]).read_bytes())
    return [x["digest"] for x in doc["layers"]]


def push_stack(registry: str, workdir: Path, repo: str, stack: list[list[Member]]
               ) -> tuple[str, list[str]]:
    """Push the stack as `registry/repo:latest`; the reference and the layers' digests."""
    from ocix.oci.layout import LayoutImage
    from ocix.registry.push import push_many

    layout = workdir / repo.replace("/", "_")
    root = write_layout(layout, [make_tar(m) for m in stack])
    push_many(registry, [LayoutImage(repo, "latest", root, layout)], insecure=True)
    return f"{registry}/{repo}:latest", layer_digests(layout, root)
