"""`ocix lab up --with-podman` against real podman, conmon and runc: own storage, offline pulls,
a clean `down`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from ocix.podman.client import RUN_DEFAULTS, Podman
from ocix.podman.config import PodmanPaths
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


def podman(lab: LabState, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A plain `podman` with only the environment `ocix lab env` exports, as a user would run it."""
    env = {**os.environ, **labmod.env(lab.dir)}
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def test_lab_podman_has_the_seed_images_under_docker_io_names(podman_lab: LabState) -> None:
    names = Podman.for_lab(podman_lab.dir).run(
        "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert {"docker.io/library/busybox:latest", "docker.io/library/pause:3.6",
            "docker.io/library/layers:latest"} <= set(names)


def test_lab_podman_storage_and_config_stay_in_the_lab_dir(podman_lab: LabState) -> None:
    v = Podman.for_lab(podman_lab.dir).version()
    podman_dir = Path(podman_lab.dir) / "podman"
    assert (v.graph_root, v.run_root) == (str(podman_dir / "root"), str(podman_dir / "runroot"))
    assert (v.graph_driver, v.cgroup_manager, v.runtime) == ("overlay", "cgroupfs", "runc")
    assert v.conmon_version and v.version.startswith("4.")
    env = labmod.env(podman_lab.dir)
    assert env["OCIX_PODMAN"] == "1"
    for key in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"):
        assert Path(env[key]).parent == podman_dir
    # A shell with only `ocix lab env` sees the same storage.
    info = json.loads(podman(podman_lab, "info", "--format", "json").stdout)
    assert info["store"]["graphRoot"] == str(podman_dir / "root")


def test_pull_docker_io_and_short_names_through_the_lab_mirror(podman_lab: LabState) -> None:
    p = Podman.for_lab(podman_lab.dir)
    p.run("rmi", "--force", "docker.io/library/layers:latest")
    pulled = podman(podman_lab, "pull", "--quiet", "docker.io/library/layers:latest")
    assert pulled.returncode == 0, pulled.stderr
    short = podman(podman_lab, "pull", "--quiet", "busybox")
    assert short.returncode == 0, short.stderr
    direct = p.run("pull", "--quiet", f"{podman_lab.registry}/library/busybox:latest")
    assert direct.stdout.strip() == short.stdout.strip()  # the same image id either way


def test_run_with_the_vm_defaults_gets_podmans_capabilities(podman_lab: LabState) -> None:
    out = Podman.for_lab(podman_lab.dir).run(
        "run", "--rm", *RUN_DEFAULTS, "busybox", "sh", "-c",
        "grep CapEff /proc/self/status; ulimit -n", timeout=120).stdout
    assert out.split() == ["CapEff:", "00000000800405fb", "1024"]


def test_status_and_env_show_podman(podman_lab: LabState) -> None:
    st = json.loads(run_cli(["lab", "status", "--json", "--dir", podman_lab.dir]).stdout)
    comp = next(c for c in st["components"] if c["name"] == "podman")
    assert comp["running"] is True
    assert comp["pid"] is None  # daemonless
    assert comp["address"] == str(Path(podman_lab.dir) / "podman" / "root")
    table = run_cli(["lab", "status", "--dir", podman_lab.dir]).stdout
    [row] = [ln.split() for ln in table.splitlines() if ln.startswith("podman ")]
    assert row[1:3] == ["-", "running"], table
    assert comp["version"].startswith("4.") and "conmon 2." in comp["version"]
    env = run_cli(["lab", "env", "--dir", podman_lab.dir]).stdout
    assert "export OCIX_PODMAN=1\n" in env


def test_a_podman_error_keeps_podmans_message(podman_lab: LabState) -> None:
    from ocix.errors import NotFoundError

    with pytest.raises(NotFoundError) as e:
        Podman.for_lab(podman_lab.dir).run("inspect", "--type", "container", "no-such-ctr")
    assert e.value.message == ("podman inspect --type container no-such-ctr: "
                               "inspecting object: no such container no-such-ctr")


def test_down_removes_every_podman_container_and_mount(tmp_path: Path, lab: LabState) -> None:
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    root = tmp_path / "podlab"
    labmod.up(root, with_podman=True)
    try:
        p = Podman.for_lab(root)
        p.run("run", "-d", "--name", "sleeper", *RUN_DEFAULTS, "busybox", "sleep", "600")
        p.run("create", "--name", "created", *RUN_DEFAULTS, "busybox", "true")
        assert len(p.run("ps", "-aq").stdout.split()) == 2
        assert any("/podman/" in m for m in labmod.mounts_under(root))
    finally:
        stopped = labmod.down(root)
    assert stopped[0] == "podman"
    assert labmod.mounts_under(root) == []
    conmons = subprocess.run(["pgrep", "-af", "conmon"], capture_output=True, text=True).stdout
    assert str(root) not in conmons
    assert not (root / "podman" / "containers.conf").exists()
    paths = PodmanPaths(root)
    assert paths.run_root.is_relative_to(root) or not paths.run_root.exists()
    # The storage is kept; a podman pointed at it without the lab's config finds no container.
    left = subprocess.run(Podman(paths).argv("ps", "-aq"), capture_output=True, text=True,
                          timeout=60)
    if not paths.run_root.is_relative_to(root):
        shutil.rmtree(paths.run_root, ignore_errors=True)  # the check above recreated it
    assert (left.returncode, left.stdout) == (0, ""), left.stderr
