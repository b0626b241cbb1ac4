"""ctr, docker, podman and skopeo each read library/debian:bookworm and library/app:latest and
agree with `ocix images inspect --json` on digests, diff IDs and sizes; each runtime runs app."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from ocix.podman.client import RUN_DEFAULTS, Podman
from tests.helpers import ctr, pulled_namespace, run_cli

pytestmark = pytest.mark.integration

IMAGES = ["debian:bookworm", "app:latest"]
NS = "t-real-images-peers"
APP_OUTPUT = re.compile(r"app: python 3\.11\.\d+ on debian 12\.\d+\n")


def ocix_inspect(env: dict[str, str], name: str) -> dict[str, Any]:
    r = run_cli(["images", "inspect", name, "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def docker(lab: LabState, *args: str) -> str:
    return subprocess.run(["docker", "-H", f"unix://{lab.docker_socket}", *args],
                          capture_output=True, text=True, check=True, timeout=300).stdout


@pytest.fixture(scope="module")
def peers_ns(debian_lab: LabState, lab_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """One namespace for the module with both images pulled once (an unpack of app writes
    420 MiB), emptied and removed at the end."""
    yield from pulled_namespace(debian_lab, lab_env, NS, IMAGES)


@pytest.mark.parametrize("name", IMAGES)
def test_skopeo_agrees(debian_lab: LabState, peers_ns: dict[str, str], name: str) -> None:
    mine = ocix_inspect(peers_ns, name)
    ref = f"docker://{debian_lab.registry}/library/{name}"
    def skopeo(*extra: str) -> Any:
        return json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra, ref],
                                         capture_output=True, text=True, check=True,
                                         timeout=60).stdout)

    sk, raw, cfg = skopeo(), skopeo("--raw"), skopeo("--config")
    assert sk["Digest"] == mine["digest"]
    assert sk["Layers"] == [x["digest"] for x in mine["layers"]]
    # skopeo 1.9 has no LayersData: the sizes and media types are in the manifest it fetched
    assert [(x["digest"], x["size"], x["mediaType"]) for x in raw["layers"]] == [
        (x["digest"], x["size"], x["media_type"]) for x in mine["layers"]]
    assert raw["config"]["digest"] == mine["config"]
    assert cfg["rootfs"]["diff_ids"] == [x["diff_id"] for x in mine["layers"]]


@pytest.mark.parametrize("name", IMAGES)
def test_ctr_agrees(debian_lab: LabState, peers_ns: dict[str, str], name: str) -> None:
    namespace = NS
    mine = ocix_inspect(peers_ns, name)
    full = f"docker.io/library/{name}"
    listed = ctr(debian_lab, namespace, "images", "ls")
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(full + " "))
    assert row[2] == mine["digest"]
    manifest = json.loads(ctr(debian_lab, namespace, "content", "get", mine["digest"]).stdout)
    config = json.loads(ctr(debian_lab, namespace, "content", "get",
                            manifest["config"]["digest"]).stdout)
    assert manifest["config"]["digest"] == mine["config"]
    assert [(x["digest"], x["size"]) for x in manifest["layers"]] == [
        (x["digest"], x["size"]) for x in mine["layers"]]
    assert config["rootfs"]["diff_ids"] == [x["diff_id"] for x in mine["layers"]]
    content = ctr(debian_lab, namespace, "content", "ls")
    sizes = {line.split()[0]: line.split()[1] for line in content.stdout.splitlines()[1:]}
    assert all(x["digest"] in sizes for x in mine["layers"])


def test_ctr_runs_app(debian_lab: LabState, peers_ns: dict[str, str]) -> None:
    r = ctr(debian_lab, NS, "run", "--rm", "docker.io/library/app:latest", "peer-app",
            timeout=120)
    assert r.returncode == 0, r.stderr
    assert APP_OUTPUT.fullmatch(r.stdout)


@pytest.mark.parametrize("name", IMAGES)
def test_docker_agrees_and_runs(docker_lab: LabState, debian_lab: LabState,
                                peers_ns: dict[str, str], name: str) -> None:
    mine = ocix_inspect(peers_ns, name)
    docker(docker_lab, "pull", "-q", name)
    got = json.loads(docker(docker_lab, "image", "inspect", name))[0]
    assert got["Id"] == mine["config"]
    assert f"{name.split(':')[0]}@{mine['digest']}" in got["RepoDigests"]
    assert got["RootFS"]["Layers"] == [x["diff_id"] for x in mine["layers"]]
    if name.startswith("app"):
        assert APP_OUTPUT.fullmatch(docker(docker_lab, "run", "--rm", name))


@pytest.mark.parametrize("name", IMAGES)
def test_podman_agrees_and_runs(podman_lab: LabState, debian_lab: LabState,
                                peers_ns: dict[str, str], name: str) -> None:
    mine = ocix_inspect(peers_ns, name)
    p = Podman.for_lab(podman_lab.dir)
    full = f"docker.io/library/{name}"
    p.run("pull", "--quiet", full, timeout=300)
    got = json.loads(p.run("image", "inspect", full).stdout)[0]
    assert got["Digest"] == mine["digest"]
    assert "sha256:" + got["Id"] == mine["config"]
    assert got["RootFS"]["Layers"] == [x["diff_id"] for x in mine["layers"]]
    if name.startswith("app"):
        out = p.run("run", "--rm", *RUN_DEFAULTS, full, timeout=120).stdout
        assert APP_OUTPUT.fullmatch(out)


def test_compare_runs_debian_through_three_stacks(docker_lab: LabState, podman_lab: LabState,
                                                  debian_lab: LabState,
                                                  peers_ns: dict[str, str]) -> None:
    expected = subprocess.run(["ctr", "-a", debian_lab.containerd_socket, "-n", NS, "run",
                               "--rm", "docker.io/library/debian:bookworm", "peer-version",
                               "cat", "/etc/debian_version"], capture_output=True, text=True,
                              check=True, timeout=120).stdout
    env = {**os.environ, **labmod.env(podman_lab.dir), "CONTAINERD_NAMESPACE": NS}
    r = run_cli(["compare", "--json", "--path", "containerd", "--path", "docker", "--path",
                 "podman", "debian:bookworm", "--", "cat", "/etc/debian_version"], env=env)
    assert r.exit_code == 0, r.stderr
    paths = {p["path"]: p for p in json.loads(r.stdout)["paths"]}
    assert set(paths) == {"containerd", "docker", "podman"}
    for name, p in paths.items():
        assert (p["exit_code"], p["stdout"]) == (0, expected), name
