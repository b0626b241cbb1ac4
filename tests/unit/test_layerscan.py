"""ocix.oci.fs.layerscan on tars built here: changes, whiteouts, opaque dirs, hostile entries,
and the gzip / zstd / plain streams they arrive in."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib

import pytest
import zstandard

from ocix.errors import OcixError
from ocix.oci.fs import layerscan as ls
from ocix.oci.streams import chunk_stream


def make_tar(members: list[tuple[str, bytes, str]], *, data: dict[str, bytes] | None = None) -> bytes:
    """members: (name, tar type, linkname); regular files get data[name] (default empty)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in members:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.linkname = link
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                ti.devmajor, ti.devminor = 1, 3
            body = (data or {}).get(name, b"")
            ti.size = len(body) if kind == tarfile.REGTYPE else 0
            tar.addfile(ti, io.BytesIO(body) if ti.size else None)
    return buf.getvalue()


F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def f(name: str) -> tuple[str, bytes, str]:
    return (name, F, "")


def d(name: str) -> tuple[str, bytes, str]:
    return (name, D, "")


def scan(blob: bytes, lower: ls.Tree, compression: str = "") -> ls.LayerScan:
    chunks = [blob[i:i + 7000] for i in range(0, len(blob), 7000)]
    members = ls.tar_members(ls.decompress(chunks, compression))
    return ls.scan_members(members, lower, keep_files=True)


def changes(result: ls.LayerScan) -> dict[str, str]:
    assert result.files is not None
    return {x.path: x.change for x in result.files}


BASE = [d("etc/"), f("etc/passwd"), f("etc/group"), d("usr/"), d("usr/bin/"), f("usr/bin/wc"),
        f("usr/bin/cat"), d("opt/"), d("opt/app/"), f("opt/app/one"), d("opt/app/sub/"),
        f("opt/app/sub/two")]


def test_first_layer_adds_everything() -> None:
    tree = ls.Tree()
    r = scan(make_tar(BASE), tree)
    assert set(changes(r).values()) == {"added"}
    assert (r.added, r.changed, r.deleted, r.opaque, r.hidden) == (12, 0, 0, 0, 0)
    assert "/opt/app/sub/two" in tree and "/opt/app/sub" in tree


def test_changed_means_a_lower_layer_has_the_path() -> None:
    tree = ls.Tree()
    scan(make_tar(BASE), tree)
    r = scan(make_tar([d("etc/"), f("etc/passwd"), f("etc/hosts")]), tree)
    assert changes(r) == {"/etc": "changed", "/etc/passwd": "changed", "/etc/hosts": "added"}
    assert (r.added, r.changed) == (1, 2)


def test_implied_parent_directories_count_as_present() -> None:
    tree = ls.Tree()
    scan(make_tar([f("a/b/c.txt")]), tree)  # no entries for a/ or a/b/
    r = scan(make_tar([d("a/b/"), f("a/new")]), tree)
    assert changes(r) == {"/a/b": "changed", "/a/new": "added"}


def test_whiteouts_delete_files_and_whole_directories() -> None:
    tree = ls.Tree()
    scan(make_tar(BASE), tree)
    r = scan(make_tar([d("usr/"), d("usr/bin/"), f("usr/bin/.wh.wc"), d("opt/"), f("opt/.wh.app")]),
             tree)
    assert changes(r) == {"/usr": "changed", "/usr/bin": "changed", "/usr/bin/wc": "deleted",
                          "/opt": "changed", "/opt/app": "deleted"}
    assert r.deleted == 2
    assert r.hidden == 1 + 4  # wc; app, app/one, app/sub, app/sub/two
    assert "/usr/bin/wc" not in tree and "/opt/app/sub/two" not in tree and "/opt/app" not in tree
    assert "/usr/bin/cat" in tree


def test_a_deleted_then_recreated_directory_is_added_again() -> None:
    tree = ls.Tree()
    scan(make_tar(BASE), tree)
    scan(make_tar([f("opt/.wh.app")]), tree)
    r = scan(make_tar([d("opt/app/"), f("opt/app/one")]), tree)
    assert changes(r) == {"/opt/app": "added", "/opt/app/one": "added"}


def test_whiteout_does_not_hide_an_entry_of_its_own_layer() -> None:
    tree = ls.Tree()
    scan(make_tar(BASE), tree)
    scan(make_tar([f("etc/.wh.passwd"), f("etc/new")]), tree)
    assert "/etc/passwd" not in tree and "/etc/new" in tree


