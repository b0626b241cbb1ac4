"""ocix.jobs.containers.changes on overlay-style directories made here: whiteouts (char 0/0),
opaque directories, and the parents `docker diff` lists; plus the width of `ocix diff` lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocix.cli.images.diff import fit
from ocix.containerd.snapshots import Mount
from ocix.errors import OcixError
from ocix.jobs.containers.changes import overlay_changes, overlay_dirs
from tests.helpers import is_root


def tree(root: Path, files: dict[str, str | None]) -> None:
    """path -> text (a file), None (a directory), or "WHITEOUT"."""
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            p.mkdir(exist_ok=True)
        elif text == "WHITEOUT":
            os.mknod(p, 0o600 | 0o020000, os.makedev(0, 0))
        else:
            p.write_text(text)


def same_times(src: Path, dst: Path) -> None:
    """Directories copied up keep the lower copy's metadata, as overlayfs does."""
    for d in [dst, *(p for p in dst.rglob("*") if p.is_dir())]:
        lower = src / d.relative_to(dst)
        if lower.is_dir():
            st = lower.stat()
            os.chmod(d, st.st_mode & 0o7777)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.skipif(not is_root(), reason="whiteouts (mknod) and trusted.* xattrs need root")
def test_changes_like_docker_diff(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    tree(lower, {"bin/ls": "ls", "bin/sh": "sh", "etc/passwd": "root\n", "home/u/.profile": "p",
                 "opt/app/a": "a", "opt/app/b": "b", "usr/share/doc/x": "x"})
    tree(upper, {"bin/ls": "WHITEOUT", "etc/passwd": "root\ny\n", "new": "x", "home": "WHITEOUT",
                 "opt/app/c": "c", "usr/share/doc": None, "added/dir/f": "f"})
    same_times(lower, upper)
    os.setxattr(upper / "opt/app", "trusted.overlay.opaque", b"y")
    got = [(c.change, c.path) for c in overlay_changes(str(upper), [str(lower)])]
    assert got == [
        ("A", "/added"), ("A", "/added/dir"), ("A", "/added/dir/f"),
        ("C", "/bin"), ("D", "/bin/ls"),
        ("C", "/etc"), ("C", "/etc/passwd"),
        ("D", "/home"),
        ("A", "/new"),
        ("C", "/opt"), ("C", "/opt/app"), ("D", "/opt/app/a"), ("D", "/opt/app/b"),
        ("A", "/opt/app/c"),
    ]  # /usr/share/doc: copied up with nothing changed inside, so not listed


@pytest.mark.skipif(not is_root(), reason="whiteouts (mknod) need root")
def test_a_lower_whiteout_hides_a_deeper_layer(tmp_path: Path) -> None:
    top, base, upper = tmp_path / "top", tmp_path / "base", tmp_path / "upper"
    tree(base, {"etc/old": "o", "etc/keep": "k"})
    tree(top, {"etc/old": "WHITEOUT"})
    tree(upper, {"etc/old": "again"})
    same_times(top, upper)
    got = [(c.change, c.path) for c in overlay_changes(str(upper), [str(top), str(base)])]
    assert got == [("C", "/etc"), ("A", "/etc/old")]


def test_overlay_dirs_from_mounts() -> None:
    m = Mount("overlay", "overlay", options=["index=off", "workdir=/w", "upperdir=/u",
                                                 "lowerdir=/l1:/l2"])
    assert overlay_dirs([m]) == ("/u", ["/l1", "/l2"])
    assert overlay_dirs([Mount("bind", "/s/fs", options=["rbind", "rw"])]) == ("/s/fs", [])
    with pytest.raises(OcixError, match="no upperdir: the snapshot is read-only"):
        overlay_dirs([Mount("overlay", "overlay", options=["lowerdir=/a:/b"])])


@pytest.mark.parametrize(("cols", "expected"), [
    (80, "C /etc/passwd  size 20 → 31, mode 0644 → 0755"),
    (30, "C /etc/passwd  size 20 → 31, …"),
    (20, "C /etc/passwd"),
])
def test_lines_fit_the_width(cols: int, expected: str) -> None:
    line = fit("C", "/etc/passwd", "size 20 → 31, mode 0644 → 0755", cols)
    assert line == expected and len(line) <= cols


def test_a_long_path_is_cut_in_the_middle() -> None:
    path = "/usr/share/" + "x" * 100 + "/name.txt"
    line = fit("A", path, "file, 3 bytes", 40)
    assert len(line) == 40 - 3 + 1 and line.startswith("A /usr/share/") and line.endswith(
        "/name.txt")
