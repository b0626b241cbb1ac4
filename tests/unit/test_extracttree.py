"""The scanner resolves names like an extractor: through the symlinks of the lower layers and of
the same layer, in tar order (ocix.oci.fs.extracttree, docs/layers.md "Hostile entries")."""

from __future__ import annotations

import tarfile

import pytest

from ocix.oci.fs import layerscan as ls
from ocix.oci.fs.extracttree import ExtractTree
from tests.unit.test_layerscan import make_tar

F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
Member = tuple[str, bytes, str]


def stack(*layers: list[Member]) -> list[tuple[int, str, str, tuple[str, ...]]]:
    """(layer, entry, reason, via) of every hostile entry of the stack, base layer first."""
    tree = ls.Tree()
    out = []
    for members in layers:
        blob = make_tar(members)
        r = ls.scan_members(ls.tar_members(iter([blob])), tree)
        out += [(h.layer, h.entry, h.reason, h.via) for h in r.hostile]
    return out


def test_write_through_an_absolute_symlink_of_a_lower_layer() -> None:
    assert stack([("a/", D, ""), ("a/dir", S, "/tmp")], [("a/dir/x", F, "")]) == [
        (2, "a/dir/x", "written through symlink /a/dir -> /tmp (layer 1)",
         ("/a/dir -> /tmp (layer 1)",))]


def test_an_absolute_symlink_alone_is_harmless() -> None:
    assert stack([("bin/sh", S, "/bin/busybox"), ("bin/busybox", F, "")]) == []


def test_write_through_a_climbing_chain_in_the_same_layer() -> None:
    got = stack([("a/b", S, "c"), ("a/c", S, "../../.."), ("a/b/x", F, "")])
    assert got[0][1] == "a/c"  # the climbing symlink itself, from its header
    assert got[1] == (1, "a/b/x", "written through symlink /a/c -> ../../.. (layer 1)",
                      ("/a/b -> c (layer 1)", "/a/c -> ../../.. (layer 1)"))


def test_relative_chain_that_stays_inside_is_harmless() -> None:
    assert stack([("a/b", S, "c"), ("a/c", S, "../d"), ("d/", D, "")],
                 [("a/b/x", F, ""), ("a/b/y/", D, "")]) == []


def test_symlink_to_symlink_to_outside() -> None:
    got = stack([("l1", S, "l2"), ("l2", S, "/etc")], [("l1/passwd", F, "")])
    assert got == [(2, "l1/passwd", "written through symlink /l2 -> /etc (layer 1)",
                    ("/l1 -> l2 (layer 1)", "/l2 -> /etc (layer 1)"))]


def test_a_loop_is_bounded() -> None:
    got = stack([("a", S, "b"), ("b", S, "a"), ("a/x", F, "")])
    assert len(got) == 1 and got[0][1] == "a/x"
    assert got[0][2] == ("an extractor refuses it: more than 40 symlinks in a loop, starting "
                         "at symlink /a -> b (layer 1)")


def test_symlink_replaced_by_a_dir_in_one_layer() -> None:
    # A dir entry over an escaping symlink: an extractor keeping directory symlinks follows it.
    got = stack([("d", S, "/tmp"), ("d/", D, ""), ("d/f", F, "")])
    assert [(e, r) for _, e, r, _ in got] == [
        ("d", "directory entry over symlink /d -> /tmp (layer 1), which leads out of the root")]
    # Over a symlink that stays inside, the dir simply replaces it.
    assert stack([("d", S, "e"), ("d/", D, ""), ("d/f", F, "")]) == []


def test_dir_replaced_by_a_symlink_in_one_layer() -> None:
    got = stack([("d/", D, ""), ("d/f", F, ""), ("d", S, "/etc"), ("d/g", F, "")])
    assert [(e, r) for _, e, r, _ in got] == [
        ("d/g", "written through symlink /d -> /etc (layer 1)")]


def test_a_whiteout_removes_the_symlink_of_a_lower_layer() -> None:
    assert stack([("d", S, "/etc")], [(".wh.d", F, ""), ("d/passwd", F, "")]) == []


def test_a_file_written_over_an_escaping_symlink() -> None:
    got = stack([("x", S, "../../s2")], [("x", F, "")])
    assert [(e, r) for _, e, r, _ in got] == [
        ("x", "symlink leaves the root (-> ../../s2)"),
        ("x", "written over symlink /x -> ../../s2 (layer 1), which leads out of the root")]
    got = stack([("y", S, "z"), ("z", S, "../..")], [("y", F, "")])
    assert got[-1] == (2, "y", "written over symlink /y -> z (layer 1), which leads out of the "
                       "root through /z -> ../.. (layer 1)",
                       ("/y -> z (layer 1)", "/z -> ../.. (layer 1)"))


