"""After the pull's lease is gone, containerd's GC keeps everything the image needs (issue 3.5)."""

from __future__ import annotations

import subprocess

from ocix.containerd import content, images, leases, snapshots
from ocix.containerd.connection import Connection
from ocix.containerd.imagewalk import default_manifest
from ocix.containerd.pull import PullOptions, pull
from ocix.errors import NotFoundError
from ocix.lab.state import LabState
from ocix.oci.digest import chain_ids, sha256_digest


def _gc(conn: Connection) -> None:
    """Force a synchronous GC: delete a throwaway lease with sync=True."""
    lease = leases.create(conn)
    leases.delete(conn, lease.id, sync=True)


def test_gc_keeps_pulled_image_and_collects_orphans(lab: LabState, namespace: str) -> None:
    conn = Connection(lab.containerd_socket, namespace)
    try:
        result = pull(conn, "layers", PullOptions(hosts_dir=lab.hosts_dir))
        assert leases.list_leases(conn) == []

        # Control: a blob written under a lease and referenced by nothing is collected.
        orphan = b"orphan blob " + namespace.encode()
        with leases.temporary(conn) as lease:
            content.write_blob(conn, "test-orphan", sha256_digest(orphan), len(orphan),
                               lambda off: [orphan[off:]], lease=lease.id)
        _gc(conn)
        assert not content.exists(conn, sha256_digest(orphan))

        image = images.get(conn, result.name)
        m = default_manifest(conn, image.target)
        for blob in [image.target, m.config, *m.layers]:
            assert content.exists(conn, blob.digest), blob
        for chain in chain_ids(m.diff_ids):
            assert snapshots.stat(conn, chain).kind == "committed"
        info = content.info(conn, m.config.digest)
        assert info.labels["containerd.io/gc.ref.snapshot.overlayfs"] == chain_ids(m.diff_ids)[-1]
    finally:
        conn.close()
    out = subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", namespace, "run", "--rm",
                          result.name, "gc-check", "cat", "/etc/passwd"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("root:"), out.stderr


def test_removing_the_image_frees_its_content(lab: LabState, namespace: str) -> None:
    conn = Connection(lab.containerd_socket, namespace)
    try:
        result = pull(conn, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
        images.delete(conn, result.name, sync=True)
        assert content.list_content(conn) == []
        try:
            snapshots.stat(conn, result.chain_id)
            raise AssertionError("the snapshot should be collected with its image")
        except NotFoundError:
            pass
    finally:
        conn.close()
