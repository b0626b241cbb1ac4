"""`ocix registry`, `attach`, `referrers`, `artifact pull` and `copy` against the lab's registry
(distribution 2.8: no referrers API, so the tag schema fallback).

Expected values come from skopeo (inspect, list-tags) and from plain HTTP requests, never from
ocix itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240),
              pytest.mark.skipif(not shutil.which("skopeo"), reason="skopeo is not installed; make setup")]

SBOM = "application/vnd.cyclonedx+json"
NOTES = "application/vnd.example.release-notes"


def skopeo(*args: str) -> str:
    r = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def skopeo_raw(ref: str) -> bytes:
    r = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
                       capture_output=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ok(args: list[str], env: dict[str, str] | None = None) -> Any:
    r = run_cli(args, env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout) if "--json" in args else r.stdout


def test_repos_and_tags_agree_with_the_registry(lab: LabState) -> None:
    want = requests.get(f"http://{lab.registry}/v2/_catalog", timeout=10).json()["repositories"]
    assert ok(["registry", "repos", lab.registry, "--json"]) == want
    r = run_cli(["--trace", "registry", "repos", lab.registry, "--page-size", "1", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == want  # distribution's own Link pages, one name each
    assert r.stderr.count(f"GET http://{lab.registry}/v2/_catalog?") == len(want)
    tags = json.loads(skopeo("list-tags", "--tls-verify=false",
                             f"docker://{lab.registry}/library/pause"))["Tags"]
    rows = ok(["registry", "tags", f"{lab.registry}/library/pause", "--digests", "--json"])
    assert [r["tag"] for r in rows] == tags
    for row in rows:
        raw = skopeo_raw(f"{lab.registry}/library/pause:{row['tag']}")
        assert row["digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_tags_go_through_the_docker_io_mirror_with_trace(lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["--trace", "registry", "tags", "busybox", "--json"], env=lab_env)
    assert r.exit_code == 0, r.stderr
    assert [t["tag"] for t in json.loads(r.stdout)] == json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{lab.registry}/library/busybox"))["Tags"]
    assert f"GET http://{lab.registry}/v2/library/busybox/tags/list?n=1000 -> 200" in r.stderr


def test_inspect_of_the_multiarch_index_agrees_with_skopeo(lab: LabState) -> None:
    ref = f"{lab.registry}/library/multiarch:latest"
    raw = skopeo_raw(ref)
    r = run_cli(["registry", "inspect", ref, "--raw"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout_bytes == raw
    index = json.loads(raw)
    got = ok(["registry", "inspect", ref, "--json"])
    assert got["digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert [(p["digest"], p["size"]) for p in got["platforms"]] == \
        [(m["digest"], m["size"]) for m in index["manifests"]]
    for row, m in zip(got["platforms"], index["manifests"], strict=True):
        os_, arch = m["platform"]["os"], m["platform"]["architecture"]
        assert row["platform"] == f"{os_}/{arch}"
        sk = json.loads(skopeo("inspect", "--tls-verify=false", "--override-os", os_,
                               "--override-arch", arch, f"docker://{ref}"))
        assert (sk["Os"], sk["Architecture"]) == (os_, arch)
        assert row["layers"] == len(sk["Layers"])
        assert row["created"] == sk["Created"]
        one = ok(["registry", "inspect", ref, "--platform", f"{os_}/{arch}", "--json"])
        assert one["manifest_digest"] == m["digest"]
        assert [x["digest"] for x in one["layers"]] == sk["Layers"]
        assert one["labels"] == (sk["Labels"] or {})


def _attach(lab: LabState, ref: str, tmp: Path) -> dict[str, dict[str, Any]]:
    (tmp / "sbom.cdx.json").write_text('{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}\n')
    (tmp / "NOTES.txt").write_text("release notes\n")
    sbom = ok(["attach", ref, "--artifact-type", SBOM, str(tmp / "sbom.cdx.json"), "--json"])
    notes = ok(["attach", ref, "--artifact-type", NOTES, "-a",
                "org.opencontainers.image.description=notes", str(tmp / "NOTES.txt"), "--json"])
    return {"sbom": sbom, "notes": notes}


def test_attach_referrers_pull_and_copy_through_the_tag_schema(lab: LabState, tmp_path: Path) -> None:
    ref = f"{lab.registry}/library/busybox:latest"
    subject = "sha256:" + hashlib.sha256(skopeo_raw(ref)).hexdigest()
    arts = _attach(lab, ref, tmp_path)
    fallback = f"sha256-{subject[7:]}"
    for a in arts.values():
        assert (a["subject"], a["via"], a["fallback_tag"]) == (subject, "tag schema", fallback)
    # The fallback index, read by skopeo, lists both artifacts with their artifactType.
    index = json.loads(skopeo_raw(f"{lab.registry}/library/busybox:{fallback}"))
    listed = {m["digest"]: m.get("artifactType") for m in index["manifests"]}
    assert listed == {arts["sbom"]["digest"]: SBOM, arts["notes"]["digest"]: NOTES}
    for a in arts.values():  # and each artifact's bytes hash to the digest attach reported
        raw = skopeo_raw(f"{lab.registry}/library/busybox@{a['digest']}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == a["digest"]
        assert json.loads(raw)["subject"]["digest"] == subject

    tree = ok(["referrers", ref, "--json"])
    assert (tree["source"], tree["digest"]) == ("tag schema", subject)
    nodes = {n["digest"]: n for n in tree["referrers"]}
    assert set(nodes) == set(listed)
    assert nodes[arts["sbom"]["digest"]]["kind"] == "CycloneDX SBOM"
    assert nodes[arts["notes"]["digest"]]["annotations"] == {"org.opencontainers.image.description": "notes"}
    for d, n in nodes.items():
        assert n["valid"] and n["problems"] == [], n
        r = run_cli(["validate", "ref", f"{lab.registry}/library/busybox@{d}"])
        assert r.exit_code == 0, r.stdout
    r = run_cli(["referrers", ref, "--api"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines() == [
        f"Error: {lab.registry} has no referrers API (GET referrers/ answered 404)",
        "Hint: drop --api: ocix then reads the tag schema"]
    only = ok(["referrers", ref, "--artifact-type", SBOM, "--json"])
    assert [n["digest"] for n in only["referrers"]] == [arts["sbom"]["digest"]]

    out = tmp_path / "pulled"
    ok(["artifact", "pull", f"{lab.registry}/library/busybox@{arts['sbom']['digest']}", "-o", str(out)])
    assert (out / "sbom.cdx.json").read_bytes() == (tmp_path / "sbom.cdx.json").read_bytes()

    # copy --referrers to another repository and into a layout: same digests, both referrers.
    dst = f"{lab.registry}/copies/busybox:latest"
    result = ok(["copy", ref, dst, "--referrers", "--json"])
    assert sorted(result["referrers"]) == sorted(listed)
    assert skopeo_raw(dst) == skopeo_raw(ref)
    copied = ok(["referrers", dst, "--json"])
    assert {n["digest"] for n in copied["referrers"]} == set(listed)
    assert all(n["valid"] for n in copied["referrers"])
    layout = tmp_path / "layout"
    ok(["copy", ref, f"oci:{layout}:busybox", "--referrers", "--json"])
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    assert {e["digest"] for e in entries} == {subject, *listed}
    for e in entries:
        blob = (layout / "blobs" / "sha256" / e["digest"][7:]).read_bytes()
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == e["digest"]
    r = run_cli(["validate", str(layout)])
    assert r.exit_code == 0, r.stdout
    back = f"{lab.registry}/restored/busybox:latest"
    ok(["copy", f"oci:{layout}:busybox", back, "--referrers"])
    assert skopeo_raw(back) == skopeo_raw(ref)
    assert {n["digest"] for n in ok(["referrers", back, "--json"])["referrers"]} == set(listed)


def test_copy_of_an_index_keeps_every_digest(lab: LabState, tmp_path: Path) -> None:
    src = f"{lab.registry}/library/multiarch:latest"
    ok(["copy", src, f"oci:{tmp_path}/m"])
    dst = f"{lab.registry}/copies/multiarch:v1"
    ok(["copy", f"oci:{tmp_path}/m", dst])
    raw = skopeo_raw(src)
    assert skopeo_raw(dst) == raw
    for m in json.loads(raw)["manifests"]:
        assert skopeo_raw(f"{lab.registry}/copies/multiarch@{m['digest']}") == \
            skopeo_raw(f"{lab.registry}/library/multiarch@{m['digest']}")


def test_copy_into_a_layout_under_a_file_is_one_line(lab: LabState, tmp_path: Path) -> None:
    """A traceback from mkdir before; nothing is written next to the file."""
    (tmp_path / "notes.txt").write_text("x")
    for dest in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "sub"):
        r = run_cli(["copy", f"{lab.registry}/library/busybox:latest", f"oci:{dest}:x"])
        assert (r.exit_code, r.stdout) == (1, "")
        assert r.stderr == (f"Error: cannot make an OCI layout in {dest}: {tmp_path}/notes.txt "
                            "is a file, not a directory\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("args", [["registry", "inspect"], ["sbom"], ["layers", "--waste", "--ref"]])
def test_other_platform_of_a_single_manifest_in_a_registry(lab: LabState, args: list[str]) -> None:
    """The seed busybox is one manifest for this host (its config, read by skopeo, says which);
    another --platform showed that manifest as if it were the one asked for."""
    ref = f"{lab.registry}/library/busybox:latest"
    config = json.loads(skopeo("inspect", "--tls-verify=false", "--config", f"docker://{ref}"))
    mine = f"{config['os']}/{config['architecture']}"
    other = "linux/s390x"
    r = run_cli([*args, ref, "--platform", other])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == f"Error: image {ref} is a single {mine} manifest: no manifest for {other}\n"
    assert run_cli([*args, ref, "--platform", mine]).exit_code == 0


def test_referrers_of_each_platform_manifest_show_and_copy(lab: LabState, tmp_path: Path) -> None:
    ref = f"{lab.registry}/library/multiarch:latest"
    index = json.loads(skopeo_raw(ref))
    last = index["manifests"][-1]
    (tmp_path / "sig").write_bytes(b"a signature of one platform")
    sig = ok(["attach", f"{lab.registry}/library/multiarch@{last['digest']}", "--artifact-type",
              "application/vnd.cncf.notary.signature", str(tmp_path / "sig"), "--json"])
    tree = ok(["referrers", ref, "--json"])
    assert tree["referrers"] == []
    [plat] = tree["platforms"]
    assert (plat["digest"], plat["kind"]) == (last["digest"], f"platform {last['platform']['os']}/"
                                                              f"{last['platform']['architecture']}")
    assert [(n["digest"], n["kind"], n["valid"]) for n in plat["children"]] == \
        [(sig["digest"], "notation signature", True)]
    dst = f"{lab.registry}/copies/multiarch-signed:latest"
    assert ok(["copy", ref, dst, "--referrers", "--json"])["referrers"] == [sig["digest"]]
    copied = json.loads(skopeo_raw(f"{lab.registry}/copies/multiarch-signed:sha256-{last['digest'][7:]}"))
    assert [m["digest"] for m in copied["manifests"]] == [sig["digest"]]
