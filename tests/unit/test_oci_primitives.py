"""Chain IDs, digests, media types, platforms, GC labels: pure logic with known answers."""

from __future__ import annotations

import pytest

from ocix.jobs.images.pull import child_gc_labels, source_label
from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Platform
from ocix.oci.digest import chain_id, chain_ids, digest_problem
from ocix.oci.platform import Matcher, normalize, parse

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


# The inputs of image-spec's own ChainID test (docs/sources.md: "sha256:a", "sha256:b",
# "sha256:c"), with the answers computed outside ocix by coreutils:
#   printf '%s' 'sha256:a sha256:b' | sha256sum
#   printf '%s' 'sha256:970a...73a8 sha256:c' | sha256sum
# tests/integration/test_chain_ids.py checks the same function against containerd's snapshots.
SPEC_AB = "sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8"
SPEC_ABC = "sha256:dee159b33409cefa3f6eda71539f006014283e9d9130c18a1dea7bd8a33c9b1b"


def test_chain_ids_match_known_answers() -> None:
    assert chain_ids([]) == []
    assert chain_id(["sha256:a"]) == "sha256:a"
    assert chain_id(["sha256:a", "sha256:b"]) == SPEC_AB
    assert chain_ids(["sha256:a", "sha256:b", "sha256:c"]) == ["sha256:a", SPEC_AB, SPEC_ABC]
    # order matters: B applied before A is another stack
    assert chain_id(["sha256:b", "sha256:a"]) != SPEC_AB


@pytest.mark.parametrize(("digest", "ok"), [
    (A, True), ("sha512:" + "f" * 128, True), ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", True),
    ("sha256:" + "A" * 64, False), ("sha256:" + "a" * 63, False), (A + "\n", False), ("sha256", False),
    ("SHA256:" + "a" * 64, False), ("sha512:" + "a" * 64, False)])
def test_digest_rules(digest: str, ok: bool) -> None:
    assert (digest_problem(digest) is None) is ok


def test_ref_keys_like_containerd() -> None:
    assert mt.ref_key(mt.OCI_MANIFEST, A) == f"manifest-{A}"
    assert mt.ref_key(mt.DOCKER_MANIFEST_LIST, A) == f"index-{A}"
    assert mt.ref_key(mt.DOCKER_LAYER_GZIP, A) == f"layer-{A}"
    assert mt.ref_key(mt.OCI_CONFIG, A) == f"config-{A}"
    assert mt.ref_key("application/x-other", A) == f"unknown-{A}"


def test_gc_labels_like_the_go_client() -> None:
    index = {"manifests": [{"digest": A}, {"digest": B}]}
    assert child_gc_labels(mt.OCI_INDEX, index) == {
        "containerd.io/gc.ref.content.m.0": A, "containerd.io/gc.ref.content.m.1": B}
    manifest = {"config": {"digest": C}, "layers": [{"digest": A}, {"digest": B}]}
    assert child_gc_labels(mt.DOCKER_MANIFEST, manifest) == {
        "containerd.io/gc.ref.content.config": C, "containerd.io/gc.ref.content.l.0": A,
        "containerd.io/gc.ref.content.l.1": B}
    assert source_label("127.0.0.1:5000") == "containerd.io/distribution.source.127.0.0.1"
    assert source_label("docker.io") == "containerd.io/distribution.source.docker.io"


def test_platform_normalization_and_fallbacks() -> None:
    assert normalize(Platform("linux", "x86_64")) == Platform("linux", "amd64")
    assert normalize(Platform("linux", "aarch64", "v8")) == Platform("linux", "arm64")
    assert parse("linux/armhf") == Platform("linux", "arm", "v7")
    m = Matcher(Platform("linux", "amd64"))
    assert m.rank(Platform("linux", "amd64")) == 0
    assert m.rank(Platform("linux", "386")) == 1
    assert m.rank(Platform("linux", "arm64")) is None
    arm = Matcher(parse("linux/arm64"))
    assert arm.rank(Platform("linux", "arm64", "v8")) == 0
    assert arm.rank(Platform("linux", "arm", "v7")) is not None
    assert arm.rank(Platform("windows", "arm64")) is None
