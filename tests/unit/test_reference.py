"""Reference normalization must match docker/containerd exactly."""

from __future__ import annotations

import pytest

from ocix.errors import UsageError
from ocix.registry.reference import parse

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("given", "name"), [
    ("alpine", "docker.io/library/alpine:latest"),
    ("alpine:3.18", "docker.io/library/alpine:3.18"),
    ("library/alpine:3.18", "docker.io/library/alpine:3.18"),
    ("docker.io/alpine", "docker.io/library/alpine:latest"),
    ("index.docker.io/library/alpine:3.18", "docker.io/library/alpine:3.18"),
    ("myuser/app", "docker.io/myuser/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("127.0.0.1:5000/library/busybox", "127.0.0.1:5000/library/busybox:latest"),
    ("registry.example.com/team/sub/app:1.0", "registry.example.com/team/sub/app:1.0"),
    (f"alpine@{DIGEST}", f"docker.io/library/alpine@{DIGEST}"),
    (f"alpine:3.18@{DIGEST}", f"docker.io/library/alpine:3.18@{DIGEST}"),
])
def test_normalizes_like_docker(given: str, name: str) -> None:
    assert parse(given).name == name


def test_parts_and_familiar_form() -> None:
    ref = parse("alpine:3.18")
    assert (ref.host, ref.repository, ref.tag, ref.digest) == ("docker.io", "library/alpine", "3.18", "")
    assert ref.familiar() == "alpine:3.18"
    assert ref.object == "3.18"
    pinned = parse(f"quay.io/x/y@{DIGEST}")
    assert pinned.object == DIGEST and pinned.tag == ""
    assert pinned.familiar() == f"quay.io/x/y@{DIGEST}"


@pytest.mark.parametrize(("given", "message"), [
    ("", "empty image reference"),
    ("BAD REF", "invalid reference 'BAD REF': no scheme or spaces allowed"),
    ("https://quay.io/x", "invalid reference 'https://quay.io/x': no scheme or spaces allowed"),
    ("Alpine", "invalid reference 'Alpine': bad repository name 'library/Alpine'"),
    ("alpine@sha256:abc", "invalid reference 'alpine@sha256:abc': sha256 digests are 64 lowercase hex characters, got 3 in 'sha256:abc'"),
    ("alpine:bad:tag", "invalid reference 'alpine:bad:tag': bad repository name 'library/alpine:bad'"),
])
def test_rejects_with_exact_message(given: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse(given)
    assert e.value.message == message
    assert e.value.exit_code == 2
