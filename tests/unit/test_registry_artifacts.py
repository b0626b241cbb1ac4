"""Pure pieces of the referrers and artifact code: the tag schema, bounds, kinds, the manifest."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from ocix.jobs.registry.referrers import check_referrer, kind_of
from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.registry.artifact import EMPTY, artifact_manifest
from ocix.registry.listing import HostileRegistryError
from ocix.registry.referrers import MAX_REFERRERS, fallback_tag, parse_index
from ocix.validate import validate_document
from tests.helpers import run_cli

SUBJECT = Descriptor(mt.OCI_MANIFEST, "sha256:" + "ab" * 32, 405)


def test_fallback_tag_is_alg_dash_hex_truncated() -> None:
    assert fallback_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32
    assert fallback_tag("sha512:" + "c" * 128) == "sha512-" + "c" * 64
    assert fallback_tag("a" * 40 + ":" + "d" * 10) == "a" * 32 + "-" + "d" * 10


def test_the_empty_descriptor_is_the_blob_braces() -> None:
    assert (EMPTY.digest, EMPTY.size) == ("sha256:" + hashlib.sha256(b"{}").hexdigest(), 2)


def test_a_referrers_index_over_the_bound_is_refused() -> None:
    entry = {"mediaType": mt.OCI_MANIFEST, "digest": SUBJECT.digest, "size": 1}
    ok = json.dumps({"manifests": [entry] * MAX_REFERRERS}).encode()
    assert len(parse_index(ok, "x")) == MAX_REFERRERS
    with pytest.raises(HostileRegistryError, match=f"lists {MAX_REFERRERS + 1} referrers, more than"):
        parse_index(json.dumps({"manifests": [entry] * (MAX_REFERRERS + 1)}).encode(), "x")
    with pytest.raises(HostileRegistryError, match="not JSON"):
        parse_index(b"[", "x")
    with pytest.raises(HostileRegistryError, match="not a descriptor"):
        parse_index(b'{"manifests": [1]}', "x")


@pytest.mark.parametrize(("artifact_type", "layers", "kind"), [
    ("application/vnd.cyclonedx+json", [], "CycloneDX SBOM"),
    ("application/spdx+json", [], "SPDX SBOM"),
    ("application/vnd.cncf.notary.signature", [], "notation signature"),
    ("application/vnd.unknown.config.v1+json", ["application/vnd.dev.cosign.simplesigning.v1+json"],
     "cosign signature"),
    ("application/vnd.in-toto+json", [], "in-toto attestation"),
    ("application/vnd.example", ["text/plain"], ""),
])
def test_known_kinds(artifact_type: str, layers: list[str], kind: str) -> None:
    assert kind_of(artifact_type, layers) == kind


def test_the_attach_manifest_passes_validate_and_names_its_subject() -> None:
    layer = {"mediaType": "application/vnd.cyclonedx+json", "digest": "sha256:" + "cd" * 32,
             "size": 10, "annotations": {"org.opencontainers.image.title": "sbom.json"}}
    body = artifact_manifest("application/vnd.cyclonedx+json", [layer], SUBJECT,
                             {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"})
    doc = json.loads(body)
    assert validate_document(doc, "manifest").findings == []
    assert doc["subject"] == {"mediaType": mt.OCI_MANIFEST, "digest": SUBJECT.digest, "size": 405}
    assert doc["config"] == {"mediaType": mt.OCI_EMPTY, "digest": EMPTY.digest, "size": 2}
    assert check_referrer(doc, "manifest", SUBJECT.digest) == []
    other = "sha256:" + "ef" * 32
    assert check_referrer(doc, "manifest", other) == [
        f"error /subject: names {SUBJECT.digest}, not {other} [referrers.subject]"]
    del doc["artifactType"]
    assert [p.split(" [")[-1] for p in check_referrer(doc, "manifest", SUBJECT.digest)] == \
        ["image.manifest.artifact-type]"]


@pytest.mark.parametrize("host", ["notahost", "library"])
def test_registry_repos_of_a_name_that_is_not_a_host_is_usage_exit_2(host: str) -> None:
    """`notahost/x` is a docker.io repository: before, docker.io's catalog (the lab mirror's)
    was listed for it."""
    r = run_cli(["registry", "repos", host])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        f"Error: '{host}' is not a registry host",
        "Hint: a host has a dot or a port, or is localhost (127.0.0.1:5000)"]


@pytest.mark.parametrize(("flags", "line"), [
    (["--artifact-type", "bad type"], "Error: --artifact-type 'bad type' is not a media type"),
    (["--artifact-type", "x/y", "--media-type", "nosubtype"],
     "Error: --media-type 'nosubtype' is not a media type")])
def test_attach_refuses_a_type_validate_would_call_invalid(tmp_path: Path, flags: list[str],
                                                           line: str) -> None:
    """Before, the artifact was pushed and `ocix referrers` then showed an invalid node."""
    f = tmp_path / "notes.txt"
    f.write_text("notes")
    r = run_cli(["attach", "127.0.0.1:1/library/busybox:latest", *flags, str(f)])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [line, "Hint: write type/subtype, e.g. application/vnd.example.notes"]


@pytest.mark.parametrize("value", ["application/vnd.cyclonedx+json", "x/y", "bad type", "a/",
                                   "/b", "a/b/c", "ä/b", "text/plain;charset=utf-8"])
def test_media_type_grammar_is_the_schemas(value: str) -> None:
    schema = json.loads((Path(__file__).parents[2] / "schemas/image/defs.schema.json").read_text())
    pattern = schema["$defs"]["mediaType"]["pattern"]
    assert bool(mt.MEDIA_TYPE_RE.fullmatch(value)) == bool(re.search(pattern, value))


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", "registry.example.com:443"])
def test_registry_tags_of_a_bare_host_is_usage_exit_2(host: str) -> None:
    """HOST:PORT alone is the docker.io repository HOST tagged PORT: the error spoke of
    docker.io/library/127.0.0.1 before."""
    r = run_cli(["registry", "tags", host])
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        f"Error: '{host}' is a registry host, not a repository",
        f"Hint: name one, like {host}/library/busybox; list them with "
        f"`ocix registry repos {host}`"]