@pytest.mark.parametrize("marker_first", [False, True])
def test_opaque_directory(marker_first: bool) -> None:
    tree = ls.Tree()
    scan(make_tar(BASE), tree)
    entries = [d("opt/app/"), f("opt/app/.wh..wh..opq"), f("opt/app/fresh")]
    if marker_first:
        entries = [entries[1], entries[0], entries[2]]
    r = scan(make_tar(entries), tree)
    assert changes(r) == {"/opt/app": "opaque", "/opt/app/fresh": "added"}
    assert (r.added, r.changed, r.deleted, r.opaque, r.hidden) == (1, 0, 0, 1, 3)
    assert "/opt/app" in tree and "/opt/app/fresh" in tree
    assert "/opt/app/one" not in tree and "/opt/app/sub/two" not in tree


def test_dot_slash_names_and_the_root_entry() -> None:
    r = scan(make_tar([d("./"), d("./etc/"), f("./etc/x")]), ls.Tree())
    assert changes(r) == {"/etc": "added", "/etc/x": "added"}
    assert r.entries == 3


def test_aufs_metadata_is_not_a_path() -> None:
    r = scan(make_tar([d(".wh..wh.plnk/"), f(".wh..wh.plnk/1.2"), f("a")]), ls.Tree())
    assert changes(r) == {"/a": "added"}


@pytest.mark.parametrize(("member", "reason"), [
    (("../evil", F, ""), "'..' in the path"),
    (("a/../../evil", F, ""), "'..' in the path"),
    (("/etc/shadow", F, ""), "absolute path"),
    (("a/link", S, "../../etc/shadow"), "symlink leaves the root (-> ../../etc/shadow)"),
    (("link", S, ".."), "symlink leaves the root (-> ..)"),
    (("hard", H, "../outside"), "hardlink leaves the root (-> ../outside)"),
    (("hard2", H, "a/../../x"), "hardlink leaves the root (-> a/../../x)"),
    (("dev/sda", tarfile.BLKTYPE, ""), "device node (block 1:3)"),
    (("dev/null", tarfile.CHRTYPE, ""), "device node (char 1:3)"),
])
def test_hostile_entries_are_reported_and_never_applied(member: tuple[str, bytes, str],
                                                        reason: str) -> None:
    tree = ls.Tree()
    r = scan(make_tar([f("ok"), member]), tree)
    assert [(h.entry, h.reason) for h in r.hostile] == [(member[0], reason)]
    assert changes(r) == {"/ok": "added"}
    assert tree.paths == {"/ok"}


@pytest.mark.parametrize("member", [
    ("a/x/link", S, "../c"),  # stays inside: /a/c
    ("bin/sh", S, "/bin/busybox"),  # absolute targets resolve inside the container's root
    ("a/link", S, "../x/../y"),
    ("hard", H, "a/b"),
])
def test_links_that_stay_inside_are_not_hostile(member: tuple[str, bytes, str]) -> None:
    r = scan(make_tar([f("a/b"), member]), ls.Tree())
    assert r.hostile == []
    assert changes(r)["/" + member[0]] == "added"


def test_file_data_is_skipped_not_kept() -> None:
    big = bytes(range(256)) * 4096 * 3  # 3 MiB
    blob = make_tar([f("big"), f("after")], data={"big": big})
    r = scan(blob, ls.Tree())
    assert changes(r) == {"/big": "added", "/after": "added"}
    assert [(x.path, x.kind) for x in r.files or []] == [("/big", "file"), ("/after", "file")]


def test_kinds() -> None:
    r = scan(make_tar([d("d/"), f("d/f"), ("d/s", S, "f"), ("d/h", H, "d/f"),
                       ("d/p", tarfile.FIFOTYPE, ""), f("d/.wh.gone")]), ls.Tree())
    assert [(x.path, x.kind) for x in r.files or []] == [
        ("/d", "dir"), ("/d/f", "file"), ("/d/s", "symlink"), ("/d/h", "hardlink"),
        ("/d/p", "fifo"), ("/d/gone", "whiteout")]


# -- compression ----------------------------------------------------------------------------

LAYER = make_tar([d("x/"), f("x/a"), f("x/.wh.b")], data={"x/a": b"hello\n" * 1000})


