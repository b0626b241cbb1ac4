"""`ocix layers` on the lab's images, pulled by ocix and by ctr: the files each layer adds,
changes and deletes, checked against the seed recipe itself and against `tar -tv` of the
blobs that `ctr content get` returns; plus a crafted image with zstd, plain and hostile layers."""

from __future__ import annotations

import gzip
import io
import json
import posixpath
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from ocix.containerd import content, images, leases
from ocix.containerd.connection import Connection
from ocix.lab.images import recipes
from ocix.lab.images.build import Opaque, Whiteout
from ocix.lab.state import LabState
from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.oci.digest import chain_ids, sha256_digest
from ocix.oci.platform import host
from tests.helpers import ctr, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

KEYS = {"digest", "diff_id", "chain_id", "size", "uncompressed_size", "added", "changed", "deleted"}


def pull(lab: LabState, ns_env: dict[str, str], namespace: str, by: str, repo: str) -> str:
    ref = f"{lab.registry}/library/{repo}:latest"
    if by == "ocix":
        r = run_cli(["pull", "--quiet", ref], env=ns_env)
        assert r.exit_code == 0, r.stderr
    else:
        p = ctr(lab, namespace, "images", "pull", "--hosts-dir", lab.hosts_dir, ref, timeout=120)
        assert p.returncode == 0, p.stderr
    return ref


def recipe_truth() -> list[dict[str, str]]:
    """Per layer of recipes.layers(): path -> change, from the recipe's entry objects.

    The builder writes a directory entry for every parent of an entry (so do docker and
    buildkit); those parents are part of what the layer touches."""
    present: set[str] = set()
    out: list[dict[str, str]] = []
    for layer in recipes.layers().images[0].layers:
        here: dict[str, str] = {}
        for e in layer.entries:
            path = "/" + e.path.strip("/")
            parent = posixpath.dirname(path)
            while parent != "/":
                here.setdefault(parent, "changed" if parent in present else "added")
                parent = posixpath.dirname(parent)
            if isinstance(e, Whiteout):
                here[path] = "deleted"
            elif isinstance(e, Opaque):
                here[path] = "opaque"
            else:
                here[path] = "changed" if path in present else "added"
        for path, change in here.items():
            if change in ("deleted", "opaque"):
                present -= {p for p in present if p.startswith(path + "/")}
            if change == "deleted":
                present.discard(path)
        present |= {p for p, c in here.items() if c != "deleted"}
        out.append(here)
    return out


TAR_KINDS = {"-": "file", "d": "dir", "l": "symlink", "h": "hardlink"}


