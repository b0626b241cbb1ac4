"""The real lab, started once per test session in a temp dir and torn down at the end.

Integration tests talk to a real containerd, registry and (on demand) dockerd.  They need
root; on a machine where they cannot run they are skipped with the reason.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ocix.containerd.connection import Connection
from ocix.lab import lab as labmod
from ocix.lab.state import LabState

NEEDED = ("containerd", "runc", "docker-registry", "ctr")


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
    ingests, images) and then the namespace; anything it could not remove fails the test.
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
        pytest.fail(f"teardown of namespace {name} could not remove:\n  " + "\n  ".join(problems),
                    pytrace=False)


@pytest.fixture
def ns(lab: LabState, namespace: str) -> str:
    """The test's own namespace with busybox pulled from the lab (through the docker.io mirror)."""
    from ocix.jobs.pull import PullOptions, pull

    c = Connection(lab.containerd_socket, namespace)
    try:
        pull(c, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
    finally:
        c.close()
    return namespace


def remove_namespace(c: Connection, name: str) -> list[str]:
    """Empty namespace `name` and remove it; one line per thing that could not be removed."""
    from ocix.containerd import containers, content, images, leases, namespaces, snapshots, tasks
    from ocix.errors import NotFoundError, OcixError

    problems: list[str] = []

    def attempt(what: str, fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(c, *args)
        except NotFoundError:
            pass  # gone already: nothing to remove
        except OcixError as e:
            problems.append(f"{what}: {e}")

    try:
        if name not in {n.name for n in namespaces.list_namespaces(c)}:
            return []  # the test never created anything in it
        for t in tasks.list_tasks(c):
            attempt(f"task {t.container_id}", tasks.force_remove, t.container_id)
        for ct in containers.list_containers(c):
            if ct.snapshot_key:
                attempt(f"snapshot {ct.snapshot_key} of container {ct.id}", snapshots.remove,
                        ct.snapshot_key, ct.snapshotter or snapshots.DEFAULT_SNAPSHOTTER)
            attempt(f"container {ct.id}", containers.delete, ct.id)
        for lease in leases.list_leases(c):
            attempt(f"lease {lease.id}", leases.delete, lease.id)
        for st in content.statuses(c):
            attempt(f"ingest {st.ref}", content.abort, st.ref)
        for img in images.list_images(c):
            attempt(f"image {img.name}", images.delete, img.name)
        # One synchronous garbage collection takes the content and snapshots nothing holds now.
        gc = leases.create(c, leases.new_id("teardown"))
        attempt(f"lease {gc.id}", functools.partial(leases.delete, sync=True), gc.id)
        if problems:
            return problems
        try:
            namespaces.remove(c, name)
        except OcixError as e:
            return [f"namespace {name}: {e}", *_remaining(c)]
    except OcixError as e:  # containerd itself is gone or refused a listing
        problems.append(f"namespace {name}: {e}")
    return problems


def _remaining(c: Connection) -> list[str]:
    """What is still in the namespace, for the teardown report."""
    from ocix.containerd import containers, content, images, leases, snapshots

    left = [f"image {i.name}" for i in images.list_images(c)]
    left += [f"container {x.id}" for x in containers.list_containers(c)]
    left += [f"lease {x.id}" for x in leases.list_leases(c)]
    left += [f"snapshot {x.name} ({x.kind})" for x in snapshots.list_snapshots(c)]
    left += [f"blob {x.digest}" for x in content.list_content(c)]
    left += [f"ingest {x.ref}" for x in content.statuses(c)]
    return left
