"""`lab import` without a registry: reading docker save tars and layouts, naming, validating."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from ocix.errors import UsageError
from ocix.lab.images import importer
from ocix.lab.images.build import Data, File, ImageSpec, LayerSpec, PlatformImage, build_image
from ocix.oci.descriptor import Descriptor, Platform


def _layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"hello\n"
        ti = tarfile.TarInfo("hello.txt")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def docker_save(path: Path, *, tags: list[str] | None, corrupt: bool = False) -> str:
    """A docker save tar (the pre-25 format): manifest.json, <id>.json, <dir>/layer.tar."""
    layer = _layer_tar()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cid = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{cid}.json", "RepoTags": tags,
                            "Layers": ["abc/layer.tar"]}]).encode()
    if corrupt:
        layer = layer[:-1] + b"x"
    with tarfile.open(path, "w") as t:
        for name, data in (("manifest.json", manifest), (f"{cid}.json", config),
                           ("abc/layer.tar", layer)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return diff_id


def test_a_docker_save_tar_becomes_a_valid_oci_layout(tmp_path: Path) -> None:
    diff_id = docker_save(tmp_path / "a.tar", tags=["busybox:latest", "me/box:1"])
    staging = tmp_path / "stage"
    staging.mkdir()
    layout, entries = importer.read(tmp_path / "a.tar", staging)
    assert [name for name, _ in entries] == ["busybox:latest", "me/box:1"]
    importer.validate(layout, "a.tar")
    manifest = json.loads((layout / "blobs" / "sha256" / entries[0][1].digest[7:]).read_bytes())
    assert manifest["layers"][0]["digest"] == diff_id  # uncompressed: digest == diff ID
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"


def test_a_layer_that_does_not_match_its_diff_id_is_named(tmp_path: Path) -> None:
    diff_id = docker_save(tmp_path / "bad.tar", tags=["x:1"], corrupt=True)
    staging = tmp_path / "stage"
    staging.mkdir()
    with pytest.raises(importer.BadArchive) as e:
        importer.read(tmp_path / "bad.tar", staging)
    assert e.value.message.startswith(f"{tmp_path / 'bad.tar'}: abc/layer.tar: its sha256 is ")
    assert e.value.message.endswith(f"says diff_ids[0] is {diff_id}")


def test_names_follow_the_archive_or_as() -> None:
    d = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "a" * 64, 10)
    got = importer.names([("docker.io/library/alpine:3.18", d), ("quay.io/org/tool:2", d)],
                         None, "x.tar")
    assert [(r, t) for _, r, t, _ in got] == [("library/alpine", "3.18"), ("org/tool", "2")]
    assert [(r, t) for _, r, t, _ in importer.names([("3.18", d)], "alpine", "x")] == [
        ("library/alpine", "3.18")]
    assert [(r, t) for _, r, t, _ in importer.names([("", d)], "me/app:7", "x")] == [
        ("me/app", "7")]
    with pytest.raises(UsageError, match=r"^x: image sha256:a+ has the tag '3.18' and no name$"):
        importer.names([("3.18", d)], None, "x")
    with pytest.raises(UsageError, match="holds 2 images; --as NAME:TAG names one"):
        importer.names([("a:1", d), ("b:2", d)], "c:3", "x")


def test_a_layout_dir_is_read_in_place_and_a_bad_blob_is_named(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    spec = ImageSpec("library/one", "a", (PlatformImage(
        Platform("linux", "amd64"), (LayerSpec((File("f", Data(b"one\n")),)),)),))
    built = build_image(layout, spec)
    got_layout, entries = importer.read(layout, tmp_path / "unused")
    assert got_layout == layout and entries == [("library/one:a", entries[0][1])]
    assert entries[0][1].digest == built.root.digest
    importer.validate(layout, "layout")
    manifest = json.loads((layout / "blobs" / "sha256" / built.root.digest[7:]).read_bytes())
    blob = layout / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(importer.BadArchive, match=r"^layout: blobs/sha256/[0-9a-f]{64}: "):
        importer.validate(layout, "layout")


def test_what_is_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("junk\n")
    with pytest.raises(importer.BadArchive, match="not a readable tar archive"):
        importer.read(tmp_path / "junk", tmp_path)
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    with pytest.raises(importer.BadArchive, match="neither a docker save archive"):
        importer.read(tmp_path / "empty.tar", tmp_path)
