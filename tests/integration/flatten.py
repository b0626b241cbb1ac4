"""The truth about an image's final filesystem, computed without ocix: its layer blobs read
with ctr, extracted layer by layer with GNU tar (whiteouts and opaque directories applied here),
listed with `tar -tv`; and `ocix diff --json` read back for comparison."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from ocix.lab.state import LabState
from ocix.oci.platform import host
from tests.helpers import ctr, run_cli


def layer_blobs(lab: LabState, namespace: str, ref: str) -> list[bytes]:
    """The layer blobs of `ref` for this host, read with ctr from its manifest."""
    p = ctr(lab, namespace, "images", "ls")
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stdout.splitlines() if x.split()[0] == ref)
    digest = next(w for w in line.split() if w.startswith("sha256:"))

    def get(d: str) -> bytes:
        r = subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", namespace, "content",
                            "get", d], capture_output=True, check=True, timeout=60)
        return r.stdout

    doc = json.loads(get(digest))
    if "manifests" in doc:
        plat = host()
        doc = json.loads(get(next(m["digest"] for m in doc["manifests"]
                                  if m["platform"]["architecture"] == plat.architecture)))
    return [get(x["digest"]) for x in doc["layers"]]


def tar_of(blob: bytes) -> bytes:
    return gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob


def extract(blobs: list[bytes], root: Path) -> None:
    """Apply the layers one by one: first this layer's whiteouts and opaque markers to what the
    lower layers left, then `tar -x` of its other entries."""
    root.mkdir()
    for blob in blobs:
        data = tar_of(blob)
        names = subprocess.run(["tar", "-tf", "-"], input=data, capture_output=True, check=True,
                               timeout=60).stdout.decode().splitlines()
        for name in names:
            parent, base = os.path.split(name.strip("/"))
            where = root / parent
            if base == ".wh..wh..opq":
                for child in where.iterdir() if where.is_dir() else []:
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            elif base.startswith(".wh."):
                gone = where / base[4:]
                if gone.is_dir() and not gone.is_symlink():
                    shutil.rmtree(gone)
                elif gone.exists() or gone.is_symlink():
                    gone.unlink()
        subprocess.run(["tar", "-x", "-p", "--numeric-owner", "--exclude=.wh.*", "-C", str(root),
                        "-f", "-"], input=data, check=True, timeout=120)


def listing(root: Path) -> dict[str, tuple[str, str, str, str, int, str]]:
    """path -> (type, perms, uid, gid, size, symlink target) from `tar -tv` of the tree."""
    made = subprocess.run(["tar", "-C", str(root), "--numeric-owner", "--hard-dereference",
                           "-cf", "-", "."], capture_output=True, check=True, timeout=120).stdout
    out = subprocess.run(["tar", "-tv", "--numeric-owner", "-f", "-"], input=made,
                         capture_output=True, check=True, timeout=120).stdout.decode()
    rows = {}
    for line in out.splitlines():
        perms, owner, size, _date, _time, name = line.split(None, 5)
        link = ""
        if perms[0] == "l":
            name, link = name.split(" -> ", 1)
        path = "/" + name.removeprefix("./").rstrip("/")
        if path == "/":
            continue
        uid, gid = owner.split("/")
        rows[path] = (perms[0], perms[1:], uid, gid, int(size), link)
    return rows


def truth(a: Path, b: Path, *, content: bool = False) -> dict[str, tuple[str, frozenset[str]]]:
    la, lb = listing(a), listing(b)
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for path in la.keys() | lb.keys():
        if path not in la:
            out[path] = ("added", frozenset())
        elif path not in lb:
            out[path] = ("removed", frozenset())
        else:
            x, y = la[path], lb[path]
            what = {f for f, i in (("type", 0), ("mode", 1), ("uid", 2), ("gid", 3), ("size", 4),
                                   ("link", 5)) if x[i] != y[i]}
            if content and x[0] == y[0] == "-" and sha_of(a, path) != sha_of(b, path):
                what.add("content")
            if what:
                out[path] = ("changed", frozenset(what))
    return out


def sha_of(root: Path, path: str) -> str:
    return hashlib.sha256((root / path.lstrip("/")).read_bytes()).hexdigest()


def ocix_diff(env: dict[str, str], *args: str) -> dict[str, tuple[str, frozenset[str]]]:
    r = run_cli(["diff", *args, "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    changes = json.loads(r.stdout)["changes"]
    got = {c["path"]: (c["change"], frozenset(c["what"])) for c in changes}
    assert len(got) == len(changes)
    return got