def test_a_file_replacing_an_absolute_symlink_is_an_update() -> None:
    assert stack([("usr/bin/awk", S, "/etc/alternatives/awk")], [("usr/bin/awk", F, "")]) == []


@pytest.mark.parametrize(("members", "reason"), [
    ([("h", H, "/etc/shadow")],
     "hardlink to the absolute path /etc/shadow: a naive extractor links the host's file"),
    ([("h", H, "../x")], "hardlink leaves the root (-> ../x)"),
    ([("d", S, "/etc"), ("h", H, "d/shadow")],
     "hardlink target d/shadow resolves through symlink /d -> /etc (layer 1)"),
    ([("h", H, "nothing")],
     "hardlink target nothing does not exist in the tree so far; containerd refuses it"),
    ([("d/", D, ""), ("h", H, "d")], "hardlink target d is a directory"),
])
def test_hostile_hardlinks(members: list[Member], reason: str) -> None:
    got = stack(members)
    assert [(e, r) for _, e, r, _ in got] == [("h", reason)]


def test_hardlinks_to_files_and_symlinks_inside_are_harmless() -> None:
    assert stack([("a", F, ""), ("s", S, "b"), ("h1", H, "a"), ("h2", H, "./s")]) == []


def test_a_hardlink_to_a_symlink_that_leads_out() -> None:
    got = stack([("s", S, "/etc/shadow"), ("h", H, "s")])
    assert [(e, r) for _, e, r, _ in got] == [
        ("h", "hardlink target s is symlink /s -> /etc/shadow (layer 1), which leads out of the "
              "root")]


def test_a_hardlink_across_layers_is_refused_by_containerd() -> None:
    got = stack([("a", F, "")], [("h", H, "a")])
    assert got == [(2, "h", "hardlink target a is in layer 1, below this one; containerd refuses "
                    "a hardlink across layers", ())]


@pytest.mark.parametrize(("members", "entry", "reason"), [
    ([("a/", D, ""), ("a/.wh...", F, "")], "a/.wh...",
     "whiteout of '..' deletes the parent of its directory; containerd refuses it "
     "(invalid whiteout name)"),
    ([(".wh...", F, "")], ".wh...",
     "whiteout of '..' deletes the root's parent; containerd refuses it (invalid whiteout name)"),
    ([("a/.wh..", F, "")], "a/.wh..",
     "whiteout of '.' deletes its own directory; containerd refuses it (invalid whiteout name)"),
    ([(".wh.", F, "")], ".wh.",
     "whiteout of '' deletes its own directory; containerd refuses it (invalid whiteout name)"),
    ([("d", S, "/etc"), ("d/.wh.passwd", F, "")], "d/.wh.passwd",
     "deleted through symlink /d -> /etc (layer 1)"),
    ([("d", S, "../.."), ("d/.wh..wh..opq", F, "")], "d/.wh..wh..opq",
     "opaque directory through symlink /d -> ../.. (layer 1): its contents outside the root "
     "would be removed"),
])
def test_hostile_whiteouts(members: list[Member], entry: str, reason: str) -> None:
    got = [(e, r) for _, e, r, _ in stack(members)]
    assert (entry, reason) in got


def test_names_empty_after_cleaning() -> None:
    assert stack([("./", D, ""), (".", D, "")]) == []
    got = stack([(".", F, ""), ("./.", S, "x")])
    assert [(e, r) for _, e, r, _ in got] == [
        (".", "the name is empty after cleaning (it names the root)"),
        ("./.", "the name is empty after cleaning (it names the root)")]


def test_a_file_used_as_a_directory_is_refused() -> None:
    got = stack([("a", F, "")], [("a/b", F, "")])
    assert got == [(2, "a/b", "an extractor refuses it: /a is a file, not a directory", ())]


def test_memory_is_one_node_per_entry() -> None:
    fs = ExtractTree()
    for i in range(2000):
        ti = tarfile.TarInfo(f"d{i % 10}/f{i}")
        fs.apply(ti, 1)
    assert len(fs) == 1 + 10 + 2000


def test_a_directory_entry_gone_by_the_end_of_its_layer() -> None:
    got = stack([("a/a", F, ""), ("a/a/", D, ""), ("a", F, "")])
    assert got == [(1, "a/a", "directory entry is no longer a directory at the end of its layer "
                    "(/a is a file, not a directory); containerd refuses it "
                    "when it sets directory times", ())]


def test_a_name_with_dotdot_lands_where_containerd_clamps_it() -> None:
    got = stack([("../a", S, "a")], [("a/a", F, "")])
    assert [(layer, e, r) for layer, e, r, _ in got] == [
        (1, "../a", "'..' in the path"),
        (2, "a/a", "an extractor refuses it: more than 40 symlinks in a loop, starting at "
                   "symlink /a -> a (layer 1)")]
