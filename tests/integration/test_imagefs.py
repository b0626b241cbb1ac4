"""`ocix diff A B`, `ocix cat` and `ocix cp` on the lab's images and on crafted ones, checked
against the images flattened by the test itself: the blobs from `ctr content get`, extracted
layer by layer with GNU tar (whiteouts and opaque dirs applied here), listed with `tar -tv`;
and against `ctr run … cat`."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from ocix.containerd import content, images, leases
from ocix.containerd.connection import Connection
from ocix.lab.images import recipes
from ocix.lab.state import LabState
from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.oci.digest import sha256_digest
from ocix.oci.platform import host
from tests.helpers import run_cli, tar_bytes

from .flatten import extract, layer_blobs, listing, ocix_diff, truth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def pull(ns_env: dict[str, str], ref: str) -> None:
    r = run_cli(["pull", "--quiet", ref], env=ns_env)
    assert r.exit_code == 0, r.stderr


BUSYBOX = "docker.io/library/busybox:latest"


@pytest.fixture
def lab_images(lab: LabState, ns_env: dict[str, str], namespace: str, tmp_path: Path
               ) -> tuple[str, Path, Path]:
    """busybox and layers pulled into the test's namespace and flattened by tar."""
    layers = f"{lab.registry}/library/layers:latest"
    pull(ns_env, "busybox")
    pull(ns_env, layers)
    extract(layer_blobs(lab, namespace, BUSYBOX), tmp_path / "busybox")
    extract(layer_blobs(lab, namespace, layers), tmp_path / "layers")
    return layers, tmp_path / "busybox", tmp_path / "layers"


