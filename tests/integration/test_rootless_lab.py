"""`ocix lab up --with-rootless`: the user ocixlab runs rootless podman (and dockerd), uid 0 in
its containers is an unprivileged host uid, and `lab down --purge` removes the user again."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocix.lab import rootless

pytestmark = pytest.mark.integration


def _ocix(*args: str, root: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocix", *args], capture_output=True, text=True,
                          env={**os.environ, "OCIX_LAB_DIR": str(root)}, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def rootless_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bool]]:
    if os.geteuid() != 0:
        pytest.skip("creating the lab user needs root")
    existed = rootless.user_exists()
    root = Path(tmp_path_factory.mktemp("rootlesslab", numbered=True))
    r = _ocix("lab", "up", "--with-rootless", root=root)
    try:
        assert r.returncode == 0, r.stderr
        yield root, existed
    finally:
        _ocix("lab", "down", "--purge", root=root)


def test_podman_maps_container_root_to_an_unprivileged_host_uid(
        rootless_lab: tuple[Path, bool]) -> None:
    rs = rootless.RootlessState.load(rootless_lab[0])
    assert rs is not None
    out = rootless.podman(rs, *rootless.podman_run_args(rs, "cat", "/proc/self/uid_map")).stdout
    root_line, rest_line = (ln.split() for ln in out.strip().splitlines())
    assert root_line == ["0", str(pwd.getpwnam(rootless.USER).pw_uid), "1"]
    assert root_line[1] != "0"
    subuid = next(ln.split(":") for ln in Path("/etc/subuid").read_text().splitlines()
                  if ln.startswith(f"{rootless.USER}:"))
    assert rest_line == ["1", subuid[1], subuid[2]]


def test_kernel_shows_the_user_namespace_isolated(rootless_lab: tuple[Path, bool]) -> None:
    rs = rootless.RootlessState.load(rootless_lab[0])
    assert rs is not None
    name = "t-rootless-kernel"
    rootless.podman(rs, *rootless.podman_run_args(rs, "sleep", "120", detach=True, name=name))
    try:
        pid = rootless.podman(rs, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        r = _ocix("kernel", "--pid", pid, "--json", root=rootless_lab[0])
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        user = next(n for n in data["namespaces"] if n["type"] == "user")
        assert user["inode"] != user["host_inode"]
        assert data["user_namespace"]["isolated"] is True
        assert data["user_namespace"]["root_on_host"] == rs.uid
        assert data["user_namespace"]["note"].startswith(
            f"user namespace isolated: uid 0 inside is uid {rs.uid} on the host.")
    finally:
        rootless.podman(rs, "rm", "--force", "--time", "0", name)


def test_status_lists_the_rootless_parts(rootless_lab: tuple[Path, bool]) -> None:
    r = _ocix("lab", "status", "--json", root=rootless_lab[0])
    names = {c["name"]: c for c in json.loads(r.stdout)["components"]}
    assert names[f"podman (rootless, {rootless.USER})"]["version"].startswith("uid_map 0 ")
    # The rootless dockerd either runs or says exactly why it could not.
    d = names["dockerd-rootless"]
    assert d["running"] or d["version"].startswith("failed: ")


def test_rootless_dockerd_maps_root_too(rootless_lab: tuple[Path, bool]) -> None:
    rs = rootless.RootlessState.load(rootless_lab[0])
    assert rs is not None
    if not rs.docker_socket:
        pytest.skip(f"no rootless dockerd here: {rs.dockerd_error}")
    from ocix.dockerapi.client import DockerClient

    with DockerClient(rs.docker_socket) as d:
        info = d.info()
    assert info.rootless is True


def test_purge_removes_the_user(rootless_lab: tuple[Path, bool]) -> None:
    root, existed = rootless_lab
    r = _ocix("lab", "down", "--purge", root=root)
    assert r.returncode == 0, r.stderr
    if not existed:
        assert not rootless.user_exists()
        for path in ("/etc/subuid", "/etc/subgid"):
            assert not [ln for ln in Path(path).read_text().splitlines()
                        if ln.startswith(f"{rootless.USER}:")]