def tar_truth(blob: Path) -> list[tuple[str, str, str]]:
    """(path, change or kind, raw name) per entry of `tar -tvzf`, whiteouts decoded."""
    out = subprocess.run(["tar", "-tvzf", str(blob)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    rows = []
    for line in out.splitlines():
        kind, name = line[0], line.split(None, 5)[5]
        name = name.split(" -> ")[0] if kind == "l" else name.split(" link to ")[0]
        path = "/" + name.strip("/")
        parent, base = posixpath.split(path)
        if base == ".wh..wh..opq":
            rows.append((parent, "opaque", name))
        elif base.startswith(".wh."):
            rows.append((posixpath.join(parent, base[4:]), "deleted", name))
        else:
            rows.append((path, TAR_KINDS[kind], name))
    return rows


@pytest.mark.parametrize("by", ["ocix", "ctr"])
def test_layers_files_match_the_recipe_and_tar(lab: LabState, ns_env: dict[str, str],
                                               namespace: str, by: str, tmp_path: Path) -> None:
    ref = pull(lab, ns_env, namespace, by, "layers")
    r = run_cli(["layers", ref, "--files", "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["image"] == ref
    got = doc["layers"]
    truth = recipe_truth()
    assert len(got) == len(truth) == 4
    for n, (layer, expected) in enumerate(zip(got, truth, strict=True), 1):
        assert set(layer) >= KEYS, layer.keys()
        assert layer["layer"] == n
        files = {f["path"]: f["change"] for f in layer["files"]}
        assert len(files) == len(layer["files"])  # one row per path
        assert files == expected, f"layer {n}"
        for change in ("added", "changed", "deleted", "opaque"):
            assert layer[change] == sum(1 for c in files.values() if c == change)
        assert layer["hostile"] == []

        blob = tmp_path / f"layer{n}.tgz"
        got_blob = subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", namespace, "content",
                                   "get", layer["digest"]], capture_output=True, check=True,
                                  timeout=60).stdout
        blob.write_bytes(got_blob)
        assert sha256_digest(got_blob) == layer["digest"] and len(got_blob) == layer["size"]
        tar = gzip.decompress(got_blob)
        assert len(tar) == layer["uncompressed_size"]
        assert sha256_digest(tar) == layer["diff_id"]
        rows = tar_truth(blob)
        assert layer["entries"] == len(rows)
        kinds = {f["path"]: f["kind"] for f in layer["files"]}
        from_tar: dict[str, str] = {}
        for path, what, _ in rows:  # the opaque marker decides, not its directory's own entry
            if from_tar.get(path) not in ("deleted", "opaque"):
                from_tar[path] = what
        assert set(from_tar) == set(files), f"layer {n}"
        for path, what in from_tar.items():
            if what in ("deleted", "opaque"):
                assert files[path] == what, path
            else:
                assert files[path] in ("added", "changed"), path
                assert kinds[path] == what, path
    diff_ids = [x["diff_id"] for x in got]
    assert [x["chain_id"] for x in got] == chain_ids(diff_ids)
    # The layer 3 facts spelled out, so a wrong recipe reading cannot hide a wrong scanner.
    l3 = {f["path"]: f["change"] for f in got[2]["files"]}
    assert (l3["/data/change.txt"], l3["/data/delete.txt"], l3["/data/opaque"],
            l3["/usr/bin/wc"], l3["/data/added.txt"]) == ("changed", "deleted", "opaque",
                                                           "deleted", "added")
    assert (got[3]["added"], got[3]["changed"], got[3]["deleted"]) == (3, 2, 1)


def test_one_layer_and_the_table(lab: LabState, ns_env: dict[str, str], namespace: str) -> None:
    ref = pull(lab, ns_env, namespace, "ocix", "layers")
    r = run_cli(["layers", ref, "--layer", "4", "--files", "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    (layer,) = json.loads(r.stdout)["layers"]
    assert {f["path"]: f["change"] for f in layer["files"]} == recipe_truth()[3]
    r = run_cli(["layers", ref, "--json"], env=ns_env)
    assert all("files" not in x for x in json.loads(r.stdout)["layers"])
    r = run_cli(["layers", ref, "--layer", "4", "--files"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert "  D /data/temp.txt" in r.stdout.splitlines()
    assert "  A /data/run.sh" in r.stdout.splitlines()


@pytest.mark.parametrize(("args", "message"), [
    (["layers", "nope"], "Error: no image 'nope' in namespace '{ns}'"),
    (["layers", "{ref}", "--layer", "5"],
     "Error: image {ref} has 4 layers; there is no layer 5 (use 1-4)"),
    (["layers", "{ref}", "--layer", "0"],
     "Error: image {ref} has 4 layers; there is no layer 0 (use 1-4)"),
])
def test_unknown_image_or_layer_is_one_line_exit_1(lab: LabState, ns_env: dict[str, str],
                                                   namespace: str, args: list[str],
                                                   message: str) -> None:
    ref = pull(lab, ns_env, namespace, "ocix", "layers")
    r = run_cli([a.format(ref=ref) for a in args], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == message.format(ref=ref, ns=namespace)
    assert r.stdout == ""


# -- a crafted image: zstd, plain and gzip layers, hostile entries ---------------------------

def _tar(members: list[tuple[str, bytes, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in members:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, link
            tar.addfile(ti)
    return buf.getvalue()


def _put(conn: Connection, data: bytes, lease: str) -> str:
    digest = sha256_digest(data)
    content.write_blob(conn, f"test-{digest}", digest, len(data), lambda off: [data[off:]],
                       lease=lease)
    return digest


def test_zstd_plain_and_hostile_layers(lab: LabState, ns_env: dict[str, str],
                                       nsconn: Connection) -> None:
    F, D, S, H, C = (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                     tarfile.CHRTYPE)
    tars = [
        _tar([("etc/", D, ""), ("etc/a", F, ""), ("etc/b", F, "")]),
        _tar([("etc/", D, ""), ("etc/a", F, ""), ("etc/.wh.b", F, ""), ("../escape", F, ""),
              ("etc/up", S, "../../../root"), ("/abs", F, ""), ("etc/hl", H, "../x"),
              ("dev/null", C, "")]),
        _tar([("etc/.wh..wh..opq", F, ""), ("etc/c", F, "")]),
    ]
    blobs = [zstandard.ZstdCompressor().compress(tars[0]), tars[1], gzip.compress(tars[2])]
    types = [mt.OCI_LAYER_ZSTD, mt.OCI_LAYER, mt.OCI_LAYER_GZIP]
    diff_ids = [sha256_digest(t) for t in tars]
    config = json.dumps({"architecture": host().architecture, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": "zstd"}, {"created_by": "ENV X=1",
                                                              "empty_layer": True},
                                     {"created_by": "plain, hostile"}, {"created_by": "gzip"}]
                         }).encode()
    lease = leases.create(nsconn)
    try:
        layers = [Descriptor(t, _put(nsconn, b, lease.id), len(b)) for t, b in zip(types, blobs,
                                                                                   strict=True)]
        cfg = Descriptor(mt.OCI_CONFIG, _put(nsconn, config, lease.id), len(config))
        manifest = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                               "config": cfg.to_json(), "layers": [x.to_json() for x in layers]
                               }).encode()
        target = Descriptor(mt.OCI_MANIFEST, _put(nsconn, manifest, lease.id), len(manifest))
        images.put(nsconn, "crafted:1", target, lease=lease.id)
        r = run_cli(["layers", "crafted:1", "--files", "--json"],
                    env=ns_env)
        assert r.exit_code == 0, r.stderr
        got = json.loads(r.stdout)["layers"]
        assert [x["compression"] for x in got] == ["zstd", "", "gzip"]
        assert [x["uncompressed_size"] for x in got] == [len(t) for t in tars]
        assert [x["created_by"] for x in got] == ["zstd", "plain, hostile", "gzip"]
        assert [{f["path"]: f["change"] for f in x["files"]} for x in got] == [
            {"/etc": "added", "/etc/a": "added", "/etc/b": "added"},
            {"/etc": "changed", "/etc/a": "changed", "/etc/b": "deleted"},
            {"/etc": "opaque", "/etc/c": "added"},
        ]
        assert got[1]["hostile"] == [
            {"entry": "../escape", "layer": 2, "kind": "file", "reason": "'..' in the path",
             "via": []},
            {"entry": "etc/up", "layer": 2, "kind": "symlink",
             "reason": "symlink leaves the root (-> ../../../root)", "via": []},
            {"entry": "/abs", "layer": 2, "kind": "file", "reason": "absolute path", "via": []},
            {"entry": "etc/hl", "layer": 2, "kind": "hardlink",
             "reason": "hardlink leaves the root (-> ../x)", "via": []},
            {"entry": "dev/null", "layer": 2, "kind": "device", "reason": "device node (char 0:0)",
             "via": []},
        ]
        assert got[2]["hidden"] == 1  # /etc/a; /etc/b was deleted by layer 2 already
        r = run_cli(["layers", "crafted:1"], env=ns_env)
        assert r.exit_code == 0, r.stderr
        assert ("layer 2: hostile file '../escape': '..' in the path (not applied)"
                in r.stdout.splitlines())
        r = run_cli(["images", "history", "crafted:1", "--json"],
                    env=ns_env)
        assert [(h["created_by"], h["layer"]) for h in json.loads(r.stdout)] == [
            ("gzip", 3), ("plain, hostile", 2), ("ENV X=1", None), ("zstd", 1)]
    finally:
        images.delete(nsconn, "crafted:1", sync=False)
        leases.delete(nsconn, lease.id, sync=True)


def test_the_header_fits_80_columns(lab: LabState, ns_env: dict[str, str], namespace: str) -> None:
    """Name, platform and manifest digest were one 126-column line; the digest (from ctr's
    image record) now starts the second line, whole."""
    ref = pull(lab, ns_env, namespace, "ocix", "layers")
    digest = next(ln.split()[2] for ln in ctr(lab, namespace, "images", "ls").stdout.splitlines()
                  if ln.startswith(ref + " "))
    for args in (["layers", ref], ["layers", ref, "--waste"]):
        r = run_cli(args, env={**ns_env, "COLUMNS": "80"})
        assert r.exit_code == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"{ref}  linux/{host().architecture}  manifest"
        assert lines[1] == f"  {digest}"
        assert all(len(ln) <= 80 for ln in lines[2:4])
