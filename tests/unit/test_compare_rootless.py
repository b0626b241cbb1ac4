"""compare --rootless's pure parts: the paths it adds, their argv, why they are unavailable, and
the user-namespace reason in the differences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocix.jobs.compare import rootless
from ocix.jobs.compare.differences import ROW_WHY, WHY, differences
from ocix.jobs.compare.model import (
    Cgroup,
    CompareOptions,
    Endpoints,
    Namespace,
    Parent,
    PathResult,
)
from ocix.jobs.compare.runner import check_options
from ocix.kernel.caps import decode_caps
from ocix.lab.rootless import RootlessState
from ocix.podman.client import Podman

DOCKER_CAPS = "00000000a80425fb"
PODMAN_CAPS = "00000000800405fb"
HOST_MAP = ["0 0 4294967295"]
LAB_MAP = ["0 1001 1", "1 100000 65536"]


def ran(path: str, *, caps: str, parent: str, userns: bool, pid: int,
        pids: int | None = None) -> PathResult:
    user = Namespace(4026532000 + pid if userns else 4026531837, userns)
    return PathResult(
        path=path, chain=[path], parent=Parent(pid - 1, parent, parent), pid=pid, exit_code=0,
        stdout="", namespaces={"user": user, "pid": Namespace(4026533000 + pid, True)},
        user_namespace=user, uid_map=LAB_MAP if userns else HOST_MAP,
        cgroup=Cgroup(f"/mgr/{pid:064x}", None, pids, None, 100000), cap_eff=caps,
        capabilities=decode_caps(caps), no_new_privs=False, seccomp="filter",
        rootfs=f"/store/{pid:064x}/merged")


def state(tmp_path: Path, **kw: object) -> Path:
    """A lab dir whose rootless.json names `root` (a user that exists) as the lab user."""
    rs = RootlessState(user="root", uid=0, gid=0, home="/root", base="/home/ocixlab/lab-x",
                       image="127.0.0.1:5000/library/busybox:latest", **kw)  # type: ignore[arg-type]
    rs.save(tmp_path)
    return tmp_path


def test_rootless_and_rootful_disagree_on_the_user_namespace_with_the_reason() -> None:
    results = [ran("podman", caps=PODMAN_CAPS, parent="conmon", userns=False, pid=10, pids=2048),
               ran("podman-rootless", caps=PODMAN_CAPS, parent="conmon", userns=True, pid=20),
               ran("docker-rootless", caps=DOCKER_CAPS, parent="containerd-shim-runc-v2",
                   userns=True, pid=30)]
    rows = {d.row: d for d in differences(results)}
    user = rows["namespaces.user"]
    assert user.values == {"podman": "shared", "podman-rootless": "isolated",
                           "docker-rootless": "isolated"}
    assert user.odd == ["podman"]
    assert user.why == ROW_WHY["namespaces.user"]
    assert user.why.startswith("a rootless container has a user namespace of its own")
    assert "CapEff, the runtime's usual default set, counts only over what that namespace owns" in user.why
    assert user.detail == ("uid_map: podman identity; podman-rootless 0 1001 1 / 1 100000 65536; "
                           "docker-rootless 0 1001 1 / 1 100000 65536")
    # docker-rootless stands out with docker's capabilities, for docker's reason.
    assert rows["capabilities"].odd == ["docker-rootless"]
    assert rows["capabilities"].why == WHY[("capabilities", "docker")]
    # The rootful podman's pids limit is the exception here: podman's containers.conf default.
    assert rows["cgroup.pids_limit"].why == WHY[("cgroup.pids_limit", "podman")]
    # The generated container names of the rootless paths are ids, never a difference.
    assert "rootfs.store" not in rows and "stdout" not in rows


def test_a_rootless_limit_that_stands_out_is_explained_by_cgroup_v1() -> None:
    results = [ran("docker", caps=DOCKER_CAPS, parent="shim", userns=False, pid=1, pids=50),
               ran("containerd", caps=DOCKER_CAPS, parent="shim", userns=False, pid=2, pids=50),
               ran("docker-rootless", caps=DOCKER_CAPS, parent="shim", userns=True, pid=3)]
    rows = {d.row: d for d in differences(results)}
    assert rows["cgroup.pids_limit"].odd == ["docker-rootless"]
    assert rows["cgroup.pids_limit"].why == (
        "a rootless container on cgroup v1 gets no cgroup of its own (its unprivileged user "
        "cannot write the v1 hierarchy), so no limit applies to it.")
    assert rows["namespaces.user"].odd == ["docker-rootless"]
    assert rows["namespaces.user"].detail.startswith("uid_map: docker identity; containerd "
                                                     "identity; docker-rootless 0 1001 1")


def test_rootless_adds_its_two_paths_after_the_selected_ones() -> None:
    assert check_options(CompareOptions("busybox", paths=["podman"], rootless=True)) == [
        "podman", "podman-rootless", "docker-rootless"]
    assert check_options(CompareOptions("busybox", paths=["podman"])) == ["podman"]
    assert check_options(CompareOptions("busybox"))[-1] == "podman"


def test_the_podman_argv_runs_as_the_lab_user_with_its_own_storage() -> None:
    rs = RootlessState(user="ocixlab", uid=1001, gid=1001, home="/home/ocixlab",
                       base="/home/ocixlab/lab-ab")
    pm = Podman(argv_builder=rootless.podman_argv_builder(rs))
    argv = pm.argv("create", "--name", "x")
    assert argv[:4] == ["runuser", "-u", "ocixlab", "--"]
    assert "XDG_RUNTIME_DIR=/home/ocixlab/lab-ab/run" in argv
    i = argv.index("podman")
    assert argv[i:] == ["podman", "--root", "/home/ocixlab/lab-ab/storage", "--runroot",
                        "/home/ocixlab/lab-ab/runroot", "--storage-driver", "overlay",
                        "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend",
                        "file", "create", "--name", "x"]


def test_the_lab_users_podman_gets_none_of_roots_podman_config(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """runuser passes root's environment on: the user's podman starts from `env -i`."""
    monkeypatch.setenv("CONTAINERS_CONF", "/var/lib/lab/podman/containers.conf")
    rs = RootlessState("ocixlab", 1001, 1001, "/home/ocixlab", "/home/ocixlab/lab-ab")
    argv = Podman(argv_builder=rootless.podman_argv_builder(rs)).argv("ps")
    assert argv[argv.index("env"):argv.index("env") + 2] == ["env", "-i"]
    assert not any("CONTAINERS_" in a for a in argv)
    assert Podman().process_env()["CONTAINERS_CONF"] == "/var/lib/lab/podman/containers.conf"


def test_without_the_rootless_lab_both_paths_say_how_to_start_it(tmp_path: Path) -> None:
    for ep in (Endpoints("c", "n"), Endpoints("c", "n", lab_dir=str(tmp_path))):
        assert rootless.podman_unavailable(ep) == (
            "the lab has no rootless podman (start it with `ocix lab up --with-rootless`)")
        assert rootless.docker_unavailable(ep) == (
            "the lab has no rootless dockerd (start it with `ocix lab up --with-rootless`)")


def test_a_rootless_dockerd_that_failed_says_why(tmp_path: Path) -> None:
    ep = Endpoints("c", "n", lab_dir=str(state(tmp_path, dockerd_error="no /dev/net/tun")))
    assert rootless.docker_unavailable(ep) == (
        "the rootless dockerd is not running (it failed at `lab up`: no /dev/net/tun; "
        "start it with `ocix lab up --with-rootless`)")


def test_a_recorded_rootless_lab_is_available(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    sock.write_text("")
    ep = Endpoints("c", "n", lab_dir=str(state(tmp_path, docker_socket=str(sock))))
    assert rootless.docker_unavailable(ep) is None
    # podman-rootless then depends only on the podman binary.
    from ocix.jobs.compare import podman

    assert rootless.podman_unavailable(ep) == podman.unavailable_binary()
    assert json.loads((tmp_path / "rootless.json").read_text())["user"] == "root"


def test_cli_passes_rootless_and_shows_the_uid_map(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocix.jobs.compare import runner as runmod
    from ocix.jobs.compare.model import CompareResult
    from tests.helpers import run_cli

    results = [ran("podman", caps=PODMAN_CAPS, parent="conmon", userns=False, pid=10),
               ran("podman-rootless", caps=PODMAN_CAPS, parent="conmon", userns=True, pid=20)]
    seen: list[CompareOptions] = []

    def compare(opts: CompareOptions, endpoints: object, on_path: object = None) -> CompareResult:
        seen.append(opts)
        return CompareResult(opts.image, opts.command, results, differences(results))

    monkeypatch.setattr(runmod, "compare", compare)
    r = run_cli(["compare", "--rootless", "--path", "podman", "busybox", "--", "true"],
                env={"COLUMNS": "1000"})
    assert r.exit_code == 0, r.output
    assert seen[0].rootless is True and seen[0].paths == ["podman"]
    lines = r.stdout.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("uid_map"))
    assert lines[i].split() == ["uid_map", "0", "0", "4294967295", "0", "1001", "1"]
    assert lines[i + 1].split() == ["1", "100000", "65536"]
    assert "  namespaces.user  podman: shared; podman-rootless: isolated" in lines
    assert f"    why: {ROW_WHY['namespaces.user']}" in lines
    r = run_cli(["compare", "--json", "--rootless", "busybox"])
    doc = json.loads(r.stdout)
    assert doc["paths"][1]["user_namespace"] == {"inode": 4026532020, "isolated": True}
    assert doc["paths"][1]["uid_map"] == LAB_MAP


def test_a_rootful_limit_outnumbered_by_rootless_paths_gets_the_rootless_reason() -> None:
    # --memory 64m: docker sets it, the two rootless containers (cgroup v1) have no cgroup.
    docker = ran("docker", caps=DOCKER_CAPS, parent="shim", userns=False, pid=1)
    assert docker.cgroup is not None
    docker.cgroup = Cgroup(docker.cgroup.path, 64 << 20, None, None, 100000)
    rows = {d.row: d for d in differences([
        docker, ran("podman-rootless", caps=DOCKER_CAPS, parent="shim", userns=True, pid=2),
        ran("docker-rootless", caps=DOCKER_CAPS, parent="shim", userns=True, pid=3)])}
    mem = rows["cgroup.memory_limit"]
    assert mem.odd == ["docker"]
    assert mem.why == WHY[("cgroup.memory_limit", "podman-rootless")]
    assert mem.why.startswith("a rootless container on cgroup v1 gets no cgroup of its own")
