"""`ocix referrers`, `ocix registry` and `ocix artifact pull` against tests/integration/ociregistry.py:
a registry that HAS the v1.1 referrers API (the lab's distribution 2.8 has not), and the same
server misbehaving on purpose (endless pages, a Link to another host, a 100,000-entry referrers
index, a blob that does not match its digest).

The artifacts are written into the layout by this test with hashlib and json, so the expected
digests do not come from ocix.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocix.lab.images import recipes
from ocix.lab.images.build import BuiltImage, build_image
from tests.helpers import run_cli
from tests.integration.ociregistry import Served, serve

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
SBOM = "application/vnd.cyclonedx+json"
SIG = "application/vnd.cncf.notary.signature"
PROVENANCE = "https://slsa.dev/provenance/v0.2"
NOTES = "application/vnd.example.notes"


def _put(layout: Path, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _artifact(layout: Path, artifact_type: str, payload: bytes, subject: dict[str, object],
              title: str) -> dict[str, object]:
    empty = _put(layout, b"{}")
    layer = _put(layout, payload)
    doc = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": artifact_type,
           "config": {"mediaType": EMPTY, **empty},
           "layers": [{"mediaType": artifact_type, **layer,
                       "annotations": {"org.opencontainers.image.title": title}}],
           "subject": {"mediaType": MANIFEST, **subject},
           "annotations": {"org.example.kind": title}}
    return {"mediaType": MANIFEST, **_put(layout, json.dumps(doc).encode())}


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltImage, dict[str, dict[str, object]]]:
    root = tmp_path_factory.mktemp("refs-layout")
    image = build_image(root, recipes.busybox())
    subject = {"digest": image.root.digest, "size": image.root.size}
    sbom = _artifact(root, SBOM, b'{"bomFormat":"CycloneDX","specVersion":"1.5"}', subject, "sbom.json")
    sig = _artifact(root, SIG, b"signature bytes", {"digest": sbom["digest"], "size": sbom["size"]},
                    "sig.jws")
    return image, {"sbom": sbom, "sig": sig, "attestation": _buildx_index(root, image)}


def _buildx_index(root: Path, image: BuiltImage) -> dict[str, object]:
    """An index like docker buildx writes: the image plus an attestation manifest for it."""
    config = _put(root, json.dumps({"architecture": "unknown", "os": "unknown",
                                    "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    statement = _put(root, b'{"_type":"https://in-toto.io/Statement/v0.1"}')
    att = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                      "layers": [{"mediaType": "application/vnd.in-toto+json", **statement,
                                  "annotations": {"in-toto.io/predicate-type": PROVENANCE}}]}).encode()
    att_desc = {"mediaType": MANIFEST, **_put(root, att),
                "platform": {"architecture": "unknown", "os": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                "vnd.docker.reference.digest": image.root.digest}}
    img_desc = {**image.root.to_json(), "platform": {"architecture": image.platforms[0].split("/")[1],
                                                     "os": "linux"}}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [img_desc, att_desc]}
    desc = {"mediaType": "application/vnd.oci.image.index.v1+json",
            **_put(root, json.dumps(index).encode())}
    doc = json.loads((root / "index.json").read_text())
    doc["manifests"].append({**desc, "annotations": {"org.opencontainers.image.ref.name": "library/busybox:attested"}})
    (root / "index.json").write_text(json.dumps(doc))
    return {**att_desc, "index": desc["digest"]}


@pytest.fixture
def api_registry(layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> Iterator[Served]:
    with serve(layout[0].layout) as served:
        yield served


def test_the_referrers_api_is_used_when_present(api_registry: Served, layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    image, arts = layout
    r = run_cli(["referrers", f"{api_registry.host}/library/busybox:latest", "--json"])
    assert r.exit_code == 0, r.stderr
    tree = json.loads(r.stdout)
    assert tree["source"] == "referrers API"
    assert tree["digest"] == image.root.digest
    [sbom] = tree["referrers"]
    assert (sbom["digest"], sbom["artifact_type"], sbom["kind"]) == (arts["sbom"]["digest"], SBOM, "CycloneDX SBOM")
    assert sbom["annotations"] == {"org.example.kind": "sbom.json"}
    assert sbom["valid"] and sbom["problems"] == []
    [sig] = sbom["children"]
    assert (sig["digest"], sig["kind"], sig["size"]) == (arts["sig"]["digest"], "notation signature", arts["sig"]["size"])
    asked = [q for q in api_registry.requests if "/referrers/" in q]
    assert asked == [f"GET /v2/library/busybox/referrers/{image.root.digest}",
                     f"GET /v2/library/busybox/referrers/{arts['sbom']['digest']}",
                     f"GET /v2/library/busybox/referrers/{arts['sig']['digest']}"]
    assert not [q for q in api_registry.requests if "/manifests/sha256-" in q]  # no fallback


def test_the_registry_applies_the_artifact_type_filter(api_registry: Served, layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    image, _ = layout
    ref = f"{api_registry.host}/library/busybox:latest"
    r = run_cli(["referrers", ref, "--artifact-type", SIG])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (f"{api_registry.host}/library/busybox:latest@{image.root.digest} (0 referrers, "
                        "via the referrers API, filtered by the registry on artifactType)\nno referrers\n")
    assert f"GET /v2/library/busybox/referrers/{image.root.digest}?artifactType=application%2Fvnd.cncf.notary.signature" \
        in api_registry.requests
    api_registry.apply_filter = False  # a registry that ignores the filter: ocix applies it
    r = run_cli(["referrers", ref, "--artifact-type", SBOM])
    assert r.exit_code == 0, r.stderr
    assert "(2 referrers, via the referrers API, filtered by ocix on artifactType)" in r.stdout.splitlines()[0]


def test_catalog_pages_follow_the_link_header(api_registry: Served) -> None:
    r = run_cli(["registry", "repos", api_registry.host, "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == [f"r{i:09d}" for i in range(1, 5)]
    assert [q for q in api_registry.requests if "_catalog" in q] == [
        "GET /v2/_catalog?n=1000", "GET /v2/_catalog?n=2&last=r000000002"]


# -- hostile registries: one line each, nothing written ------------------------------------------
def _hostile(layout: Path, mode: str, args: list[str]) -> tuple[Served, str]:
    with serve(layout, hostile=mode) as served:
        r = run_cli([a.replace("HOST", served.host) for a in args])
    assert r.exit_code == 1, r.stdout
    assert r.stdout == ""
    return served, r.stderr


def test_an_endless_catalog_is_refused(layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    served, err = _hostile(layout[0].layout, "endless-catalog",
                           ["registry", "repos", "HOST", "--max-pages", "5"])
    assert err.splitlines() == [
        f"Error: catalog of {served.host}: more than 5 pages of repositories: stopped",
        "Hint: the registry keeps sending a next page; it may be hostile"]
    assert len([q for q in served.requests if "_catalog" in q]) == 5


def test_a_link_to_another_host_is_refused(layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    served, err = _hostile(layout[0].layout, "offhost-link", ["registry", "repos", "HOST"])
    assert err.splitlines() == [
        f"Error: catalog of {served.host}: the registry's Link header points at another host "
        "(http://other.invalid:1): refused",
        "Hint: a registry names its next page on itself; this one may be hostile"]
    assert len(served.requests) == 1


def test_a_huge_referrers_index_is_refused(layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    image = layout[0]
    served, err = _hostile(layout[0].layout, "huge-referrers", ["referrers", "HOST/library/busybox:latest"])
    assert err.splitlines() == [
        f"Error: referrers of {image.root.digest} lists 100000 referrers, more than 10000: refused",
        "Hint: a registry this generous may be hostile"]
    assert not [q for q in served.requests if "/manifests/sha256:" in q]  # no entry was fetched


def test_a_blob_that_does_not_match_its_digest_is_refused(
        layout: tuple[BuiltImage, dict[str, dict[str, object]]], tmp_path: Path) -> None:
    root = layout[0].layout
    sbom = layout[1]["sbom"]
    doc = json.loads((root / "blobs" / "sha256" / str(sbom["digest"])[7:]).read_bytes())
    layer = doc["layers"][0]["digest"]
    out = tmp_path / "out"
    with serve(root, hostile="bad-blob") as served:
        served.bad_digest = layer
        r = run_cli(["artifact", "pull", f"{served.host}/library/busybox@{sbom['digest']}", "-o", str(out)])
    assert r.exit_code == 1
    actual = hashlib.sha256(bytes([b"{"[0] ^ 1]) + b'"bomFormat":"CycloneDX","specVersion":"1.5"}').hexdigest()
    assert r.stderr == (f"Error: blob {layer} has digest sha256:{actual} (45 bytes): refused, "
                        "nothing written\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither out/ nor a staging dir


def test_artifact_pull_writes_the_files(api_registry: Served, layout: tuple[BuiltImage, dict[str, dict[str, object]]], tmp_path: Path) -> None:
    sig = layout[1]["sig"]
    r = run_cli(["artifact", "pull", f"{api_registry.host}/library/busybox@{sig['digest']}", "-o",
                 str(tmp_path / "o"), "--json"])
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "o" / "sig.jws").read_bytes() == b"signature bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_buildx_attestation_manifests_in_an_index(api_registry: Served, layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    image, arts = layout
    att = arts["attestation"]
    ref = f"{api_registry.host}/library/busybox:attested"
    tree = ok_json(["referrers", ref, "--json"])
    assert (tree["digest"], tree["referrers"]) == (att["index"], [])
    [node] = tree["attestations"]
    assert (node["digest"], node["kind"]) == (att["digest"], "buildx attestation manifest")
    assert node["annotations"] == {"attests": image.root.digest, "in-toto.io/predicate-type": PROVENANCE}
    assert node["valid"], node["problems"]
    rows = ok_json(["registry", "inspect", ref, "--json"])["platforms"]
    assert [(r["digest"], r["kind"]) for r in rows] == [(image.root.digest, "image"), (att["digest"], "attestation")]


def ok_json(args: list[str]) -> Any:
    r = run_cli(args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_copy_refuses_a_blob_that_does_not_match(layout: tuple[BuiltImage, dict[str, dict[str, object]]],
                                                 tmp_path: Path) -> None:
    image = layout[0]
    doc = json.loads((image.layout / "blobs" / "sha256" / image.root.digest[7:]).read_bytes())
    bad = doc["layers"][0]["digest"]
    with serve(image.layout, hostile="bad-blob") as served:
        served.bad_digest = bad
        r = run_cli(["copy", f"{served.host}/library/busybox:latest", f"oci:{tmp_path}/l"])
    assert r.exit_code == 1
    assert r.stderr.startswith(f"Error: blob {bad} has digest sha256:")
    assert r.stderr.endswith(f"({doc['layers'][0]['size']} bytes): refused, nothing written\n")
    blobs = sorted(p.name for p in (tmp_path / "l" / "blobs" / "sha256").iterdir())
    assert bad[7:] not in blobs and not [b for b in blobs if b.startswith(".")]
    assert json.loads((tmp_path / "l" / "index.json").read_text())["manifests"] == []


def test_attach_and_copy_to_a_registry_with_the_api_need_no_tag_index(
        tmp_path: Path, layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    image = layout[0]
    root = tmp_path / "layout"
    shutil.copytree(image.layout, root)  # this registry is written to: its own copy
    (tmp_path / "notes.txt").write_text("notes\n")
    with serve(root) as served:
        ref = f"{served.host}/library/busybox:latest"
        r = run_cli(["attach", ref, "--artifact-type", NOTES, str(tmp_path / "notes.txt"), "--json"])
        assert r.exit_code == 0, r.stderr
        attached = json.loads(r.stdout)
        assert (attached["via"], attached["fallback_tag"]) == ("referrers API", "")
        tree = ok_json(["referrers", ref, "--artifact-type", NOTES, "--json"])
        assert [n["digest"] for n in tree["referrers"]] == [attached["digest"]]
        # copy --referrers into another repository of the same registry: the API keeps track.
        result = ok_json(["copy", ref, f"{served.host}/copies/busybox:latest", "--referrers", "--json"])
        assert attached["digest"] in result["referrers"]
        pushed = [q for q in served.requests if q.startswith("PUT ") and "/manifests/" in q]
    assert not [q for q in pushed if "/manifests/sha256-" in q]  # no fallback tag, ever
    assert f"PUT /v2/library/busybox/manifests/{attached['digest']}" in pushed
    assert f"PUT /v2/copies/busybox/manifests/{attached['digest']}" in pushed


def test_a_listed_referrer_that_is_missing_is_shown_invalid(
        layout: tuple[BuiltImage, dict[str, dict[str, object]]]) -> None:
    with serve(layout[0].layout, hostile="missing-referrer") as served:
        r = run_cli(["referrers", f"{served.host}/library/busybox:latest"])
    assert r.exit_code == 0, r.stderr
    lines = [line.lstrip(" │├└─") for line in r.stdout.splitlines()]
    assert lines[0].endswith("(3 referrers, via the referrers API)")  # listed by all 3: shown once
    assert lines.count(f"application/spdx+json [SPDX SBOM] {'0' * 16} 10 B INVALID") == 1
    assert lines.count("! error: the index lists it, but the registry has no such manifest (404) "
                       "[referrers.missing]") == 1
