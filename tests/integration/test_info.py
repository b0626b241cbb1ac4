"""`ocix info` against the real lab (containerd, its CRI plugin, dockerd, podman): every answer
matches what the daemons' own tools say."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ocix.lab.state import LabState
from tests.helpers import ctr, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def info(docker_lab: LabState, podman_lab: LabState, lab_env: dict[str, str]) -> dict:
    env = {**lab_env, "DOCKER_HOST": f"unix://{docker_lab.docker_socket}"}
    r = run_cli(["info", "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    return dict(json.loads(r.stdout))


def daemon(info: dict, name: str) -> dict:
    return dict(next(d for d in info["daemons"] if d["name"] == name))


def docker_cli(lab: LabState, fmt: str) -> str:
    out = subprocess.run(["docker", "-H", f"unix://{lab.docker_socket}", "info", "--format", fmt],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def test_cgroup_mode_matches_the_mounts(info: dict) -> None:
    fstypes = {line.split(" - ")[1].split()[0]: line.split()[4]
               for line in Path("/proc/self/mountinfo").read_text().splitlines() if "cgroup" in line.split(" - ")[1]}
    expected = ("v2" if fstypes.get("cgroup2") == "/sys/fs/cgroup" else
                "hybrid" if "cgroup2" in fstypes and "cgroup" in fstypes else "v1")
    assert info["cgroup"]["mode"] == expected


def test_docker_storage_driver_and_rootless_match_docker_info(info: dict,
                                                             docker_lab: LabState) -> None:
    d = daemon(info, "docker")
    assert d["state"] == "running"
    assert d["storage"] == [docker_cli(docker_lab, "{{.Driver}}")]
    assert d["version"] == docker_cli(docker_lab, "{{.ServerVersion}}")
    assert d["storage_root"] == docker_cli(docker_lab, "{{.DockerRootDir}}")
    options = docker_cli(docker_lab, "{{json .SecurityOptions}}")
    assert d["rootless"] is ("name=rootless" in options)
    pid = int(Path(docker_lab.dir, "docker", "docker.pid").read_text())
    assert d["pid"] == pid and d["command"].endswith("dockerd")


def test_snapshotters_match_ctr_plugins_ls(info: dict, lab: LabState) -> None:
    out = ctr(lab, "default", "plugins", "ls")
    assert out.returncode == 0, out.stderr
    ok = sorted(cols[1] for cols in (ln.split() for ln in out.stdout.splitlines()[1:])
                if cols[0] == "io.containerd.snapshotter.v1" and cols[-1] == "ok")
    d = daemon(info, "containerd")
    assert d["address"] == lab.containerd_socket
    assert (d["state"], d["storage"]) == ("running", ok)
    assert "overlayfs" in ok
    version = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout
    assert d["version"] == version.split()[2]


def test_cri_and_podman_answer_and_crio_is_absent(info: dict, podman_lab: LabState) -> None:
    cri = daemon(info, "cri")
    assert (cri["state"], cri["api_version"], cri["components"]) == (
        "running", "v1", {"runtime": "containerd"})
    crio = daemon(info, "cri-o")
    assert os.path.exists("/var/run/crio/crio.sock") or (
        crio["state"], crio["note"]) == ("absent", "no socket at /var/run/crio/crio.sock")
    pm = daemon(info, "podman")
    podman_version = subprocess.run(["podman", "--version"], capture_output=True,
                                    text=True).stdout.split()[-1]
    assert (pm["state"], pm["version"], pm["storage"]) == ("running", podman_version, ["overlay"])
    assert pm["storage_root"] == os.path.join(podman_lab.dir, "podman", "root")
    assert pm["components"]["conmon"] and pm["components"]["runc"]
    assert pm["rootless"] is False


def test_runtimes_have_their_binaries_versions(info: dict) -> None:
    by_name = {r["name"]: r for r in info["runtimes"]}
    runc = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout.split()
    assert by_name["runc"]["version"] == runc[2]
    assert set(by_name) == {"runc", "crun"}


def test_an_unreachable_daemon_does_not_fail_the_command(lab_env: dict[str, str],
                                                         tmp_path: object) -> None:
    env = {**lab_env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    r = run_cli(["info", "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    d = daemon(json.loads(r.stdout), "docker")
    assert (d["state"], d["note"]) == ("absent", "no socket at /nonexistent/docker.sock")
    assert daemon(json.loads(r.stdout), "containerd")["state"] == "running"
