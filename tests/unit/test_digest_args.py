"""The one rule for a DIGEST argument: a full digest, or a unique prefix of 6+ hex characters
with or without `sha256:`; the content commands and `ocix why` all follow it."""

from __future__ import annotations

from typing import Any

import pytest

from ocix.containerd import content
from ocix.errors import InvalidArgumentError, NotFoundError, OcixError
from ocix.jobs.store import content as contentview
from ocix.jobs.store import gcgraph
from ocix.oci.digest import digest_prefix, resolve_digest

A1 = "sha256:c545a5" + "1" * 58
A2 = "sha256:c545a5" + "2" * 58
B = "sha256:301b55" + "3" * 58
BLOBS = [A1, A2, B]
NOT_A_DIGEST = ("Error: {!r} is not a digest: give all of it, or its first 6 or more hex "
                "characters (sha256: optional)")


def test_prefix_forms() -> None:
    assert digest_prefix("sha256:C545A5") == ("sha256", "c545a5")
    assert digest_prefix("c545a5ad2f99") == ("", "c545a5ad2f99")
    for ref in ("sha256:c545", "c545a", "md5:c545a5ad", "sha256:c545a5-x", "my-container", ""):
        assert digest_prefix(ref) is None, ref


def test_full_digests_are_taken_as_they_are_without_a_listing() -> None:
    def never() -> list[str]:
        raise AssertionError("a full digest needs no listing")

    assert resolve_digest(A1, never) == A1
    assert resolve_digest("sha256:" + "0" * 64, never) == "sha256:" + "0" * 64


@pytest.mark.parametrize("ref", ["sha256:301b55", "301b55", "301B55333", "sha256:301b553333"])
def test_a_unique_prefix_names_its_digest(ref: str) -> None:
    assert resolve_digest(ref, lambda: BLOBS) == B


def test_no_match_is_none_and_a_shared_prefix_counts_the_candidates() -> None:
    assert resolve_digest("abcdef", lambda: BLOBS) is None
    assert resolve_digest("sha512:301b55", lambda: BLOBS) is None  # another algorithm
    with pytest.raises(OcixError) as e:
        resolve_digest("sha256:c545a5", lambda: BLOBS)
    assert (type(e.value), e.value.exit_code) == (OcixError, 1)
    assert (e.value.message, e.value.hint) == ("'sha256:c545a5' is ambiguous: 2 blobs start with it",
                                               "give more of the digest")
    assert resolve_digest("c545a51", lambda: BLOBS) == A1


@pytest.mark.parametrize("ref", ["sha256:c545", "c545", "sha256:", "sha256:xyzxyzxyz", "latest"])
def test_anything_else_is_one_clear_line(ref: str) -> None:
    with pytest.raises(InvalidArgumentError) as e:
        resolve_digest(ref, lambda: BLOBS)
    assert f"Error: {e.value.message}" == NOT_A_DIGEST.format(ref)
    assert e.value.exit_code == 1


class FakeConn:
    namespace = "default"


def test_content_commands_resolve_through_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "list_content",
                        lambda conn, filters=None: [content.Info(d, 1) for d in BLOBS])
    conn: Any = FakeConn()
    assert contentview.resolve(conn, "sha256:301b55") == B
    with pytest.raises(NotFoundError) as e:
        contentview.resolve(conn, "sha256:0000000")
    assert e.value.message == "no blob sha256:0000000 in namespace 'default'"
    with pytest.raises(OcixError, match=r"^'c545a5' is ambiguous: 2 blobs start with it$"):
        contentview.resolve(conn, "c545a5")


def test_why_resolves_through_the_rule_and_keeps_snapshot_keys() -> None:
    g = gcgraph.Graph("default")
    g.content = {d: content.Info(d, 1) for d in BLOBS}
    assert gcgraph.resolve(g, "sha256:301b55", "overlayfs") == [("content", B)]
    with pytest.raises(OcixError, match=r"^'sha256:c545a5' is ambiguous: 2 blobs start with it$"):
        gcgraph.resolve(g, "sha256:c545a5", "overlayfs")
    with pytest.raises(NotFoundError) as e:  # too short for a prefix: maybe a snapshot key
        gcgraph.resolve(g, "sha256:c545", "overlayfs")
    assert e.value.message == "no content or overlayfs snapshot 'sha256:c545' in namespace 'default'"
