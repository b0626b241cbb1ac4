"""Image document rules, and the image-layout walker over layouts built on the fly."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.validate import validate_document, validate_image_tree, validate_layout
from ocix.validate.findings import Severity

SHA = "sha256:" + "a" * 64


def desc(media: str = mt.OCI_CONFIG, digest: str = SHA, size: int = 2, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media, "digest": digest, "size": size, **extra}


def manifest() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": desc(),
            "layers": [desc(mt.OCI_LAYER_GZIP, size=10)], "annotations": {"org.example.a": "b"}}


def index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
            "manifests": [desc(mt.OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"})]}


def config() -> dict[str, Any]:
    return {"created": "2024-01-31T12:00:00.123Z", "architecture": "arm64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": None},
            "rootfs": {"type": "layers", "diff_ids": [SHA]}}


@pytest.mark.parametrize(("make", "kind"), [(manifest, "manifest"), (index, "index"), (config, "config"),
                                            (desc, "descriptor")])
def test_baselines_are_clean_and_detected(make: Callable[[], dict[str, Any]], kind: str) -> None:
    report = validate_document(make())
    assert (report.kind, report.findings) == (kind, [])


def _rules(doc: Any, kind: str) -> dict[str, Severity]:
    return {f.rule: f.severity for f in validate_document(doc, kind).findings}


def _with(make: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(make())
    change(doc)
    return doc


ERRORS: list[tuple[str, str, dict[str, Any], str]] = [
    ("digest uppercase", "descriptor", desc(digest="sha256:" + "A" * 64), "image.digest.encoding"),
    ("sha256 short", "descriptor", desc(digest="sha256:abc"), "image.digest.encoding"),
    ("sha512 length", "descriptor", desc(digest="sha512:" + "a" * 64), "image.digest.encoding"),
    ("digest grammar", "descriptor", desc(digest="SHA256:x"), "schema.pattern"),
    ("digest newline", "descriptor", desc(digest=SHA + "\n"), "image.digest.grammar"),
    ("mediaType syntax", "descriptor", desc(media="not a media type"), "schema.pattern"),
    ("size negative", "descriptor", desc(size=-1), "schema.minimum"),
    ("data bad base64", "descriptor", desc(data="***"), "image.descriptor.data-base64"),
    ("data size", "descriptor", desc(digest="sha256:" + hashlib.sha256(b"{}").hexdigest(),
                                      size=3, data=base64.b64encode(b"{}").decode()),
     "image.descriptor.data-size"),
    ("data digest", "descriptor", desc(size=2, data=base64.b64encode(b"{}").decode()),
     "image.descriptor.data-digest"),
    ("empty descriptor is {}", "descriptor", desc(media=mt.OCI_EMPTY, size=2),
     "image.descriptor.empty"),
    ("empty config needs artifactType", "manifest",
     _with(manifest, lambda m: m["config"].update(mediaType=mt.OCI_EMPTY)), "image.manifest.artifact-type"),
    ("schemaVersion", "manifest", _with(manifest, lambda m: m.update(schemaVersion=1)), "schema.const"),
    ("config env", "config", _with(config, lambda c: c["config"]["Env"].append("NOVALUE")),
     "image.config.env"),
    ("config created", "config", _with(config, lambda c: c.update(created="yesterday")),
     "image.config.created"),
    ("rootfs type", "config", _with(config, lambda c: c["rootfs"].update(type="tar")), "schema.const"),
    ("index manifests type", "index", _with(index, lambda i: i.update(manifests={})), "schema.type"),
]


@pytest.mark.parametrize(("name", "kind", "doc", "rule"), ERRORS, ids=[e[0] for e in ERRORS])
def test_each_image_error_rule_fails(name: str, kind: str, doc: dict[str, Any], rule: str) -> None:
    report = validate_document(doc, kind)
    assert _rules(doc, kind).get(rule) is Severity.ERROR, report.findings
    assert not report.valid


def test_data_that_matches_is_valid() -> None:
    raw = b"{}"
    d = desc(mt.OCI_EMPTY, "sha256:" + hashlib.sha256(raw).hexdigest(), 2,
             data=base64.b64encode(raw).decode())
    assert validate_document(d).findings == []


def test_artifact_with_artifact_type_is_valid() -> None:
    m = manifest()
    m["config"] = desc(media=mt.OCI_EMPTY, digest="sha256:" + hashlib.sha256(b"{}").hexdigest())
    m["artifactType"] = "application/vnd.example.sbom+json"
    assert validate_document(m).findings == []


def test_unknown_platform_is_a_warning() -> None:
    doc = index()
    doc["manifests"][0]["platform"] = {"os": "linuxx", "architecture": "x86_64"}
    report = validate_document(doc)
    assert report.valid
    assert sorted(f.rule for f in report.findings) == ["image.platform.architecture", "image.platform.os"]
    assert {f.severity for f in report.findings} == {Severity.WARNING}


def test_docker_attestation_platform_unknown_is_not_flagged() -> None:
    doc = index()
    doc["manifests"][0]["platform"] = {"os": "unknown", "architecture": "unknown"}
    doc["manifests"][0]["annotations"] = {"vnd.docker.reference.type": "attestation-manifest"}
    assert validate_document(doc).findings == []


# ---- image layouts built on the fly ---------------------------------------------------------

def _tar(entries: list[tarfile.TarInfo]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info in entries:
            data = b"hello" if info.isreg() else None
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


class Layout:
    """A tiny OCI image layout: one gzip layer, a config, a manifest, index.json."""

    def __init__(self, root: Path, entries: list[tarfile.TarInfo] | None = None) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        raw = _tar(entries if entries is not None else [_entry("etc/hostname")])
        self.diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        self.layer = self.put(gzip.compress(raw), mt.OCI_LAYER_GZIP)
        self.config_doc: dict[str, Any] = {"architecture": "amd64", "os": "linux",
                                           "rootfs": {"type": "layers", "diff_ids": [self.diff_id]}}
        self.write()

    def put(self, data: bytes, media: str) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media, "digest": digest, "size": len(data)}

    def write(self) -> None:
        self.config = self.put(json.dumps(self.config_doc).encode(), mt.OCI_CONFIG)
        m = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": self.config,
             "layers": [self.layer]}
        self.manifest = self.put(json.dumps(m).encode(), mt.OCI_MANIFEST)
        (self.root / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [self.manifest]}))

    def blob(self, d: dict[str, Any]) -> Path:
        return self.root / "blobs" / "sha256" / d["digest"][7:]


def _layout_rules(root: Path) -> dict[str, Severity]:
    return {f.rule: f.severity for f in validate_layout(root).findings}


def test_good_layout_is_valid(tmp_path: Path) -> None:
    Layout(tmp_path)
    report = validate_layout(tmp_path)
    assert (report.kind, report.findings, report.valid) == ("layout", [], True)


def test_corrupt_blob_is_a_digest_mismatch(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    data = lay.blob(lay.layer).read_bytes()
    lay.blob(lay.layer).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    rules = _layout_rules(tmp_path)
    assert rules["tree.digest-mismatch"] is Severity.ERROR


def test_size_mismatch(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.layer["size"] += 1
    lay.write()
    assert _layout_rules(tmp_path) == {"tree.size-mismatch": Severity.ERROR}


def test_missing_blob(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.blob(lay.layer).unlink()
    assert _layout_rules(tmp_path) == {"tree.blob-missing": Severity.ERROR}


def test_diff_id_mismatch_and_count(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.config_doc["rootfs"]["diff_ids"] = [SHA]
    lay.write()
    assert _layout_rules(tmp_path) == {"tree.diff-id-mismatch": Severity.ERROR}
    lay.config_doc["rootfs"]["diff_ids"] = [lay.diff_id, lay.diff_id]
    lay.write()
    assert _layout_rules(tmp_path) == {"tree.diff-ids-count": Severity.ERROR}


@pytest.mark.parametrize(("entry", "rule", "severity"), [
    (_entry("/etc/passwd"), "tree.layer.absolute", Severity.ERROR),
    (_entry("a/../../etc/passwd"), "tree.layer.dotdot", Severity.ERROR),
    (_entry("a/link", tarfile.LNKTYPE, "../../etc/shadow"), "tree.layer.hardlink-escape", Severity.ERROR),
    (_entry("a/sym", tarfile.SYMTYPE, "../../../etc"), "tree.layer.symlink-escape", Severity.WARNING),
    (_entry("dev/null", tarfile.CHRTYPE), "tree.layer.device", Severity.WARNING),
])
def test_unsafe_layer_entries(tmp_path: Path, entry: tarfile.TarInfo, rule: str, severity: Severity) -> None:
    Layout(tmp_path, [_entry("etc/ok"), entry])
    assert _layout_rules(tmp_path) == {rule: severity}


def test_safe_links_are_fine(tmp_path: Path) -> None:
    Layout(tmp_path, [_entry("bin/busybox"), _entry("bin/sh", tarfile.SYMTYPE, "busybox"),
                      _entry("usr/bin/env", tarfile.SYMTYPE, "/bin/busybox"),
                      _entry("usr/lib/x", tarfile.SYMTYPE, "../../bin/busybox"),
                      _entry("bin/ash", tarfile.LNKTYPE, "bin/busybox")])
    assert _layout_rules(tmp_path) == {}


def test_garbage_layer_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    lay.layer = lay.put(b"\x1f\x8bnot really gzip" * 100, mt.OCI_LAYER_GZIP)
    lay.write()
    assert _layout_rules(tmp_path)["tree.layer-unreadable"] is Severity.ERROR


def test_walker_takes_any_opener(tmp_path: Path) -> None:
    lay = Layout(tmp_path)
    blobs = {p.name: p.read_bytes() for p in (tmp_path / "blobs" / "sha256").iterdir()}
    root = Descriptor.from_json(lay.manifest)
    report = validate_image_tree(lambda d: blobs[d.digest[7:]], root, target="mem")
    assert (report.target, report.findings) == ("mem", [])
