"""The pieces of the lab's real images that need no archive: apt sources, tree diffs, steps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ocix.lab.images import appimage, debian
from ocix.lab.images.entries import Dir, File, Hardlink, Symlink, Whiteout
from ocix.lab.images.rootfs import changes, walk


def test_apt_sources_reads_deb822_and_one_line_files(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# a comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main contrib\n"
        "deb-src http://mirror.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    (tmp_path / "sources.list.d" / "node.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
        "Components: main\n")
    (tmp_path / "sources.list.d" / "gcloud.list").write_text(
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    assert debian.apt_sources(tmp_path) == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_a_mirror_replaces_the_machines_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(debian.MIRROR_ENV, "http://127.0.0.1:9/debian")
    assert debian.sources() == ["deb http://127.0.0.1:9/debian bookworm main"]
    assert debian.sources("http://m.example/d") == ["deb http://m.example/d bookworm main"]


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "keep").write_text("keep\n")
    (root / "etc" / "mode").write_text("mode\n")
    (root / "etc" / "change").write_text("v1\n")
    (root / "var" / "lists" / "sub").mkdir(parents=True)
    (root / "var" / "lists" / "a").write_text("a\n")
    (root / "var" / "lists" / "sub" / "b").write_text("b\n")
    (root / "proc").mkdir()
    os.symlink("keep", root / "etc" / "link")


def test_a_whole_tree_becomes_entries_without_proc_contents(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "proc" / "x").write_text("never in a layer\n")
    entries = changes(tmp_path, {}, walk(tmp_path))
    paths = {e.path: type(e) for e in entries}
    assert paths == {"etc": Dir, "etc/keep": File, "etc/mode": File, "etc/change": File,
                     "etc/link": Symlink, "var": Dir, "var/lists": Dir, "var/lists/sub": Dir,
                     "var/lists/a": File, "var/lists/sub/b": File, "proc": Dir}


def test_a_step_gives_changed_files_whiteouts_and_mode_changes(tmp_path: Path) -> None:
    _tree(tmp_path)
    before = walk(tmp_path)
    (tmp_path / "etc" / "mode").chmod(0o755)
    (tmp_path / "etc" / "change").write_text("v2, longer\n")
    for p in ("var/lists/sub/b", "var/lists/a"):
        (tmp_path / p).unlink()
    (tmp_path / "var" / "lists" / "sub").rmdir()
    (tmp_path / "etc" / "new").write_text("new\n")
    os.link(tmp_path / "etc" / "new", tmp_path / "etc" / "new-link")
    got = changes(tmp_path, before, walk(tmp_path))
    files = {e.path: (e.mode if isinstance(e, File) else None) for e in got
             if isinstance(e, File)}
    assert files == {"etc/mode": 0o755, "etc/change": 0o644, "etc/new": 0o644}
    assert [e.path for e in got if isinstance(e, Whiteout)] == ["var/lists/a",
                                                               "var/lists/sub"]
    assert [(e.path, e.target) for e in got if isinstance(e, Hardlink)] == [
        ("etc/new-link", "etc/new")]
    assert "etc/keep" not in {e.path for e in got}


def test_the_app_recipe_has_the_patterns_layer_tools_look_for() -> None:
    steps = appimage.STEPS
    runs = [s.run for s in steps if s.run]
    assert any("apt-get install" in r for r in runs)
    assert any("rm -rf /var/lib/apt/lists/*" in r for r in runs)
    assert sum("of=/app/model.bin" in r for r in runs) == 2
    assert any(r.startswith("chmod ") for r in runs)
    assert [s.instruction for s in steps if s.empty] == [
        "ENV APP_HOME=/app", "WORKDIR /app", 'CMD ["/app/run.sh"]']
    assert appimage.fingerprint() == appimage.fingerprint()