@pytest.mark.parametrize(("compress", "name"), [
    (lambda b: b, ""),
    (lambda b: gzip.compress(b, mtime=0), "gzip"),
    (lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
])
def test_each_compression_gives_the_same_scan_and_size(compress: object, name: str) -> None:
    blob = compress(LAYER)  # type: ignore[operator]
    assert ls.sniff_compression(blob[:16]) == name
    out = b"".join(ls.decompress([blob[i:i + 100] for i in range(0, len(blob), 100)], name))
    assert out == LAYER
    r = scan(blob, ls.Tree(), name)
    assert changes(r) == {"/x": "added", "/x/a": "added", "/x/b": "deleted"}


def test_concatenated_gzip_members_and_trailing_zeros() -> None:
    half = len(LAYER) // 2
    blob = gzip.compress(LAYER[:half]) + gzip.compress(LAYER[half:]) + b"\0" * 512
    assert b"".join(ls.decompress([blob], "gzip")) == LAYER


def test_multiple_zstd_frames() -> None:
    c = zstandard.ZstdCompressor()
    half = len(LAYER) // 2
    blob = c.compress(LAYER[:half]) + c.compress(LAYER[half:])
    assert b"".join(ls.decompress([blob], "zstd")) == LAYER


def test_a_bomb_comes_out_in_bounded_chunks() -> None:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = z.compress(b"\0" * (64 << 20)) + z.flush()  # 64 MiB from ~64 KiB
    sizes = [len(c) for c in ls.decompress([blob], "gzip")]
    assert max(sizes) <= ls.CHUNK and sum(sizes) == 64 << 20


@pytest.mark.parametrize(("blob", "compression", "message"), [
    (gzip.compress(LAYER)[:-20], "gzip", "the gzip stream ends early (truncated layer)"),
    (gzip.compress(LAYER) + b"junk", "gzip", "garbage after the end of the gzip stream"),
    (b"\x1f\x8bnot gzip at all", "gzip", "not a valid gzip stream: Error -3 while decompressing "
                                         "data: unknown compression method"),
])
def test_broken_gzip_is_one_clear_error(blob: bytes, compression: str, message: str) -> None:
    with pytest.raises(OcixError) as e:
        b"".join(ls.decompress([blob], compression))
    assert e.value.message == message


def test_broken_zstd_and_tar() -> None:
    with pytest.raises(OcixError, match=r"^not a valid zstd stream: "):
        b"".join(ls.decompress([b"\x28\xb5\x2f\xfd" + b"\xff" * 64], "zstd"))
    with pytest.raises(OcixError, match=r"^not a valid tar stream: "):
        list(ls.tar_members([b"x" * 1024]))
    with pytest.raises(OcixError, match=r"^unsupported layer compression 'lz4'$"):
        ls.decompress([b""], "lz4")


def test_sniffing_prefers_the_bytes_over_the_media_type() -> None:
    assert ls.sniff_compression(b"\x1f\x8b\x08\x00", "zstd") == "gzip"
    assert ls.sniff_compression(b"usr/\0\0\0\0", "gzip") == ""
    assert ls.sniff_compression(b"", "gzip") == "gzip"


def test_climbs_out() -> None:
    assert ls.climbs_out("../x", "")
    assert ls.climbs_out("../../x", "a")
    assert not ls.climbs_out("../x", "a")
    assert not ls.climbs_out("/../../x", "a/b")  # ".." at the root stays there
    assert ls.climbs_out("a/../../x", "")


@pytest.mark.parametrize("size", [1, 512, 10240, 1 << 20])
def test_chunk_stream_reads_every_byte_in_order(size: int) -> None:
    data = bytes(range(256)) * 9000
    chunks = [data[i:i + 3000] for i in range(0, len(data), 3000)]
    s = chunk_stream(chunks)
    out = bytearray()
    while block := s.read(size):
        out += block
    assert bytes(out) == data


def test_nested_deletions_in_one_layer_count_each_path_once() -> None:
    tree = ls.Tree()
    scan(make_tar(BASE), tree)
    r = scan(make_tar([f("opt/app/.wh.sub"), f("opt/.wh.app"), f(".wh.opt")]), tree)
    assert r.hidden == 5  # /opt, app, app/one, app/sub, app/sub/two: sub counted once
    assert not any(p.startswith("/opt") for p in tree.paths | tree.dirs)
    assert "/etc/passwd" in tree
