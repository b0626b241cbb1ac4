"""ocix.oci.fs.flatfs and ocix.oci.fs.fsdiff on tars built here: whiteouts, opaque dirs, a file over
a directory, implied parents, hard links, hostile entries, symlinks resolved inside the root,
and the comparison of two flattened trees."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from ocix.errors import OcixError
from ocix.oci.fs import fsdiff
from ocix.oci.fs.flatfs import FlatFS, file_sha256, tar_entries

F, D, S, H, C = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE


def layer(*members: tuple[Any, ...]) -> list[tarfile.TarInfo]:
    """(name, type[, linkname or data[, mode, uid, gid]]) -> TarInfo headers, data sizes set."""
    out = []
    for m in members:
        name, kind = m[0], m[1]
        ti = tarfile.TarInfo(name)
        ti.type = kind
        extra = m[2] if len(m) > 2 else ""
        if kind == F:
            ti.size = len(extra)
        else:
            ti.linkname = extra
        ti.mode, ti.uid, ti.gid = (m[3], m[4], m[5]) if len(m) > 5 else (0o644, 0, 0)
        out.append(ti)
    return out


def flat(*layers: list[tarfile.TarInfo]) -> FlatFS:
    fs = FlatFS()
    for members in layers:
        fs.apply_layer(members)
    return fs


BASE = layer(("etc/", D), ("etc/passwd", F, b"root\n"), ("etc/group", F, b"g\n"),
             ("usr/", D), ("usr/bin/", D), ("usr/bin/wc", F, b"wc"), ("opt/", D),
             ("opt/app/", D), ("opt/app/one", F, b"1"), ("opt/app/sub/", D),
             ("opt/app/sub/two", F, b"22"))


def test_whiteouts_delete_a_file_and_a_whole_tree_of_lower_layers() -> None:
    fs = flat(BASE, layer(("usr/bin/.wh.wc", F), ("opt/.wh.app", F)))
    assert "/usr/bin/wc" not in fs and "/usr/bin" in fs
    assert [p for p in fs.nodes if p.startswith("/opt/")] == []
    assert fs.removed["/usr/bin/wc"].how == "whiteout" and fs.removed["/usr/bin/wc"].layer == 2
    assert fs.removed["/opt/app/sub/two"].how == "whiteout of /opt/app"
    assert fs.why_missing("/opt/app/sub/two/deeper").layer == 2  # type: ignore[union-attr]
    assert fs.why_missing("/usr/bin/wc/x").how == "whiteout of /usr/bin/wc"  # type: ignore[union-attr]
    assert fs.why_missing("/never") is None


def test_a_whiteout_spares_its_own_layer_and_the_path_can_come_back() -> None:
    fs = flat(BASE, layer(("etc/.wh.passwd", F), ("etc/passwd", F, b"new\n")))
    node = fs.get("/etc/passwd")
    assert node is not None and (node.layer, node.size) == (2, 4)
    fs.apply_layer(layer(("etc/.wh.passwd", F)))
    assert "/etc/passwd" not in fs
    fs.apply_layer(layer(("etc/passwd", F, b"again")))
    assert "/etc/passwd" in fs and "/etc/passwd" not in fs.removed


def test_an_opaque_dir_keeps_only_its_own_layer_entries() -> None:
    fs = flat(BASE, layer(("opt/app/", D), ("opt/app/.wh..wh..opq", F), ("opt/app/new", F, b"n")))
    assert sorted(p for p in fs.nodes if p.startswith("/opt")) == ["/opt", "/opt/app",
                                                                    "/opt/app/new"]
    assert fs.removed["/opt/app/sub/two"].how == "opaque directory /opt/app"
    assert fs.get("/opt/app").layer == 2  # type: ignore[union-attr]
    fs2 = flat(BASE, layer(("srv/x/.wh..wh..opq", F)))  # the marker alone implies its dir
    assert fs2.get("/srv/x").kind == "dir"  # type: ignore[union-attr]


def test_an_opaque_root_hides_every_lower_layer() -> None:
    fs = flat(BASE, layer((".wh..wh..opq", F), ("only", F, b"1")))
    assert sorted(fs.nodes) == ["/only"]
    assert fs.removed["/etc/passwd"].how == "opaque directory /"


def test_a_file_over_a_directory_drops_what_was_under_it() -> None:
    fs = flat(BASE, layer(("opt/app", F, b"now a file")))
    assert fs.get("/opt/app").kind == "file"  # type: ignore[union-attr]
    assert "/opt/app/one" not in fs and "/opt/app/sub" not in fs
    assert fs.removed["/opt/app/one"].how == "replaced by a file in layer 2"


def test_parents_are_implied_and_aufs_metadata_and_the_root_are_skipped() -> None:
    fs = flat(layer(("./", D), ("a/b/c", F, b"x"), (".wh..wh.plnk/123", F)))
    assert sorted(fs.nodes) == ["/a", "/a/b", "/a/b/c"]
    a = fs.get("/a")
    assert a is not None and (a.kind, a.mode, a.layer, a.member) == ("dir", 0o755, 0, -1)
    assert fs.get("/a/b/c").member == 1  # type: ignore[union-attr]


def test_a_hardlink_has_its_targets_size_and_data() -> None:
    fs = flat(BASE, layer(("etc/passwd", F, b"longer data\n"), ("etc/pw", H, "etc/passwd"),
                          ("etc/dangling", H, "etc/nope")))
    pw = fs.get("/etc/pw")
    assert pw is not None and (pw.kind, pw.size, pw.linkname, pw.source) == (
        "hardlink", 12, "/etc/passwd", (2, 0))
    assert fs.get("/etc/dangling").source == (0, -1)  # type: ignore[union-attr]


def test_hostile_entries_are_kept_apart_and_never_applied() -> None:
    fs = flat(layer(("../escape", F), ("/abs", F), ("etc/up", S, "../../../root"),
                    ("dev/null", C), ("ok", F)))
    assert sorted(fs.nodes) == ["/ok"]
    assert [(n, h.entry, h.reason) for n, h in fs.hostile] == [
        (1, "../escape", "'..' in the path"), (1, "/abs", "absolute path"),
        (1, "etc/up", "symlink leaves the root (-> ../../../root)"),
        (1, "dev/null", "device node (char 0:0)")]
    hit = fs.hostile_at("/abs")
    assert hit is not None and hit[1].entry == "/abs"


def test_symlinks_resolve_inside_the_root_only() -> None:
    fs = flat(BASE, layer(("bin/", D), ("bin/sh", S, "busybox"), ("bin/busybox", F, b"elf"),
                          ("etc/abs", S, "/etc/passwd"), ("etc/up", S, "../etc/group"),
                          ("lib", S, "usr/bin"), ("loop", S, "loop"),
                          ("etc/root", S, "/../../../etc/passwd")))
    assert fs.resolve("/bin/sh")[0] == "/bin/busybox"
    assert fs.resolve("/bin/sh", follow_last=False)[1].kind == "symlink"  # type: ignore[union-attr]
    assert fs.resolve("/etc/abs")[0] == "/etc/passwd"
    assert fs.resolve("/etc/up")[0] == "/etc/group"
    assert fs.resolve("/lib/wc")[0] == "/usr/bin/wc"
    assert fs.resolve("/etc/root")[0] == "/etc/passwd"  # ".." at the root stays at the root
    assert fs.resolve("/../../etc/passwd")[0] == "/etc/passwd"
    assert fs.resolve("/etc/passwd/x") == ("/etc/passwd/x", None)
    assert fs.resolve("/lib/nope") == ("/usr/bin/nope", None)
    assert fs.resolve("/")[1].kind == "dir"  # type: ignore[union-attr]
    with pytest.raises(OcixError, match="too many levels of symbolic links at /loop"):
        fs.resolve("/loop")


def test_digests_are_taken_as_the_data_streams_by() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in (("a", b"one"), ("b", b"two")):
            ti = tarfile.TarInfo(name)
            ti.size = len(body)
            tar.addfile(ti, io.BytesIO(body))
    blob = buf.getvalue()
    fs = FlatFS()
    current: list[tarfile.TarFile] = []

    def members():  # type: ignore[no-untyped-def]
        for m, tar in tar_entries([blob[i:i + 100] for i in range(0, len(blob), 100)]):
            current[:] = [tar]
            yield m

    fs.apply_layer(members(), lambda m: file_sha256(current[0], m))
    import hashlib

    assert fs.get("/b").sha256 == "sha256:" + hashlib.sha256(b"two").hexdigest()  # type: ignore[union-attr]


def test_compare_names_what_changed() -> None:
    a = flat(BASE, layer(("etc/l", S, "passwd"), ("etc/mode", F, b"m", 0o644, 0, 0),
                         ("etc/own", F, b"o", 0o644, 0, 0), ("etc/t", F, b"")))
    b = flat(BASE, layer(("etc/l", S, "group"), ("etc/mode", F, b"m", 0o755, 0, 0),
                         ("etc/own", F, b"o", 0o644, 1000, 1001), ("etc/t", D),
                         ("etc/passwd", F, b"rooo\n"), ("usr/bin/.wh.wc", F), ("new", F, b"abc")))
    got = {c.path: (c.change, c.what) for c in fsdiff.compare(a, b)}
    assert got == {
        "/etc/l": ("changed", ["link"]), "/etc/mode": ("changed", ["mode"]),
        "/etc/own": ("changed", ["uid", "gid"]), "/etc/t": ("changed", ["type"]),
        "/usr/bin/wc": ("removed", []), "/new": ("added", []),
    }  # /etc/passwd: the same size, other data: seen only with content digests
    s = fsdiff.summarize(fsdiff.compare(a, b))
    assert (s.added, s.removed, s.changed, s.added_bytes, s.removed_bytes) == (1, 1, 4, 3, 2)
    assert [c.path for c in fsdiff.compare(a, b, prefix="/etc/")] == [
        "/etc/l", "/etc/mode", "/etc/own", "/etc/t"]
    desc = {c.path: fsdiff.describe(c) for c in fsdiff.compare(a, b)}
    assert desc["/etc/mode"] == "mode 0644 → 0755"
    assert desc["/etc/own"] == "uid 0 → 1000, gid 0 → 1001"
    assert desc["/new"] == "file, 3 bytes"


def test_hardlink_and_file_are_the_same_type() -> None:
    a = flat(layer(("x", F, b"12"), ("y", F, b"12")))
    b = flat(layer(("x", F, b"12"), ("y", H, "x")))
    assert [(c.path, c.what) for c in fsdiff.compare(a, b)] == [("/y", ["link"])]


def test_a_copy_is_independent() -> None:
    fs = flat(BASE)
    other = fs.copy(1)
    other.apply_layer(layer(("etc/.wh.passwd", F)))
    assert "/etc/passwd" in fs and "/etc/passwd" not in other and fs.layers == 1
    with pytest.raises(ValueError):
        fs.copy(2)
