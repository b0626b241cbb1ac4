"""The lab's deterministic image builder and its seed recipes (no daemons needed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import subprocess
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ocix.errors import FailedPreconditionError, InvalidArgumentError
from ocix.lab.images import build as b
from ocix.lab.images import recipes
from ocix.oci import layout as oci_layout
from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor, Platform
from ocix.oci.platform import host as host_platform

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


def _spec(extra: bytes = b"", host: Path | None = None) -> b.ImageSpec:
    base = b.LayerSpec((
        b.File("etc/motd", b.Data(b"hello\n" + extra)),
        b.File("bin/tool", b.HostFile(host) if host else b.Data(b"#!/bin/sh\n"), 0o755),
        b.File("data/random.bin", b.RandomBytes(7, 300_000)),
        b.File("data/keep/a.txt", b.Data(b"a")),
        b.File("data/drop/b.txt", b.Data(b"b")),
        b.Dir("tmp", 0o1777),
        b.Dir("home/u", 0o700, 1000, 1000),
    ), created_by="base")
    top = b.LayerSpec((
        b.Whiteout("data/drop"),
        b.Opaque("data/keep"),
        b.File("data/keep/new.txt", b.Data(b"new")),
        b.Symlink("bin/alias", "tool"),
        b.File("data/x", b.Data(b"x")),
        b.Hardlink("data/y", "data/x"),
    ), created_by="top")
    cfg = b.ImageConfig(env=("PATH=/bin",), cmd=("sh",), working_dir="/data", user="1000",
                        labels={"k": "v"})
    return b.ImageSpec("test/img", "v1", (b.PlatformImage(AMD64, (base, top), cfg),))


def _json(layout: Path, digest: str) -> Any:
    return json.loads(oci_layout.read_blob(layout, digest))


def _manifest(layout: Path, built: b.BuiltImage) -> dict[str, Any]:
    assert built.root.media_type == mt.OCI_MANIFEST
    doc: dict[str, Any] = _json(layout, built.root.digest)
    return doc


def _members(layout: Path, digest: str) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(oci_layout.read_blob(layout, digest)))) as tf:
        return tf.getmembers()


def test_identical_inputs_give_identical_digests(tmp_path: Path) -> None:
    host = tmp_path / "tool"
    host.write_bytes(b"\x7fELF pretend binary" * 100)
    one = b.build_image(tmp_path / "a", _spec(host=host))
    two = b.build_image(tmp_path / "b", _spec(host=host))
    assert one.root == two.root and not one.cached and not two.cached
    blobs_a = sorted(p.name for p in (tmp_path / "a/blobs/sha256").iterdir())
    blobs_b = sorted(p.name for p in (tmp_path / "b/blobs/sha256").iterdir())
    assert blobs_a == blobs_b and len(blobs_a) == 4  # 2 layers, config, manifest
    changed = b.build_image(tmp_path / "c", _spec(extra=b"!", host=host))
    assert changed.root.digest != one.root.digest


def test_blob_names_are_their_sha256(tmp_path: Path) -> None:
    b.build_image(tmp_path, _spec())
    for p in (tmp_path / "blobs/sha256").iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name


def test_diff_ids_are_sha256_of_uncompressed_tar(tmp_path: Path) -> None:
    built = b.build_image(tmp_path, _spec())
    m = _manifest(tmp_path, built)
    cfg = _json(tmp_path, m["config"]["digest"])
    assert m["config"]["mediaType"] == mt.OCI_CONFIG
    assert len(cfg["rootfs"]["diff_ids"]) == len(m["layers"]) == built.layers == 2
    assert len(cfg["history"]) == 2
    for layer, diff_id in zip(m["layers"], cfg["rootfs"]["diff_ids"], strict=True):
        blob = oci_layout.read_blob(tmp_path, layer["digest"])
        assert layer["mediaType"] == mt.OCI_LAYER_GZIP and layer["size"] == len(blob)
        assert blob[4:8] == b"\0\0\0\0"  # gzip header mtime 0
        assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == diff_id
    assert cfg["config"] == {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/data",
                             "User": "1000", "Labels": {"k": "v"}}
    assert (cfg["os"], cfg["architecture"]) == ("linux", "amd64")


def test_tar_entries_sorted_parents_first_fixed_owner_and_time(tmp_path: Path) -> None:
    built = b.build_image(tmp_path, _spec())
    base = _members(tmp_path, _manifest(tmp_path, built)["layers"][0]["digest"])
    names = [m.name.rstrip("/") for m in base]
    assert names == sorted(names)
    seen: set[str] = set()
    for m in base:
        name = m.name.rstrip("/")
        parent = posixpath.dirname(name)
        assert not parent or parent in seen, f"{name} before its parent"
        seen.add(name)
        assert m.mtime == b.EPOCH
        assert m.uname == "" and m.gname == ""
    by_name = {m.name.rstrip("/"): m for m in base}
    assert by_name["tmp"].isdir() and by_name["tmp"].mode == 0o1777
    assert (by_name["home/u"].uid, by_name["home/u"].gid, by_name["home/u"].mode) == (1000, 1000,
                                                                                      0o700)
    assert by_name["home"].isdir() and by_name["home"].uid == 0  # parent made up, root-owned
    assert by_name["bin/tool"].mode == 0o755 and by_name["data/random.bin"].size == 300_000


def test_whiteouts_opaque_links_in_tar(tmp_path: Path) -> None:
    built = b.build_image(tmp_path, _spec())
    top = _members(tmp_path, _manifest(tmp_path, built)["layers"][1]["digest"])
    by_name = {m.name.rstrip("/"): m for m in top}
    assert by_name["data/.wh.drop"].isfile() and by_name["data/.wh.drop"].size == 0
    assert by_name["data/keep"].isdir()
    assert by_name["data/keep/.wh..wh..opq"].isfile()
    assert by_name["bin/alias"].issym() and by_name["bin/alias"].linkname == "tool"
    link = by_name["data/y"]
    assert link.islnk() and link.linkname == "data/x"
    assert [m.name for m in top].index("data/y") > [m.name for m in top].index("data/x")
    assert "data/drop" not in by_name


def test_layout_files(tmp_path: Path) -> None:
    built = b.build_image(tmp_path, _spec())
    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index["mediaType"] == mt.OCI_INDEX
    [entry] = index["manifests"]
    assert entry["annotations"] == {oci_layout.REF_NAME: "test/img:v1"}
    assert Descriptor.from_json(entry) == built.root
    m = _manifest(tmp_path, built)
    assert m["schemaVersion"] == 2 and m["mediaType"] == mt.OCI_MANIFEST
    # Retagging replaces the entry instead of adding one.
    b.build_image(tmp_path, _spec(extra=b"2"))
    index = json.loads((tmp_path / "index.json").read_text())
    assert len(index["manifests"]) == 1 and index["manifests"][0]["digest"] != built.root.digest


def test_index_with_platforms(tmp_path: Path) -> None:
    layer = b.LayerSpec((b.File("f", b.Data(b"x")),))
    note = {b.DESCRIPTION: "test content"}
    spec = b.ImageSpec("test/multi", "latest", (
        b.PlatformImage(AMD64, (layer,)),
        b.PlatformImage(ARM64, (layer,), annotations=note)), description="two")
    built = b.build_image(tmp_path, spec)
    assert built.root.media_type == mt.OCI_INDEX and built.platforms == ["linux/amd64",
                                                                        "linux/arm64"]
    idx = _json(tmp_path, built.root.digest)
    assert idx["mediaType"] == mt.OCI_INDEX and idx["annotations"] == {b.DESCRIPTION: "two"}
    plats = [m["platform"] for m in idx["manifests"]]
    assert plats == [{"os": "linux", "architecture": "amd64"},
                     {"os": "linux", "architecture": "arm64"}]
    assert idx["manifests"][1]["annotations"] == note
    for m in idx["manifests"]:
        child = _json(tmp_path, m["digest"])
        cfg = _json(tmp_path, child["config"]["digest"])
        assert cfg["architecture"] == m["platform"]["architecture"]


def test_cache_skips_unchanged_and_rebuilds_missing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = b.build_image(tmp_path, _spec())
    calls: list[b.LayerSpec] = []
    real = b.write_layer

    def counting(layout: Path, layer: b.LayerSpec, *a: Any) -> b.BuiltLayer:
        calls.append(layer)
        return real(layout, layer, *a)

    monkeypatch.setattr(b, "write_layer", counting)
    again = b.build_image(tmp_path, _spec())
    assert again.cached and again.root == first.root and calls == []
    # Only the changed layer is written again; the other comes from the layer cache.
    top_changed = b.ImageSpec("test/img", "v2", (b.PlatformImage(
        AMD64, (_spec().images[0].layers[0], b.LayerSpec((b.File("z", b.Data(b"z")),)))),))
    b.build_image(tmp_path, top_changed)
    assert len(calls) == 1
    # A blob deleted from the layout is noticed and rebuilt.
    m = _manifest(tmp_path, first)
    oci_layout.blob_path(tmp_path, m["layers"][1]["digest"]).unlink()
    rebuilt = b.build_image(tmp_path, _spec())
    assert not rebuilt.cached and rebuilt.root == first.root
    assert oci_layout.blob_path(tmp_path, m["layers"][1]["digest"]).exists()


def test_large_layer_is_streamed(tmp_path: Path) -> None:
    size = 24 << 20
    layer = b.LayerSpec((b.File("big", b.RandomBytes(1, size)),), compresslevel=0)
    tracemalloc.start()
    try:
        built = b.write_layer(tmp_path, layer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes: the layer was held in memory"
    assert built.uncompressed_size > size and built.descriptor.size > size
    h = hashlib.sha256()
    for chunk in b.RandomBytes(1, size).chunks():
        h.update(chunk)
    with gzip.open(oci_layout.blob_path(tmp_path, built.descriptor.digest)) as gz, \
            tarfile.open(fileobj=gz, mode="r|") as tf:
        for m in tf:
            f = tf.extractfile(m)
            assert f is not None
            assert hashlib.sha256(f.read()).hexdigest() == h.hexdigest()


@pytest.mark.parametrize("entries", [
    (b.File("a", b.Data(b"1")), b.File("a", b.Data(b"2"))),
    (b.Hardlink("l", "missing"),),
    (b.File("../etc/passwd", b.Data(b"")),),
])
def test_bad_layers_are_refused(tmp_path: Path, entries: tuple[b.Entry, ...]) -> None:
    with pytest.raises(InvalidArgumentError):
        b.write_layer(tmp_path, b.LayerSpec(entries))


def test_declared_size_must_match(tmp_path: Path) -> None:
    class Liar:
        size = 3

        def chunks(self) -> Any:
            yield b"12345"

        def fingerprint(self) -> str:
            return "liar"

    with pytest.raises(Exception, match="longer"):
        b.write_layer(tmp_path, b.LayerSpec((b.File("x", Liar()),)))


# --------------------------------------------------------------------------- recipes

def _apply(layout: Path, manifest: dict[str, Any]) -> dict[str, tarfile.TarInfo | bytes]:
    """A tiny in-memory applier with OCI whiteout semantics (image-spec layer.md)."""
    fs: dict[str, tarfile.TarInfo | bytes] = {}
    for layer in manifest["layers"]:
        blob = gzip.decompress(oci_layout.read_blob(layout, layer["digest"]))
        added: set[str] = set()
        with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
            for m in tf.getmembers():
                name = "/" + m.name.rstrip("/")
                parent, base = posixpath.split(name)
                if base == ".wh..wh..opq":
                    for p in [p for p in fs if p.startswith(parent + "/") and p not in added]:
                        del fs[p]
                elif base.startswith(".wh."):
                    gone = posixpath.join(parent, base[4:])
                    for p in [p for p in fs if p == gone or p.startswith(gone + "/")]:
                        del fs[p]
                else:
                    f = tf.extractfile(m) if m.isfile() or m.islnk() else None
                    fs[name] = f.read() if f is not None else m
                    added.add(name)
    return fs


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, b.BuiltImage]:
    layout = tmp_path_factory.mktemp("layout")
    return {im.ref: im for im in recipes.seed_images(layout, sized=(1,))}


def test_seed_images_and_cache(seeded: dict[str, b.BuiltImage]) -> None:
    assert set(seeded) == {"library/busybox:latest", "library/layers:latest",
                           "library/multiarch:latest", "library/pause:3.6",
                           "library/blob1:latest"}
    layout = next(iter(seeded.values())).layout
    again = recipes.seed_images(layout, sized=(1,))
    assert all(im.cached for im in again)
    assert {im.ref: im.root for im in again} == {k: v.root for k, v in seeded.items()}


def test_busybox_image(seeded: dict[str, b.BuiltImage]) -> None:
    im = seeded["library/busybox:latest"]
    m = _manifest(im.layout, im)
    cfg = _json(im.layout, m["config"]["digest"])
    assert cfg["config"]["Cmd"] == ["sh"]
    assert cfg["config"]["Env"] == [recipes.PATH_ENV]
    assert im.platforms == [str(host_platform())] and im.layers == 1
    fs = _apply(im.layout, m)
    assert fs["/bin/busybox"] == recipes.BUSYBOX.read_bytes()
    for applet in ("sh", "ls", "cat", "echo", "id", "sleep", "env", "awk", "grep", "wc"):
        links = [p for p in fs if p.endswith("/" + applet) and isinstance(fs[p], tarfile.TarInfo)]
        assert links, applet
        info = fs[links[0]]
        assert isinstance(info, tarfile.TarInfo) and info.issym()
        assert posixpath.normpath(posixpath.join(posixpath.dirname(links[0]), info.linkname)) \
            == "/bin/busybox"
    passwd = fs["/etc/passwd"]
    assert isinstance(passwd, bytes) and b"nobody:x:65534:65534:" in passwd
    assert b"ocix:x:1000:1000:" in passwd and b"root:x:0:0:" in passwd
    tmp = fs["/tmp"]
    assert isinstance(tmp, tarfile.TarInfo) and tmp.mode == 0o1777
    assert "/etc/hostname" not in fs and "/root" in fs


def test_layers_image_matches_its_expectations(seeded: dict[str, b.BuiltImage]) -> None:
    im = seeded["library/layers:latest"]
    m = _manifest(im.layout, im)
    cfg = _json(im.layout, m["config"]["digest"])
    expect = json.loads(cfg["config"]["Labels"][recipes.EXPECT_LABEL])
    assert expect == json.loads(json.dumps(recipes.LAYERS_EXPECT))
    busybox = _manifest(im.layout, seeded["library/busybox:latest"])
    assert m["layers"][0] == busybox["layers"][0]  # shares the base blob
    assert im.layers == 4
    fs = _apply(im.layout, m)
    for path, text in expect["files"].items():
        assert fs.get(path) == text.encode(), path
    for path in expect["absent"]:
        assert not any(p == path or p.startswith(path + "/") for p in fs), path
    for path, target in expect["symlinks"].items():
        info = fs[path]
        assert isinstance(info, tarfile.TarInfo) and info.linkname == target
    assert "/bin/sh" in fs


def test_multiarch_index(seeded: dict[str, b.BuiltImage]) -> None:
    im = seeded["library/multiarch:latest"]
    assert im.root.media_type == mt.OCI_INDEX
    idx = _json(im.layout, im.root.digest)
    archs = [m["platform"]["architecture"] for m in idx["manifests"]]
    native = host_platform().architecture
    assert archs[0] == native and len(set(archs)) == 2
    fake = idx["manifests"][1]
    assert "test content" in fake["annotations"][b.DESCRIPTION]
    assert _json(im.layout, fake["digest"])["annotations"] == fake["annotations"]


def test_pause_image(seeded: dict[str, b.BuiltImage]) -> None:
    im = seeded["library/pause:3.6"]
    m = _manifest(im.layout, im)
    cfg = _json(im.layout, m["config"]["digest"])
    assert cfg["config"]["Entrypoint"] == ["/catatonit", "-P"]
    fs = _apply(im.layout, m)
    assert fs["/catatonit"] == recipes.CATATONIT.read_bytes()


def test_sized_image(seeded: dict[str, b.BuiltImage]) -> None:
    im = seeded["library/blob1:latest"]
    m = _manifest(im.layout, im)
    assert len(m["layers"]) == 1 and m["layers"][0]["size"] > 1 << 20
    with pytest.raises(FailedPreconditionError):
        recipes.sized(0)


def test_large_recipe_shape() -> None:
    spec = recipes.large()
    [img] = spec.images
    assert len(img.layers) >= 3
    files = [e for e in img.layers[1].entries if isinstance(e, b.File)]
    assert len(files) >= 1000
    big = [e for layer in img.layers for e in layer.entries
           if isinstance(e, b.File) and e.content.size >= 100 << 20]
    assert len(big) == 1 and isinstance(big[0].content, b.RandomBytes)
    assert any(isinstance(e, b.Whiteout) for e in img.layers[-1].entries)
    assert recipes.large().images[0].layers[2].fingerprint() == img.layers[2].fingerprint()


def test_elf_checks(tmp_path: Path) -> None:
    arch, static = recipes.elf_info(recipes.BUSYBOX)
    assert static and arch == host_platform().architecture
    assert recipes.elf_info(Path("/bin/ls"))[1] is False  # dynamically linked
    not_elf = tmp_path / "x"
    not_elf.write_text("#!/bin/sh\n")
    with pytest.raises(FailedPreconditionError):
        recipes.elf_info(not_elf)


def test_a_hardlink_has_its_targets_mode_and_owner_as_gnu_tar_writes_it(tmp_path: Path) -> None:
    # GNU tar over two names of one 0750 inode owned by 7:8 is the reference.
    src = tmp_path / "src"
    src.mkdir()
    (src / "x").write_bytes(b"x")
    os.chmod(src / "x", 0o750)
    if os.geteuid() == 0:
        os.chown(src / "x", 7, 8)
    os.link(src / "x", src / "y")
    ref = subprocess.run(["tar", "-C", str(src), "--numeric-owner", "-cf", "-", "x", "y"],
                         capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(ref)) as tf:
        gnu = {m.name: m for m in tf.getmembers()}
    assert gnu["y"].islnk()
    owner = (gnu["x"].uid, gnu["x"].gid)
    spec = b.LayerSpec((b.File("x", b.Data(b"x"), mode=0o750, uid=owner[0], gid=owner[1]),
                        b.Hardlink("y", "x")))
    built = b.build_image(tmp_path / "l", b.ImageSpec("t/h", "1", (b.PlatformImage(AMD64, (spec,)),)))
    members = _members(tmp_path / "l", _manifest(tmp_path / "l", built)["layers"][0]["digest"])
    ours = {m.name: m for m in members}
    assert ours["y"].islnk() and ours["y"].linkname == "x"
    assert (ours["y"].mode, ours["y"].uid, ours["y"].gid) == (
        gnu["y"].mode, gnu["y"].uid, gnu["y"].gid) == (0o750, *owner)
