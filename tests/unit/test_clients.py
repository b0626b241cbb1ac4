"""The Docker and podman clients' pure parts: answers parsed, errors mapped, lab config written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import docker.errors
import pytest
import requests

from ocix.cli.hints import hint_for
from ocix.dockerapi.client import DockerClient, info_from_json, socket_from_env
from ocix.errors import ConflictError, NotFoundError, OcixError, UnreachableError, from_docker
from ocix.podman.client import RUN_DEFAULTS, Podman, podman_error, version_from_info
from ocix.podman.config import (
    MAX_RUN_ROOT,
    SHORT_RUN_ROOTS,
    PodmanPaths,
    containers_conf,
    registries_conf,
    remove_lab_config,
    to_toml,
    write_lab_config,
)


def _api_error(status: int, message: str) -> docker.errors.APIError:
    resp = requests.Response()
    resp.status_code = status
    return docker.errors.APIError("x", response=resp, explanation=message)


def test_docker_errors_keep_dockerds_message() -> None:
    e = from_docker(_api_error(404, "No such container: web"), what="GET /containers/web/json")
    assert isinstance(e, NotFoundError)
    assert e.message == "docker GET /containers/web/json: 404 No such container: web"
    c = from_docker(_api_error(409, "container is running"), what="DELETE /containers/web")
    assert isinstance(c, ConflictError) and c.code == "409"
    other = from_docker(_api_error(500, "boom"))
    assert type(other) is OcixError and other.message == "docker: 500 boom"


def test_docker_connection_failures_are_unreachable() -> None:
    try:
        try:
            raise FileNotFoundError(2, "No such file or directory")
        except FileNotFoundError as inner:
            raise requests.exceptions.ConnectionError("Connection aborted.") from inner
    except requests.exceptions.ConnectionError as outer:
        e = from_docker(outer, socket="unix:///x.sock", what="GET /version")
    assert isinstance(e, UnreachableError) and e.exit_code == 2
    assert e.message == "cannot reach dockerd at unix:///x.sock: No such file or directory"
    hint = hint_for(e)  # the command line's: the library's error names no ocix command
    assert e.hint is None and hint is not None and "--with-docker" in hint


def test_client_on_a_missing_socket_raises_unreachable(tmp_path: Path) -> None:
    client = DockerClient.from_env(str(tmp_path / "none.sock"))
    with pytest.raises(UnreachableError) as e:
        client.version()
    assert e.value.message == f"cannot reach dockerd at unix://{tmp_path}/none.sock: No such file or directory"


def test_socket_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("OCIX_LAB_DIR", raising=False)
    assert socket_from_env("/a.sock") == "unix:///a.sock"
    assert socket_from_env() == "unix:///var/run/docker.sock"
    monkeypatch.setenv("OCIX_LAB_DIR", str(tmp_path))
    assert socket_from_env() == "unix:///var/run/docker.sock"  # the lab has no dockerd
    monkeypatch.setenv("DOCKER_HOST", "unix:///d.sock")
    assert socket_from_env() == "unix:///d.sock"


def test_docker_info_fields() -> None:
    i = info_from_json({"Driver": "overlay2", "DockerRootDir": "/lab/docker/root",
                        "CgroupVersion": "1", "CgroupDriver": "cgroupfs",
                        "SecurityOptions": ["name=seccomp,profile=default", "name=rootless"],
                        "Runtimes": {"runc": {}, "io.containerd.runc.v2": {}},
                        "DefaultRuntime": "runc",
                        "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]})
    assert (i.storage_driver, i.cgroup_driver, i.rootless, i.runtimes, i.containerd_snapshotter) == (
        "overlay2", "cgroupfs", True, ["io.containerd.runc.v2", "runc"], "overlay2")
    assert info_from_json({"SecurityOptions": ["name=seccomp,profile=default"]}).rootless is False


PODMAN_INFO = {
    "host": {"conmon": {"version": "conmon version 2.1.6, commit: unknown"},
             "ociRuntime": {"name": "runc", "version": "runc version 1.1.5+ds1\ncommit: x"},
             "security": {"rootless": False, "seccompEnabled": True, "apparmorEnabled": False},
             "cgroupManager": "cgroupfs", "cgroupVersion": "v1"},
    "store": {"graphDriverName": "overlay", "graphRoot": "/lab/podman/root",
              "runRoot": "/lab/podman/runroot"},
    "version": {"Version": "4.3.1", "APIVersion": "4.3.1"},
}


def test_podman_version_from_info() -> None:
    v = version_from_info(PODMAN_INFO)
    assert (v.version, v.conmon_version, v.runtime, v.runtime_version, v.graph_driver,
            v.rootless, v.cgroup_manager, v.cgroup_version) == (
        "4.3.1", "2.1.6", "runc", "1.1.5+ds1", "overlay", False, "cgroupfs", "v1")


def test_podman_errors_keep_podmans_last_error_line() -> None:
    e = podman_error("podman rm x", 1, 'time="..." level=warning msg="x"\nError: no container with name or ID "x" found: no such container\n')
    assert isinstance(e, NotFoundError)
    assert e.message == 'podman rm x: no container with name or ID "x" found: no such container'
    assert podman_error("podman run", 126, "").message == "podman run: exit status 126"


def test_lab_podman_argv_and_env(tmp_path: Path) -> None:
    lab = tmp_path / "l"
    with pytest.raises(OcixError, match="has no podman"):
        Podman.for_lab(lab)
    write_lab_config(lab, "127.0.0.1:5000")
    try:
        p = Podman.for_lab(lab)
    finally:
        remove_lab_config(lab)  # a long tmp path puts the run root in /run/ocix-podman
    assert not PodmanPaths(lab).run_root.exists() or PodmanPaths(lab).run_root.is_relative_to(lab)
    argv = p.argv("ps")
    assert argv[1:3] == ["--root", str(lab / "podman/root")]
    assert argv[-1] == "ps" and "--cgroup-manager" in argv and "runc" in argv
    assert set(p.env()) == {"CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF"}
    assert RUN_DEFAULTS == ["--network", "none", "--ulimit", "nofile=1024:1024",
                            "--ulimit", "nproc=1024:1024"]
    assert Podman().argv("ps")[1:] == ["ps"] and Podman().env() == {}


def test_long_lab_dirs_get_a_short_run_root(tmp_path: Path) -> None:
    short = PodmanPaths(Path("/var/lib/ocix-lab"))
    assert short.run_root == Path("/var/lib/ocix-lab/podman/runroot")
    long = PodmanPaths(tmp_path / ("x" * MAX_RUN_ROOT))
    assert long.run_root.parent == SHORT_RUN_ROOTS and len(str(long.run_root)) <= MAX_RUN_ROOT


def test_lab_config_files_parse_and_keep_the_distribution_defaults(tmp_path: Path) -> None:
    paths = PodmanPaths(tmp_path)
    system = {"containers": {"default_capabilities": ["CHOWN", "KILL"], "netns": "private"},
              "engine": {"runtimes": {"runc": ["/usr/bin/runc"]}}}
    conf = tomllib.loads(to_toml(containers_conf(paths, system)))
    assert conf["containers"] == {"default_capabilities": ["CHOWN", "KILL"], "netns": "none",
                                  "default_ulimits": ["nofile=1024:1024", "nproc=1024:1024"]}
    assert conf["engine"]["runtimes"] == {"runc": ["/usr/bin/runc"]}
    assert (conf["engine"]["cgroup_manager"], conf["engine"]["runtime"]) == ("cgroupfs", "runc")
    reg = tomllib.loads(to_toml(registries_conf("127.0.0.1:5000")))
    assert reg["registry"][0]["mirror"] == [{"location": "127.0.0.1:5000", "insecure": True}]
    assert reg["registry"][1] == {"location": "127.0.0.1:5000", "insecure": True}
    assert reg["unqualified-search-registries"] == ["docker.io"]
