"""After the pull's lease is gone, containerd's GC keeps everything the image needs
(docs/containerd-protocol.md, "GC labels and leases")."""

from __future__ import annotations

import pytest

from ocix.containerd import content, images, leases, snapshots
from ocix.containerd.connection import Connection
from ocix.errors import NotFoundError
from ocix.jobs.images.pull import PullOptions, pull
from ocix.jobs.images.tree import default_manifest
from ocix.lab.state import LabState
from ocix.oci.digest import chain_ids, sha256_digest
from tests.helpers import ctr

pytestmark = pytest.mark.integration


def _gc(conn: Connection) -> None:
    """Force a synchronous GC: delete a throwaway lease with sync=True."""
    lease = leases.create(conn)
    leases.delete(conn, lease.id, sync=True)


def test_gc_keeps_pulled_image_and_collects_orphans(lab: LabState, namespace: str,
                                                    nsconn: Connection) -> None:
    result = pull(nsconn, "layers", PullOptions(hosts_dir=lab.hosts_dir))
    assert leases.list_leases(nsconn) == []

    # Control: a blob written under a lease and referenced by nothing is collected.
    orphan = b"orphan blob " + namespace.encode()
    with leases.temporary(nsconn) as lease:
        content.write_blob(nsconn, "test-orphan", sha256_digest(orphan), len(orphan),
                           lambda off: [orphan[off:]], lease=lease.id)
    _gc(nsconn)
    assert not content.exists(nsconn, sha256_digest(orphan))

    image = images.get(nsconn, result.name)
    m = default_manifest(nsconn, image.target)
    for blob in [image.target, m.config, *m.layers]:
        assert content.exists(nsconn, blob.digest), blob
    for chain in chain_ids(m.diff_ids):
        assert snapshots.stat(nsconn, chain).kind == "committed"
    info = content.info(nsconn, m.config.digest)
    assert info.labels["containerd.io/gc.ref.snapshot.overlayfs"] == chain_ids(m.diff_ids)[-1]
    out = ctr(lab, namespace, "run", "--rm", result.name, "gc-check", "cat", "/etc/passwd")
    assert out.returncode == 0 and out.stdout.startswith("root:"), out.stderr


def test_removing_the_image_frees_its_content(lab: LabState, nsconn: Connection) -> None:
    result = pull(nsconn, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
    images.delete(nsconn, result.name, sync=True)
    assert content.list_content(nsconn) == []
    try:
        snapshots.stat(nsconn, result.chain_id)
        raise AssertionError("the snapshot should be collected with its image")
    except NotFoundError:
        pass
