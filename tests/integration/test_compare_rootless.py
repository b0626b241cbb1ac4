"""`ocix compare --rootless` and `ocix info` in a lab started with --with-podman --with-rootless:
the rootless paths show an isolated user namespace whose uid 0 is the lab user on the host, and
leave no container in the lab user's podman or in the rootless dockerd."""

from __future__ import annotations

import json
import os
import pwd
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocix.kernel.userns import CAPS_STAY_INSIDE
from ocix.lab import rootless
from ocix.lab.rootless import RootlessState
from ocix.podman.client import Podman

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

START = "start it with `ocix lab up --with-rootless`"


def _ocix(*args: str, root: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONTAINERS_", "DOCKER_", "CONTAINERD_"))}
    return subprocess.run([sys.executable, "-m", "ocix", *args], capture_output=True, text=True,
                          env={**env, "OCIX_LAB_DIR": str(root)}, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("creating the lab user needs root")
    root = Path(tmp_path_factory.mktemp("rootlesscompare", numbered=True))
    r = _ocix("lab", "up", "--with-podman", "--with-rootless", root=root, timeout=600)
    try:
        assert r.returncode == 0, r.stderr
        yield root
    finally:
        down = _ocix("lab", "down", "--purge", root=root)
        if down.returncode != 0:  # userdel meets /etc/passwd locked by another useradd: once more
            down = _ocix("lab", "down", "--purge", root=root)
        assert down.returncode == 0, down.stderr


def _leftovers(root: Path) -> list[str]:
    rs = RootlessState.load(root)
    assert rs is not None
    found = [f"rootless podman {x}" for x in rootless.podman(rs, "ps", "-a", "-q").stdout.split()]
    found += [f"podman {x}" for x in Podman.for_lab(root).run("ps", "-aq").stdout.split()]
    if rs.docker_socket:
        from ocix.dockerapi.client import DockerClient

        with DockerClient(rs.docker_socket) as d:
            found += [f"docker-rootless {c['Id'][:12]}"
                      for c in d.call("GET /containers/json", d.api.containers, all=True)]
    return found


def test_rootless_paths_map_root_to_the_lab_user_and_leave_nothing(lab_root: Path) -> None:
    rs = RootlessState.load(lab_root)
    assert rs is not None
    lab_uid = pwd.getpwnam(rootless.USER).pw_uid
    assert lab_uid != 0
    r = _ocix("compare", "--json", "--rootless", "--path", "podman", "busybox", "--",
              "cat", "/proc/self/uid_map", root=lab_root)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    paths = {p["path"]: p for p in doc["paths"]}
    assert list(paths) == ["podman", "podman-rootless", "docker-rootless"]

    pm = paths["podman-rootless"]
    assert pm["error"] is None and pm["exit_code"] == 0
    assert pm["user_namespace"]["isolated"] is True
    assert pm["user_namespace"]["inode"] == pm["namespaces"]["user"]["inode"]
    assert pm["uid_map"][0] == f"0 {lab_uid} 1"
    # What the command itself read is the map compare reported.
    assert [" ".join(ln.split()) for ln in pm["stdout"].splitlines()] == pm["uid_map"]
    assert pm["chain"][0].endswith(f"(rootless, as {rootless.USER})")

    root = paths["podman"]
    assert root["user_namespace"]["isolated"] is False
    assert root["uid_map"] == ["0 0 4294967295"]

    dk = paths["docker-rootless"]
    if rs.docker_socket:
        assert dk["error"] is None and dk["exit_code"] == 0
        assert dk["user_namespace"]["isolated"] is True
        assert dk["uid_map"][0] == f"0 {lab_uid} 1"
        assert dk["chain"][1] == f"rootlesskit (as {rootless.USER})"
    else:
        assert dk["available"] is False and START in dk["skipped_reason"]

    user = next(d for d in doc["differences"] if d["row"] == "namespaces.user")
    assert user["values"]["podman"] == "shared"
    assert user["values"]["podman-rootless"] == "isolated"
    assert user["why"] == CAPS_STAY_INSIDE
    assert f"podman-rootless 0 {lab_uid} 1 / " in user["detail"]
    assert _leftovers(lab_root) == []


def test_info_shows_the_rootless_daemons_user_namespace(lab_root: Path) -> None:
    rs = RootlessState.load(lab_root)
    assert rs is not None
    # podman's pause process exists once a podman command ran as the lab user.
    rootless.podman(rs, "ps", "-a")
    r = _ocix("info", "--json", root=lab_root)
    assert r.returncode == 0, r.stderr
    daemons = {d["name"]: d for d in json.loads(r.stdout)["daemons"]}
    pm = daemons["podman-rootless"]
    assert pm["state"] == "running" and pm["rootless"] is True
    u = pm["user_namespace"]
    assert (u["process"], u["isolated"]) == ("catatonit", True)
    assert u["uid_map"][0] == f"0 {rs.uid} 1"
    assert u["why"] == "A" + CAPS_STAY_INSIDE[1:]
    if rs.docker_socket:
        dk = daemons["docker-rootless"]
        assert dk["state"] == "running" and dk["rootless"] is True
        assert dk["user_namespace"]["process"] == "dockerd"
        assert dk["user_namespace"]["isolated"] is True
    text = _ocix("info", root=lab_root).stdout
    assert "ROOTLESS DAEMON" in text and "A rootless container has a user namespace" in text


def test_without_the_rootless_part_the_paths_say_how_to_start_it(tmp_path: Path) -> None:
    # A lab dir with no rootless record: both rootless paths are skipped with the hint.
    (tmp_path / "lab").mkdir()
    r = _ocix("compare", "--json", "--rootless", "--path", "podman", "busybox", "--", "true",
              root=tmp_path / "lab")
    doc = json.loads(r.stdout)
    skipped = {p["path"]: p["skipped_reason"] for p in doc["paths"] if not p["available"]}
    assert skipped["podman-rootless"] == f"the lab has no rootless podman ({START})"
    assert skipped["docker-rootless"] == f"the lab has no rootless dockerd ({START})"
    assert r.returncode == 1  # no path ran


@pytest.mark.parametrize("marker", [("exec podman start", "podman-rootless"),
                                    ("docker POST /containers/", "/start")])
def test_ctrl_c_in_a_rootless_path_leaves_nothing(lab_root: Path, marker: tuple[str, str]) -> None:
    """SIGINT once the rootless container exists: its cleanup runs, exit 130."""
    rs = RootlessState.load(lab_root)
    assert rs is not None
    if marker[0].startswith("docker") and not rs.docker_socket:
        pytest.skip(f"no rootless dockerd here: {rs.dockerd_error}")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONTAINERS_", "DOCKER_", "CONTAINERD_"))}
    p = subprocess.Popen([sys.executable, "-m", "ocix", "--trace", "compare", "--rootless",
                          "--path", "podman", "busybox", "--", "sleep", "2"],
                         env={**env, "OCIX_LAB_DIR": str(lab_root)}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120

    def hit() -> bool:
        return any(all(m in s for m in marker) for s in seen)

    while time.monotonic() < deadline and not hit():
        if select.select([p.stderr], [], [], 1)[0]:
            line = p.stderr.readline()
            if not line:
                break
            seen.append(line)
    assert hit(), seen[-5:]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert err.splitlines()[-1] == "Interrupted."
    assert _leftovers(lab_root) == []
