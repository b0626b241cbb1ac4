"""Planning a pull from a fake registry: which manifests, blobs, layers and unpacks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

from ocix.errors import OcixError
from ocix.jobs.images.plan import plan_pull
from ocix.oci import mediatypes as mt
from ocix.oci import platform as plat
from ocix.oci.descriptor import Descriptor


def _blob(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _desc(media_type: str, body: bytes, platform: dict[str, str] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                         "size": len(body)}
    if platform:
        d["platform"] = platform
    return d


@dataclass
class _Resolved:
    descriptor: Descriptor


class FakeRegistry:
    """Serves documents by digest; counts what planning asked for."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.root: Descriptor | None = None
        self.asked: list[str] = []

    def add(self, media_type: str, doc: dict[str, Any],
            platform: dict[str, str] | None = None) -> dict[str, Any]:
        body = _blob(doc)
        d = _desc(media_type, body, platform)
        self.blobs[d["digest"]] = body
        return d

    def image(self, layers: list[bytes], arch: str, platform: bool = True) -> dict[str, Any]:
        diff_ids = ["sha256:" + hashlib.sha256(b"diff" + x).hexdigest() for x in layers]
        config = self.add(mt.OCI_CONFIG, {"architecture": arch, "os": "linux",
                                          "rootfs": {"type": "layers", "diff_ids": diff_ids}})
        layer_descs = [_desc(mt.OCI_LAYER_GZIP, x) for x in layers]
        return self.add(mt.OCI_MANIFEST, {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                          "config": config, "layers": layer_descs},
                        {"os": "linux", "architecture": arch} if platform else None)

    def resolve(self) -> _Resolved:
        assert self.root is not None
        return _Resolved(self.root)

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        self.asked.append(desc.digest)
        return self.blobs[desc.digest]

    fetch_blob_bytes = fetch_manifest


AMD64 = plat.Matcher(plat.parse("linux/amd64"))


def _two_platform_index(reg: FakeRegistry) -> tuple[dict[str, Any], dict[str, Any]]:
    amd = reg.image([b"base", b"amd-top"], "amd64")
    arm = reg.image([b"base", b"arm-top"], "arm64")
    index = reg.add(mt.OCI_INDEX, {"schemaVersion": 2, "manifests": [amd, arm]})
    reg.root = Descriptor.from_json(index)
    return amd, arm


def test_index_plans_the_matching_manifest_only() -> None:
    reg = FakeRegistry()
    amd, arm = _two_platform_index(reg)
    p = plan_pull(reg, "example/app:1", AMD64)
    assert p.index is not None and p.index.labels == {
        "containerd.io/gc.ref.content.m.0": amd["digest"],
        "containerd.io/gc.ref.content.m.1": arm["digest"]}
    assert [m.manifest.descriptor.digest for m in p.manifests] == [amd["digest"]]
    assert arm["digest"] not in reg.asked  # the other platform is never fetched
    assert p.platforms == ["linux/amd64"]
    assert len(p.layers) == 2 and len(p.unpack_targets) == 1
    assert p.chain_id == p.unpack_targets[0].chain_id != ""
    m = p.manifests[0]
    assert m.manifest.labels["containerd.io/gc.ref.content.config"] == m.config.descriptor.digest
    assert m.size == m.manifest.descriptor.size + m.config.descriptor.size + sum(
        x.descriptor.size for x in m.new_layers)


def test_all_platforms_fetches_shared_layers_once_and_unpacks_the_host_one() -> None:
    reg = FakeRegistry()
    _two_platform_index(reg)
    p = plan_pull(reg, "example/app:1", AMD64, all_platforms=True)
    assert p.platforms == ["linux/amd64", "linux/arm64"]
    assert [len(m.new_layers) for m in p.manifests] == [2, 1]  # "base" is listed by both
    assert [m.unpack is not None for m in p.manifests] == [True, False]
    assert p.compressed_size == sum(m.size for m in p.manifests)


def test_no_unpack_plans_no_targets() -> None:
    reg = FakeRegistry()
    reg.root = Descriptor.from_json(reg.image([b"only"], "arm64", platform=False))
    p = plan_pull(reg, "example/app:1", AMD64, unpack=False)
    assert p.index is None and p.unpack_targets == [] and p.chain_id == ""
    assert p.platforms == ["linux/arm64"]  # a lone manifest: its config names the platform


def test_missing_platform_names_what_the_index_has() -> None:
    reg = FakeRegistry()
    _two_platform_index(reg)
    with pytest.raises(OcixError) as e:
        plan_pull(reg, "example/app:1", plat.Matcher(plat.parse("linux/s390x")))
    assert e.value.message == ("example/app:1 has no manifest for linux/s390x "
                               "(it has: linux/amd64, linux/arm64)")


def test_diff_id_count_must_match_the_layers() -> None:
    reg = FakeRegistry()
    config = reg.add(mt.OCI_CONFIG, {"rootfs": {"type": "layers", "diff_ids": []}})
    manifest = reg.add(mt.OCI_MANIFEST, {"schemaVersion": 2, "config": config,
                                         "layers": [_desc(mt.OCI_LAYER_GZIP, b"x")]})
    reg.root = Descriptor.from_json(manifest)
    with pytest.raises(OcixError) as e:
        plan_pull(reg, "example/app:1", AMD64)
    assert e.value.message == f"config {config['digest']} lists 0 diff IDs for 1 layers"