def test_diff_of_busybox_and_layers_equals_tar(lab_images: tuple[str, Path, Path],
                                               ns_env: dict[str, str]) -> None:
    layers, a, b = lab_images
    expected = truth(a, b)
    assert ocix_diff(ns_env, "busybox", layers) == expected
    assert ocix_diff(ns_env, layers, "busybox") == {
        p: ({"added": "removed", "removed": "added"}.get(c, c), w) for p, (c, w) in expected.items()}
    # The recipe's facts, so that a wrong extraction here cannot hide a wrong ocix.
    assert expected["/usr/bin/wc"] == ("removed", frozenset())
    assert expected["/data/change.txt"] == ("added", frozenset())
    assert "/data/delete.txt" not in expected and "/data/opaque/old1.txt" not in expected
    assert ocix_diff(ns_env, "busybox", layers, "--path", "/usr") == {
        "/usr/bin/wc": ("removed", frozenset())}

    r = run_cli(["diff", "busybox", layers, "--summary", "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)["summary"]
    lb = listing(b)
    assert (s["added"], s["removed"], s["changed"]) == (
        sum(c == "added" for c, _ in expected.values()),
        sum(c == "removed" for c, _ in expected.values()), 0)
    assert s["added_bytes"] == sum(lb[p][4] for p, (c, _) in expected.items() if c == "added")
    assert "changes" not in json.loads(r.stdout)


def test_diff_table_fits_columns(lab_images: tuple[str, Path, Path],
                                 ns_env: dict[str, str]) -> None:
    layers, a, b = lab_images
    expected = truth(a, b)
    r = run_cli(["diff", "busybox", layers], env={**ns_env, "COLUMNS": "40"})
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(x) <= 40 for x in lines), lines
    letters = {"added": "A", "removed": "D", "changed": "C"}
    assert sorted(x.split()[0] + " " + x.split()[1] for x in lines) == sorted(
        f"{letters[c]} {p}" for p, (c, _) in expected.items())  # these paths all fit in 40
    assert "D /usr/bin/wc  symlink → ../../bin/busy…" in lines
    r = run_cli(["diff", "busybox", layers], env=ns_env)  # 80 columns without COLUMNS
    assert "D /usr/bin/wc  symlink → ../../bin/busybox" in r.stdout.splitlines()
    r = run_cli(["diff", "busybox", "busybox"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "no differences\n")


# -- crafted images: every kind of change -------------------------------------------------

F, D, S = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE
BASE = tar_bytes([("etc/", D, "", 0o755, 0), ("etc/a", F, b"aaa", 0o644, 0), ("etc/b", F, b"b", 0o644, 0),
                  ("etc/c", S, "a", 0o777, 0), ("etc/d", F, b"dd", 0o644, 0),
                  ("etc/same", F, b"xyz", 0o644, 0), ("srv/", D, "", 0o755, 0),
                  ("srv/x", F, b"x", 0o644, 0), ("opt/", D, "", 0o755, 0),
                  ("opt/t", F, b"t", 0o644, 0), ("var/", D, "", 0o755, 0),
                  ("var/gone", F, b"gone", 0o600, 0)])
TOP = tar_bytes([("etc/", D, "", 0o755, 0), ("etc/a", F, b"aaa", 0o755, 0),
                 ("etc/b", F, b"b", 0o644, 1000), ("etc/c", S, "b", 0o777, 0),
                 ("etc/d", F, b"dddd", 0o644, 0), ("etc/same", F, b"abc", 0o644, 0),
                 ("srv/", D, "", 0o755, 0), ("srv/.wh..wh..opq", F, b"", 0o644, 0),
                 ("srv/y", F, b"y", 0o644, 0), ("opt/", D, "", 0o755, 0),
                 ("opt/t/", D, "", 0o750, 0), ("opt/t/inner", F, b"i", 0o644, 0),
                 ("var/", D, "", 0o755, 0), ("var/.wh.gone", F, b"", 0o644, 0),
                 ("/abs", F, b"hostile", 0o644, 0), ("etc/root", S, "/../../etc/a", 0o777, 0)])


def _put(conn: Connection, data: bytes, lease: str) -> str:
    digest = sha256_digest(data)
    content.write_blob(conn, f"test-{digest}", digest, len(data), lambda off: [data[off:]],
                       lease=lease)
    return digest


def _image(conn: Connection, name: str, tars: list[bytes], lease: str) -> None:
    blobs = [gzip.compress(t, mtime=0) for t in tars]
    config = json.dumps({"architecture": host().architecture, "os": "linux",
                         "rootfs": {"type": "layers",
                                    "diff_ids": [sha256_digest(t) for t in tars]},
                         "history": [{"created_by": f"step {i + 1}"} for i in range(len(tars))]
                         }).encode()
    layers = [Descriptor(mt.OCI_LAYER_GZIP, _put(conn, b, lease), len(b)) for b in blobs]
    cfg = Descriptor(mt.OCI_CONFIG, _put(conn, config, lease), len(config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                           "config": cfg.to_json(), "layers": [x.to_json() for x in layers]}
                          ).encode()
    images.put(conn, name, Descriptor(mt.OCI_MANIFEST, _put(conn, manifest, lease),
                                      len(manifest)), lease=lease)


@pytest.fixture
def crafted(nsconn: Connection, tmp_path: Path) -> Any:
    lease = leases.create(nsconn)
    try:
        _image(nsconn, "base:1", [BASE], lease.id)
        _image(nsconn, "top:1", [BASE, TOP], lease.id)
        extract([BASE], tmp_path / "base")
        extract([BASE, gzip.compress(tar_bytes([m for m in _members(TOP) if m[0] != "/abs"]))],
                tmp_path / "top")
        yield tmp_path / "base", tmp_path / "top"
    finally:
        for name in ("base:1", "top:1"):
            images.delete(nsconn, name, sync=False)
        leases.delete(nsconn, lease.id, sync=True)


def _members(data: bytes) -> list[tuple[str, bytes, Any, int, int]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            f = t.extractfile(m) if m.isreg() else None
            out.append((m.name, m.type, f.read() if f else m.linkname, m.mode, m.uid))
    return out


def test_diff_of_crafted_images_names_each_change(crafted: Any, ns_env: dict[str, str]) -> None:
    a, b = crafted
    expected = truth(a, b)
    assert ocix_diff(ns_env, "base:1", "top:1") == expected
    assert ocix_diff(ns_env, "base:1", "top:1", "--content") == truth(a, b, content=True)
    # Spelled out from the recipe above, so the tar truth cannot be wrong unnoticed.
    assert expected["/etc/a"] == ("changed", frozenset({"mode"}))
    assert expected["/etc/b"] == ("changed", frozenset({"uid", "gid"}))
    assert expected["/etc/c"] == ("changed", frozenset({"link"}))
    assert expected["/etc/d"] == ("changed", frozenset({"size"}))
    assert expected["/opt/t"] == ("changed", frozenset({"type", "mode", "size"}))
    assert (expected["/srv/x"], expected["/srv/y"], expected["/var/gone"]) == (
        ("removed", frozenset()), ("added", frozenset()), ("removed", frozenset()))
    assert "/etc/same" not in expected
    assert truth(a, b, content=True)["/etc/same"] == ("changed", frozenset({"content"}))


def test_cat_of_crafted_images_resolves_in_the_root_and_refuses_hostile(
        crafted: Any, ns_env: dict[str, str]) -> None:
    r = run_cli(["cat", "top:1", "/etc/root"], env=ns_env)
    assert (r.exit_code, r.stdout_bytes) == (0, b"aaa")  # /../../etc/a stays in the image
    r = run_cli(["cat", "top:1", "/abs"], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == ("Error: refusing /abs in top:1: layer 2 (step 2) has it "
                                        "as a hostile file '/abs': absolute path")
    r = run_cli(["cat", "top:1", "/srv/x"], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == ("Error: no such file in top:1: /srv/x (deleted in layer "
                                        "2 by 'step 2': opaque directory /srv)")


# -- cat and cp ------------------------------------------------------------------------------

def test_cat_equals_ctr_run(lab: LabState, lab_images: tuple[str, Path, Path], namespace: str,
                            ns_env: dict[str, str]) -> None:
    layers, _, _ = lab_images
    for ref, path in ((BUSYBOX, "/etc/passwd"), (layers, "/data/change.txt"),
                      (layers, "/data/link-to-keep"), (layers, "/data/hard-link.txt"),
                      (BUSYBOX, "/bin/sh")):
        p = subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", namespace, "run", "--rm",
                            ref, f"cat-{os.urandom(4).hex()}", "cat", path],
                           capture_output=True, check=False, timeout=60)
        assert p.returncode == 0, p.stderr
        r = run_cli(["cat", ref, path], env=ns_env)
        assert r.exit_code == 0, r.stderr
        assert r.stdout_bytes == p.stdout and p.stdout, path


def test_cat_says_which_layer_deleted_a_path(lab: LabState, lab_images: tuple[str, Path, Path],
                                             ns_env: dict[str, str]) -> None:
    layers, _, _ = lab_images
    by = recipes.layers().images[0].layers[2].created_by  # the layer with the whiteouts
    for path, how in (("/data/delete.txt", "whiteout"), ("/data/gone/sub/y.txt",
                                                         "whiteout of /data/gone"),
                      ("/data/opaque/old1.txt", "opaque directory /data/opaque")):
        r = run_cli(["cat", layers, path], env=ns_env)
        assert r.exit_code == 1
        assert r.stderr.splitlines()[0] == (f"Error: no such file in {layers}: {path} (deleted "
                                            f"in layer 3 by {by!r}: {how})")
    r = run_cli(["cat", layers, "/nope"], env=ns_env)
    assert (r.exit_code, r.stderr.splitlines()[0]) == (1, f"Error: no such file in {layers}: /nope")
    r = run_cli(["cat", layers, "/data"], env=ns_env)
    assert (r.exit_code, r.stderr.splitlines()[0]) == (1, f"Error: /data in {layers} is a directory")
    for root in ("", "/"):  # an empty path is the root, and the message says so
        r = run_cli(["cat", layers, root], env=ns_env)
        assert (r.exit_code, r.stderr.splitlines()) == (1, [
            f"Error: / in {layers} is a directory",
            f"Hint: copy it out instead: ocix cp {layers}:/ DEST"])


def test_cp_writes_the_final_tree(lab_images: tuple[str, Path, Path], ns_env: dict[str, str],
                                  tmp_path: Path) -> None:
    layers, _, flat = lab_images
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli(["cp", f"{layers}:/data", str(out), "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["dest"] == str(out / "data")
    want, got = listing(flat), listing(out)
    want = {p: v for p, v in want.items() if p.startswith("/data")}
    assert {p: (t, m, s, ln) for p, (t, m, _, _, s, ln) in got.items()} == {
        p: (t, m, s, ln) for p, (t, m, _, _, s, ln) in want.items()}
    for p, v in want.items():
        if v[0] == "-":
            assert (out / p.lstrip("/")).read_bytes() == (flat / p.lstrip("/")).read_bytes(), p
    r = run_cli(["cp", f"{layers}:/data", str(out)], env=ns_env)
    assert (r.exit_code, r.stderr.splitlines()[0]) == (1, f"Error: {out / 'data'} already exists")
    r = run_cli(["cp", "busybox:/etc/passwd", str(tmp_path / "pw")], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "pw").read_bytes() == (flat / "etc/passwd").read_bytes()
    r = run_cli(["cp", "busybox:/etc/passwd", f"{tmp_path}/nodir/"], env=ns_env)
    assert (r.exit_code, r.stderr.splitlines()[0]) == (
        1, f"Error: directory {tmp_path}/nodir/ does not exist")
    r = run_cli(["cp", "busybox", str(tmp_path / "x")], env=ns_env)
    assert r.exit_code == 2 and "expected IMAGE:/PATH, got 'busybox'" in r.stderr
