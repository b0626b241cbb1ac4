"""Push the lab's seed images to a private `docker-registry` and read them back over HTTP.

Needs /usr/bin/docker-registry (distribution 2.8) but neither root nor the lab's containerd:
the test starts its own registry on a free loopback port with storage in a temp dir.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ocix import trace
from ocix.errors import RegistryError, UnreachableError
from ocix.lab.daemons import free_port
from ocix.lab.images import recipes
from ocix.lab.images.build import BuiltImage
from ocix.oci import mediatypes as mt
from ocix.oci.digest import sha256_digest
from ocix.registry.http import TracedRegistry
from ocix.registry.push import PushResult, push, push_many, walk
from tests.integration.registries import registry as start_registry

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
OCI_ACCEPT = f"{mt.OCI_MANIFEST}, {mt.OCI_INDEX}"

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path(REGISTRY_BIN).exists(),
                                 reason="docker-registry is not installed")]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_registry(tmp_path_factory.mktemp("registry"), delete=True) as host:
        yield host


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[BuiltImage]:
    return recipes.seed_images(tmp_path_factory.mktemp("layout"), sized=(3,))


@pytest.fixture(scope="module")
def pushed(registry: str, images: list[BuiltImage]) -> list[PushResult]:
    return push_many(registry, images, insecure=True)


def test_first_push_uploads_everything(pushed: list[PushResult], images: list[BuiltImage]
                                       ) -> None:
    assert [r.repo for r in pushed] == [im.repo for im in images]
    for r, im in zip(pushed, images, strict=True):
        assert r.digest == im.root.digest and r.blobs_skipped == 0
        assert r.blobs_pushed + r.blobs_mounted > 0 and r.manifests >= 2
    # The busybox layer is mounted from library/busybox, not uploaded again.
    assert next(r for r in pushed if r.repo == "library/layers").blobs_mounted >= 1


def test_manifests_and_blobs_read_back(registry: str, pushed: list[PushResult],
                                       images: list[BuiltImage]) -> None:
    for im in images:
        resp = requests.get(f"http://{registry}/v2/{im.repo}/manifests/{im.tag}",
                            headers={"Accept": OCI_ACCEPT}, timeout=10)
        assert resp.status_code == 200, resp.text
        assert resp.headers["Docker-Content-Digest"] == im.root.digest
        assert sha256_digest(resp.content) == im.root.digest
        assert resp.headers["Content-Type"] == im.root.media_type
        for manifest, blobs in walk(im.layout, im.root):
            got = requests.get(f"http://{registry}/v2/{im.repo}/manifests/{manifest.digest}",
                               headers={"Accept": OCI_ACCEPT}, timeout=10)
            assert got.status_code == 200 and sha256_digest(got.content) == manifest.digest
            for blob in blobs:
                data = requests.get(f"http://{registry}/v2/{im.repo}/blobs/{blob.digest}",
                                    timeout=30).content
                assert len(data) == blob.size and sha256_digest(data) == blob.digest


def test_busybox_oci_manifest_by_tag(registry: str, pushed: list[PushResult]) -> None:
    resp = requests.get(f"http://{registry}/v2/library/busybox/manifests/latest",
                        headers={"Accept": mt.OCI_MANIFEST}, timeout=10)
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["mediaType"] == mt.OCI_MANIFEST and len(doc["layers"]) == 1
    assert doc["layers"][0]["mediaType"] == mt.OCI_LAYER_GZIP
    tags = requests.get(f"http://{registry}/v2/library/pause/tags/list", timeout=10).json()
    assert tags["tags"] == ["3.6"]


def test_multiarch_index_in_registry(registry: str, pushed: list[PushResult]) -> None:
    resp = requests.get(f"http://{registry}/v2/library/multiarch/manifests/latest",
                        headers={"Accept": mt.OCI_INDEX}, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == mt.OCI_INDEX
    plats = [m["platform"]["architecture"] for m in resp.json()["manifests"]]
    assert len(plats) == 2 and "arm64" in plats


def test_second_push_skips_existing_blobs(registry: str, pushed: list[PushResult],
                                          images: list[BuiltImage]) -> None:
    again = push_many(registry, images, insecure=True)
    for r in again:
        assert r.blobs_pushed == 0 and r.blobs_mounted == 0 and r.bytes_pushed == 0
        assert r.blobs_skipped > 0
        assert r.manifests == 1  # only the tag is written again


def test_chunked_upload_and_progress(registry: str, images: list[BuiltImage]) -> None:
    blob3 = next(im for im in images if im.repo == "library/blob3")
    seen: list[tuple[str, int, int]] = []
    r = push(registry, blob3, insecure=True, repo="chunked/blob3", chunk_size=1 << 20,
             progress=lambda d, done, total: seen.append((d, done, total)))
    assert r.blobs_pushed == 2 and r.bytes_pushed > 3 << 20
    [(_, [_, layer])] = list(walk(blob3.layout, blob3.root))
    layer_events = [e for e in seen if e[0] == layer.digest]
    assert layer_events[-1] == (layer.digest, layer.size, layer.size)
    assert len(layer_events) >= 3  # reported per MiB, not once at the end
    data = requests.get(f"http://{registry}/v2/chunked/blob3/blobs/{layer.digest}",
                        timeout=30).content
    assert sha256_digest(data) == layer.digest


def test_trace_lines(registry: str, pushed: list[PushResult], images: list[BuiltImage]
                     ) -> None:
    out = io.StringIO()
    trace.enable(out)
    try:
        push(registry, images[0], insecure=True)
    finally:
        trace.disable()
    lines = out.getvalue().splitlines()
    assert any(f"HEAD http://{registry}/v2/library/busybox/blobs/sha256:" in x and "-> 200" in x
               for x in lines), lines
    assert any(f"PUT http://{registry}/v2/library/busybox/manifests/latest -> 201" in x
               for x in lines), lines


def test_registry_errors_keep_their_message(registry: str) -> None:
    client = TracedRegistry(registry, insecure=True)
    missing = "sha256:" + "0" * 64
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "digest": missing, "size": 2},
                "layers": []}
    with pytest.raises(RegistryError) as err:
        client.request("PUT", "/v2/test/bad/manifests/x", ok=(201,),
                       data=json.dumps(manifest).encode(),
                       headers={"Content-Type": mt.OCI_MANIFEST})
    assert err.value.status == 400 and "MANIFEST_BLOB_UNKNOWN" in str(err.value)
    with pytest.raises(RegistryError) as err:
        client.request("GET", "/v2/library/busybox/manifests/nosuchtag", ok=(200,),
                       headers={"Accept": OCI_ACCEPT})
    assert err.value.status == 404 and err.value.hint


def test_refused_connection_is_unreachable(images: list[BuiltImage]) -> None:
    port = free_port()  # nobody listens there
    start = time.monotonic()
    with pytest.raises(UnreachableError) as err:
        push(f"127.0.0.1:{port}", images[0], insecure=True)
    assert f"127.0.0.1:{port}" in str(err.value)
    assert time.monotonic() - start < 5  # no oras-style retry loop
