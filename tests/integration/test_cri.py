"""The lab containerd's CRI plugin, through ocix's own CRI subset: version and images, a
host-network pod with one container whose output lands in a CRI log, and the sandbox seen as a
plain containerd task in namespace k8s.io."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ocix.containerd import containers, tasks
from ocix.containerd.connection import Connection
from ocix.cri.client import ContainerConfig, CriClient, PodConfig
from ocix.errors import NotFoundError
from ocix.jobs.images.pull import PullOptions, pull
from ocix.lab.state import LabState
from tests.helpers import ctr

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

K8S = "k8s.io"
LABEL = "ocix.test/cri"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def busybox_k8s(lab: LabState) -> str:
    """busybox pulled by ocix (not by the CRI plugin) into k8s.io, where the CRI looks."""
    ref = f"{lab.registry}/library/busybox:latest"
    conn = Connection(lab.containerd_socket, K8S)
    try:
        pull(conn, ref, PullOptions(hosts_dir=lab.hosts_dir))
    finally:
        conn.close()
    return ref


def k8s_task_ids(lab: LabState) -> set[str]:
    conn = Connection(lab.containerd_socket, K8S)
    try:
        return {t.container_id for t in tasks.list_tasks(conn)}
    finally:
        conn.close()


def k8s_container_ids(lab: LabState) -> set[str]:
    conn = Connection(lab.containerd_socket, K8S)
    try:
        return {c.id for c in containers.list_containers(conn)}
    finally:
        conn.close()


@contextmanager
def host_pod(cri: CriClient, log_dir: Path, name: str) -> Iterator[tuple[str, PodConfig]]:
    """RunPodSandbox a host-network pod; always StopPodSandbox + RemovePodSandbox afterwards."""
    config = PodConfig(name=name, uid=str(uuid.uuid4()), namespace="ocix-test",
                       log_directory=str(log_dir), labels={LABEL: name})
    pod_id = cri.run_pod(config)
    try:
        yield pod_id, config
    finally:
        try:
            for c in cri.list_containers(pod_id=pod_id):
                cri.remove_container(c.id)
        finally:
            cri.stop_pod(pod_id)
            cri.remove_pod(pod_id)


def test_version_images_and_image_fs(lab: LabState, cri: CriClient) -> None:
    v = cri.version()
    assert v.runtime_name == "containerd"
    assert v.runtime_version.lstrip("v").startswith("1.6"), v
    assert v.runtime_api_version == "v1", v

    pause = f"{lab.registry}/library/pause:3.6"
    # The cri plugin learns of images put into k8s.io from events, shortly after the lab's pull.
    deadline = time.monotonic() + 10
    while not cri.list_images(pause) and time.monotonic() < deadline:
        time.sleep(0.1)
    images = cri.list_images()
    tagged = [i for i in images if pause in i.repo_tags]
    assert len(tagged) == 1, [i.repo_tags for i in images]
    assert tagged[0].id.startswith("sha256:") and tagged[0].size > 0
    assert [i.id for i in cri.list_images(pause)] == [tagged[0].id]

    usage = cri.image_fs_info()
    assert usage, "ImageFsInfo returned no filesystem"
    lab_dir = Path(lab.dir).resolve()
    for u in usage:
        assert Path(u.mountpoint).resolve().is_relative_to(lab_dir), (u.mountpoint, lab_dir)
    assert cri.status().get("RuntimeReady") is True


def test_cri_pull_uses_the_lab_hosts_dir(lab: LabState, cri: CriClient) -> None:
    """PullImage goes through the CRI's own resolver, configured by the lab's hosts dir."""
    ref = f"{lab.registry}/library/multiarch:latest"
    image_id = cri.pull_image(ref, timeout=120)
    try:
        assert image_id.startswith("sha256:")
        (img,) = cri.list_images(ref)
        assert img.id == image_id and ref in img.repo_tags
    finally:
        cri.remove_image(ref)
    assert all(ref not in i.repo_tags for i in cri.list_images())


def test_host_network_pod_runs_a_container(lab: LabState, cri: CriClient, busybox_k8s: str,
                                           tmp_path: Path) -> None:
    log_dir = tmp_path / "pod-logs"
    log_dir.mkdir()
    container_id = ""
    with host_pod(cri, log_dir, "ocix-cri-hello") as (pod_id, pod):
        sandboxes = {p.id: p for p in cri.list_pod_sandboxes(labels={LABEL: "ocix-cri-hello"})}
        assert pod_id in sandboxes and sandboxes[pod_id].state == "ready", sandboxes
        assert sandboxes[pod_id].name == "ocix-cri-hello"

        container_id = cri.create_container(
            pod_id,
            ContainerConfig(name="hello", image=busybox_k8s,
                            command=["sh", "-c", "echo hello-from-cri; id -u"],
                            log_path="hello/0.log", labels={LABEL: "hello"}),
            pod)
        listed = {c.id: c for c in cri.list_containers(pod_id=pod_id)}
        assert container_id in listed and listed[container_id].state == "created", listed
        assert listed[container_id].pod_sandbox_id == pod_id

        cri.start_container(container_id)
        status = cri.wait_exited(container_id, timeout=30)
        assert status.exit_code == 0, status
        assert status.reason == "Completed", status
        assert status.log_path == str(log_dir / "hello/0.log")

        lines = _log_lines(log_dir / "hello/0.log", want=2, timeout=10)
        assert [ln.split(" ", 1)[1] for ln in lines] == ["stdout F hello-from-cri", "stdout F 0"], lines
        assert all(RFC3339.match(ln.split(" ", 1)[0]) for ln in lines), lines

        listed = {c.id: c for c in cri.list_containers(pod_id=pod_id)}
        assert listed[container_id].state == "exited", listed

    assert pod_id and container_id
    assert pod_id not in {p.id for p in cri.list_pod_sandboxes()}
    assert container_id not in {c.id for c in cri.list_containers()}
    assert not {pod_id, container_id} & k8s_task_ids(lab)
    assert not {pod_id, container_id} & k8s_container_ids(lab)
    with pytest.raises(NotFoundError):
        cri.container_status(container_id)


def test_sandbox_is_a_containerd_task(lab: LabState, cri: CriClient, tmp_path: Path) -> None:
    with host_pod(cri, tmp_path, "ocix-cri-task") as (pod_id, _):
        r = ctr(lab, K8S, "tasks", "ls")
        assert r.returncode == 0, r.stderr
        rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:] if line.strip()}
        assert pod_id in rows, r.stdout
        assert rows[pod_id][-1] == "RUNNING", r.stdout
        pid = int(rows[pod_id][1])
        assert pid > 0
        # The sandbox process is the pause image's catatonit, sharing the host network.
        assert os.readlink(f"/proc/{pid}/exe").endswith("/catatonit")
        assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
        assert pod_id in k8s_task_ids(lab)
        assert cri.pod_status(pod_id).state == "ready"
    assert pod_id and pod_id not in k8s_task_ids(lab)
    assert pod_id not in k8s_container_ids(lab)
    r = ctr(lab, K8S, "tasks", "ls", "-q")
    assert pod_id not in r.stdout.split(), r.stdout


def _log_lines(path: Path, *, want: int, timeout: float) -> list[str]:
    """The CRI log's lines, waiting (bounded) for the shim to flush `want` of them."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= want:
                return lines
        time.sleep(0.1)
    return lines
