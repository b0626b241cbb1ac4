"""`ocix pull` happy path and interop with `ctr`: what ocix stores, ctr can check and run, and
the reverse; garbage collection keeps a pulled image once the pull's lease is gone."""

from __future__ import annotations

import json

import pytest

from ocix.containerd import content, images, leases, snapshots
from ocix.containerd.connection import Connection
from ocix.lab.state import LabState
from ocix.oci.digest import chain_ids
from tests.helpers import ctr, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_ctr_checks_and_runs_what_ocix_pulled(lab: LabState, ns_env: dict[str, str],
                                              namespace: str, nsconn: Connection) -> None:
    ref = f"{lab.registry}/library/layers:latest"
    r = run_cli(["pull", ref, "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["name"] == ref and len(result["layers"]) == 4
    check = ctr(lab, namespace, "images", "check")
    assert check.returncode == 0, check.stderr
    (line,) = [x for x in check.stdout.splitlines() if x.startswith(ref)]
    assert "complete (5/5)" in line and line.split()[-1] == "true", check.stdout
    run = ctr(lab, namespace, "run", "--rm", ref, "ocix-pull-interop", "/bin/sh", "/data/run.sh")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "layers-ok"
    assert leases.list_leases(nsconn) == []


def test_ocix_lists_what_ctr_pulled(lab: LabState, ns_env: dict[str, str], namespace: str) -> None:
    ref = f"{lab.registry}/library/busybox:latest"
    p = ctr(lab, namespace, "images", "pull", "--hosts-dir", lab.hosts_dir, ref)
    assert p.returncode == 0, p.stderr
    r = run_cli(["images", "ls", "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    (img,) = json.loads(r.stdout)
    assert img["name"] == ref and img["unpacked"] is True


def test_gc_keeps_pulled_image_after_lease_is_gone(lab: LabState, ns_env: dict[str, str],
                                                  nsconn: Connection) -> None:
    ours, other = f"{lab.registry}/library/layers:latest", f"{lab.registry}/library/busybox:latest"
    for ref in (ours, other):
        r = run_cli(["pull", ref, "--quiet"], env=ns_env)
        assert r.exit_code == 0, r.stderr
    assert leases.list_leases(nsconn) == []
    # Deleting the other image with sync runs containerd's GC now.
    images.delete(nsconn, other, sync=True)
    assert [i.name for i in images.list_images(nsconn)] == [ours]
    target = images.get(nsconn, ours).target
    manifest = json.loads(content.read_blob(nsconn, target.digest))
    blobs = [target.digest, manifest["config"]["digest"], *(x["digest"] for x in manifest["layers"])]
    assert all(content.exists(nsconn, d) for d in blobs)
    config = json.loads(content.read_blob(nsconn, manifest["config"]["digest"]))
    for chain in chain_ids(config["rootfs"]["diff_ids"]):
        snapshots.stat(nsconn, chain)  # raises NotFoundError if GC took it
    # busybox's layer is layers' first layer: still here; its config is gone.
    assert not content.exists(nsconn, _config_of(lab, other))


def _config_of(lab: LabState, ref: str) -> str:
    import urllib.request

    from ocix.oci import mediatypes as mt

    repo = ref.split("/", 1)[1].rsplit(":", 1)[0]
    req = urllib.request.Request(f"http://{lab.registry}/v2/{repo}/manifests/latest",
                                 headers={"Accept": f"{mt.OCI_MANIFEST}, {mt.OCI_INDEX}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["config"]["digest"])
