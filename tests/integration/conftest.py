"""The real lab, started once per test session in a temp dir and torn down at the end.

Integration tests talk to a real containerd, registry and (on demand) dockerd.  They need
root; on a machine where they cannot run they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocix.containerd.connection import Connection
from ocix.cri.client import CriClient
from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from tests.helpers import remove_namespace

NEEDED = ("containerd", "runc", "docker-registry", "ctr")
# Where the debian and app images are kept between sessions (keyed by the build's inputs): the
# first session bootstraps from the Debian archive, later ones only push.
DEBIAN_CACHE = Path("/var/cache/ocix-lab-debian")


@pytest.fixture(autouse=True)
def _whole_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read table cells and whole lines, so output is rendered wide; how it fits
    80 columns is tested in tests/unit/test_output_width.py."""
    if "COLUMNS" not in os.environ:
        monkeypatch.setenv("COLUMNS", "4096")


def _missing() -> list[str]:
    return [c for c in NEEDED if not (shutil.which(c) or os.path.exists(f"/usr/sbin/{c}"))]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (containerd, overlayfs, runc)")
    if _missing():
        pytest.skip(f"missing: {', '.join(_missing())}; run `make setup`")
    root = Path(tmp_path_factory.mktemp("lab", numbered=True))
    result = labmod.up(root)
    try:
        yield result.state
    finally:
        labmod.down(root)


@pytest.fixture(scope="session")
def docker_lab(lab: LabState) -> LabState:
    """The same lab with dockerd added (started once, on first use)."""
    return labmod.up(lab.dir, with_docker=True).state


@pytest.fixture(scope="session")
def podman_lab(lab: LabState) -> LabState:
    """The same lab with its podman configured and the seed images pulled (once, on first use)."""
    if not shutil.which("podman") or not shutil.which("conmon"):
        pytest.skip("podman and conmon are not installed; run `make setup`")
    return labmod.up(lab.dir, with_podman=True).state


@pytest.fixture(scope="session")
def debian_lab(lab: LabState) -> LabState:
    """The same lab with library/debian:bookworm and library/app:latest pushed (once)."""
    if not shutil.which("mmdebstrap"):
        pytest.skip("mmdebstrap is not installed; run `make setup`")
    labmod.seed(lab.dir, debian=True, cache=DEBIAN_CACHE)
    state = LabState.load(Path(lab.dir))
    assert state is not None
    return state


@pytest.fixture(scope="session")
def lab_env(lab: LabState) -> dict[str, str]:
    return {"CONTAINERD_ADDRESS": lab.containerd_socket, "OCIX_REGISTRY": lab.registry,
            "OCIX_HOSTS_DIR": lab.hosts_dir, "OCIX_LAB_DIR": lab.dir,
            "CONTAINERD_NAMESPACE": "default"}


@pytest.fixture
def ns_env(lab_env: dict[str, str], namespace: str) -> dict[str, str]:
    """`lab_env` pointed at the test's own namespace."""
    return {**lab_env, "CONTAINERD_NAMESPACE": namespace}


@pytest.fixture
def nsconn(lab: LabState, namespace: str) -> Iterator[Connection]:
    """A connection to the lab's containerd in the test's own namespace."""
    c = Connection(lab.containerd_socket, namespace)
    yield c
    c.close()


@pytest.fixture
def namespace(lab: LabState, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh containerd namespace for one test, emptied and removed afterwards.

    Teardown removes whatever the test left (tasks, containers and their snapshots, leases,
    ingests, images) and then the namespace.  Anything it could not remove, and any lease left
    behind, fails the test.
    """
    name = "t-" + "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:40]
    name = name.strip("-")
    yield name
    c = Connection(lab.containerd_socket, name, timeout=30)
    try:
        problems = remove_namespace(c, name)
    finally:
        c.close()
    if problems:
        pytest.fail(f"teardown of namespace {name}:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def ns(lab: LabState, namespace: str) -> str:
    """The test's own namespace with busybox pulled from the lab (through the docker.io mirror)."""
    from ocix.jobs.images.pull import PullOptions, pull

    c = Connection(lab.containerd_socket, namespace)
    try:
        pull(c, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
    finally:
        c.close()
    return namespace


@pytest.fixture
def cri(lab: LabState) -> Iterator[CriClient]:
    """A CRI client on the lab's containerd (its CRI plugin serves the same socket)."""
    c = CriClient(lab.containerd_socket, timeout=60.0)
    yield c
    c.close()
