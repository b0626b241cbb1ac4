"""`ocix bundle` and its target directory: created, refused when used, --force."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ocix.containerd import snapshots
from ocix.containerd.connection import Connection
from ocix.jobs.images.pull import PullOptions, pull
from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def pulled(lab: LabState, ns_env: dict[str, str], nsconn: Connection) -> Iterator[dict[str, str]]:
    """ns_env with busybox pulled; afterwards no View snapshot or rootfs mount may be left."""
    pull(nsconn, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
    yield ns_env
    views = [s.name for s in snapshots.list_snapshots(nsconn) if s.kind != "committed"]
    assert views == [], f"left behind: {views}"
    assert _rootfs_mounts(lab.dir) == []


def _rootfs_mounts(lab_dir: str) -> list[str]:
    """This lab's View mounts (another test session on the machine has its own lab)."""
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if "ocix-rootfs-" in line and lab_dir in line]


def test_a_directory_that_cannot_be_made_is_one_line(pulled: dict[str, str]) -> None:
    r = run_cli(["bundle", "busybox", "/proc/forbidden"], env=pulled)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == ("Error: cannot use /proc/forbidden for a bundle: "
                        "No such file or directory\n")


def test_a_non_empty_directory_is_refused_by_name(pulled: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("mine\n")
    r = run_cli(["bundle", "busybox", str(tmp_path)], env=pulled)
    assert r.exit_code == 1
    assert r.stderr == (f"Error: {tmp_path} is not empty: a bundle needs a new or empty "
                        "directory\nHint: choose another directory, or use --force to write "
                        "into it\n")
    assert (tmp_path / "config.json").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_force_writes_into_a_used_directory(pulled: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("kept\n")
    (tmp_path / "config.json").write_text("old\n")
    r = run_cli(["bundle", "--force", "busybox", str(tmp_path)], env=pulled)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "notes.txt").read_text() == "kept\n"
    assert (tmp_path / "config.json").read_text().startswith("{\n")
    assert (tmp_path / "rootfs" / "bin" / "busybox").exists()


def test_force_still_refuses_a_non_empty_rootfs(pulled: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "keep").write_text("x")
    r = run_cli(["bundle", "--force", "busybox", str(tmp_path)], env=pulled)
    assert r.exit_code == 1
    assert r.stderr == f"Error: {tmp_path}/rootfs exists and is not empty: choose a new directory\n"
    assert (tmp_path / "rootfs" / "keep").read_text() == "x"
    assert not (tmp_path / "config.json").exists()


def test_a_new_directory_is_created_and_removed_again_on_failure(pulled: dict[str, str],
                                                                  tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    r = run_cli(["bundle", "-u", "ghost", "busybox", str(target)], env=pulled)
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: ") and "ghost" in r.stderr
    assert not target.exists()  # made for this bundle, so removed with it
    ok = run_cli(["bundle", "busybox", str(target)], env=pulled)
    assert ok.exit_code == 0, ok.stderr
    assert (target / "config.json").exists()
