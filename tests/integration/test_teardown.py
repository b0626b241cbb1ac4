"""The per-test namespace teardown (tests.helpers.remove_namespace) reports leaks and what it
cannot remove, instead of hiding them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ocix.containerd import content, leases, namespaces
from ocix.containerd.connection import Connection
from ocix.lab.state import LabState
from tests.helpers import remove_namespace

pytestmark = pytest.mark.integration

GC_ROOT = "containerd.io/gc.root"


@pytest.fixture
def scratch(lab: LabState, ns: str) -> Iterator[Connection]:
    """A connection to the test's namespace (busybox pulled), for remove_namespace to empty."""
    c = Connection(lab.containerd_socket, ns)
    yield c
    for blob in content.list_content(c):  # undo what a failed test may have pinned
        if GC_ROOT in blob.labels:
            content.update_labels(c, blob.digest, {GC_ROOT: ""})
    c.close()


def names(c: Connection) -> set[str]:
    return {n.name for n in namespaces.list_namespaces(c)}


def test_a_clean_namespace_is_removed_without_a_word(scratch: Connection) -> None:
    assert remove_namespace(scratch, scratch.namespace) == []
    assert scratch.namespace not in names(scratch)


def test_a_leftover_lease_is_reported_and_removed(scratch: Connection) -> None:
    lease = leases.create(scratch, "left-behind")
    assert remove_namespace(scratch, scratch.namespace) == [
        f"lease left-behind {dict(sorted(lease.labels.items()))} was left behind (removed now)"]
    assert scratch.namespace not in names(scratch)


def test_what_cannot_be_removed_is_listed(scratch: Connection) -> None:
    # A GC root label keeps a blob (and so the namespace) alive whatever the teardown does.
    (config,) = [b for b in content.list_content(scratch)
                 if "containerd.io/gc.ref.snapshot.overlayfs" in b.labels]
    content.update_labels(scratch, config.digest, {GC_ROOT: "pinned"})
    report = remove_namespace(scratch, scratch.namespace)
    ns = scratch.namespace
    assert report[0] == (f'namespace {ns}: remove namespace {ns}: namespace "{ns}" must be empty, '
                         'but it still has blobs, snapshots on "overlayfs" snapshotter: '
                         "failed precondition")
    assert f"blob {config.digest}" in report[1:]
    assert any(line.startswith("snapshot sha256:") for line in report[1:])
    # Unpinned, the same teardown goes through.
    content.update_labels(scratch, config.digest, {GC_ROOT: ""})
    assert remove_namespace(scratch, ns) == []
    assert ns not in names(scratch)
