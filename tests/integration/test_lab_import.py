"""`ocix lab import`: docker save tars (lab dockerd), oci-archives (lab podman) and OCI layout
dirs (ocix's own builder) into the lab registry; broken ones leave no tag behind."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import requests

from ocix.lab import lab as labmod
from ocix.lab.images import recipes
from ocix.lab.images.build import Data, File, ImageSpec, LayerSpec, PlatformImage, build_image
from ocix.lab.state import LabState
from ocix.oci.platform import host as host_platform
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


def tags(lab: LabState, repo: str) -> list[str]:
    r = requests.get(f"http://{lab.registry}/v2/{repo}/tags/list", timeout=30)
    if r.status_code == 404:
        return []
    r.raise_for_status()
    return sorted(r.json().get("tags") or [])


def manifest_digest(lab: LabState, repo: str, tag: str) -> str:
    r = requests.head(f"http://{lab.registry}/v2/{repo}/manifests/{tag}", timeout=30,
                      headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                                         "application/vnd.oci.image.index.v1+json"})
    r.raise_for_status()
    return r.headers["Docker-Content-Digest"]


def docker(lab: LabState, *args: str) -> str:
    return subprocess.run(["docker", "-H", f"unix://{lab.docker_socket}", *args],
                          capture_output=True, text=True, check=True, timeout=120).stdout


def small_spec(repo: str, tag: str, text: str) -> ImageSpec:
    layer = LayerSpec((File("hello.txt", Data(text.encode())),), created_by=f"add {text}")
    return ImageSpec(repo, tag, (PlatformImage(host_platform(), (recipes.busybox_layer(),
                                                                 layer)),))


def test_a_docker_save_tar_pulls_back_with_dockers_ids(docker_lab: LabState,
                                                      ns_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    docker(docker_lab, "pull", "-q", "busybox")
    docker(docker_lab, "tag", "busybox:latest", "imp/dsave:1")
    try:
        docker(docker_lab, "save", "-o", str(tmp_path / "bb.tar"), "imp/dsave:1")
        inspect: Any = json.loads(docker(docker_lab, "image", "inspect", "imp/dsave:1"))[0]
    finally:
        docker(docker_lab, "rmi", "imp/dsave:1")
    r = run_cli(["lab", "import", str(tmp_path / "bb.tar"), "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    done = json.loads(r.stdout)
    assert [(d["recorded"], d["repo"], d["tag"], d["pull"]) for d in done] == [
        ("imp/dsave:1", "imp/dsave", "1", "imp/dsave:1")]
    r = run_cli(["pull", "imp/dsave:1"], env=ns_env)  # docker.io/imp/dsave through the mirror
    assert r.exit_code == 0, r.stderr
    r = run_cli(["images", "inspect", "imp/dsave:1", "--json"], env=ns_env)
    mine = json.loads(r.stdout)
    assert mine["config"] == inspect["Id"]
    assert [x["diff_id"] for x in mine["layers"]] == inspect["RootFS"]["Layers"]
    r = run_cli(["run", "--rm", "imp/dsave:1", "echo", "imported"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "imported\n")


def test_an_oci_archive_from_podman(podman_lab: LabState, ns_env: dict[str, str],
                                    tmp_path: Path) -> None:
    env = {**os.environ, **labmod.env(podman_lab.dir)}
    archive = tmp_path / "bb-oci.tar"
    subprocess.run(["podman", "save", "--format", "oci-archive", "-o", str(archive),
                    "docker.io/library/busybox:latest"], env=env,
                   capture_output=True, text=True, check=True, timeout=120)
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    r = run_cli(["lab", "import", str(archive), "--as", "imp/podman:oci"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert manifest_digest(podman_lab, "imp/podman", "oci") == index["manifests"][0]["digest"]
    r = run_cli(["pull", "imp/podman:oci"], env=ns_env)
    assert r.exit_code == 0, r.stderr


def test_an_oci_layout_with_several_tags(lab: LabState, ns_env: dict[str, str],
                                         tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    one = build_image(layout, small_spec("library/imp-one", "a", "one"))
    two = build_image(layout, small_spec("imp/two", "b", "two"))
    r = run_cli(["lab", "import", str(layout)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert manifest_digest(lab, "library/imp-one", "a") == one.root.digest
    assert manifest_digest(lab, "imp/two", "b") == two.root.digest
    assert "imp-one:a" in r.stdout  # the familiar name to pull
    r = run_cli(["pull", "imp-one:a"], env=ns_env)  # docker.io/library/imp-one:a
    assert r.exit_code == 0, r.stderr


def test_a_tag_without_a_name_needs_as(lab: LabState, ns_env: dict[str, str],
                                       tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    built = build_image(layout, small_spec("x", "3.18", "tag only"))
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "3.18"}
    (layout / "index.json").write_text(json.dumps(index))
    r = run_cli(["lab", "import", str(layout)], env=ns_env)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (f"Error: {layout}: image {built.root.digest} has the "
                                        "tag '3.18' and no name")
    r = run_cli(["lab", "import", str(layout), "--as", "imp/alpine-ish"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert tags(lab, "imp/alpine-ish") == ["3.18"]


def test_a_broken_docker_save_layer_is_named_and_nothing_is_tagged(
        docker_lab: LabState, ns_env: dict[str, str], tmp_path: Path) -> None:
    docker(docker_lab, "pull", "-q", "layers")
    docker(docker_lab, "save", "-o", str(tmp_path / "good.tar"), "layers:latest")
    tree = tmp_path / "tree"
    tree.mkdir()
    with tarfile.open(tmp_path / "good.tar") as tar:
        tar.extractall(tree, filter="tar")
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    last = manifest[0]["Layers"][-1]
    data = bytearray((tree / last).read_bytes())
    data[600] ^= 0xFF
    (tree / last).write_bytes(bytes(data))
    subprocess.run(["tar", "-cf", str(tmp_path / "bad.tar"), "-C", str(tree), "."], check=True)
    r = run_cli(["lab", "import", str(tmp_path / "bad.tar"), "--as", "imp/broken:1"],
                env=ns_env)
    assert r.exit_code == 1
    line = r.stderr.splitlines()[0]
    assert line.startswith(f"Error: {tmp_path / 'bad.tar'}: {last}: its sha256 is sha256:")
    assert f"says diff_ids[{len(manifest[0]['Layers']) - 1}] is sha256:" in line
    assert tags(docker_lab, "imp/broken") == []


def test_a_broken_blob_in_a_layout_stops_every_tag(lab: LabState, ns_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    build_image(layout, small_spec("imp/first", "ok", "first, intact"))
    two = build_image(layout, small_spec("imp/second", "bad", "second, broken"))
    top = json.loads((layout / "blobs" / "sha256" / two.root.digest[7:]).read_bytes())
    blob = layout / "blobs" / "sha256" / top["layers"][-1]["digest"][7:]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    archive = tmp_path / "oci.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("oci-layout", "index.json", "blobs"):
            tar.add(layout / name, arcname=name)
    r = run_cli(["lab", "import", str(archive)], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0].startswith(
        f"Error: {archive}: blobs/sha256/{top['layers'][-1]['digest'][7:]}: ")
    assert tags(lab, "imp/first") == [] and tags(lab, "imp/second") == []


def test_not_an_archive(lab: LabState, ns_env: dict[str, str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_text("not a tar\n")
    r = run_cli(["lab", "import", str(junk)], env=ns_env)
    assert (r.exit_code, r.stderr) == (1, f"Error: {junk}: not a readable tar archive (file "
                                          "could not be opened successfully)\n")
    r = run_cli(["lab", "import", str(tmp_path)], env=ns_env)
    assert (r.exit_code, r.stderr) == (1, f"Error: {tmp_path}: a directory without an "
                                          "oci-layout file is not an OCI image layout\n")


def test_skopeo_copy_then_import_as_the_readme_shows(lab: LabState, ns_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    # The lab's busybox stands in for docker.io's alpine, which this machine cannot reach.
    archive = tmp_path / "alpine.tar"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                    f"docker://{lab.registry}/library/busybox:latest",
                    f"oci-archive:{archive}:docker.io/library/imp-alpine:3.18"],
                   capture_output=True, text=True, check=True, timeout=120)
    r = run_cli(["lab", "import", str(archive)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert json.loads(run_cli(["lab", "import", str(archive), "--json"], env=ns_env).stdout)[0][
        "recorded"] == "docker.io/library/imp-alpine:3.18"
    r = run_cli(["pull", "imp-alpine:3.18"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    r = run_cli(["run", "--rm", "imp-alpine:3.18", "echo", "from the archive"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "from the archive\n")
