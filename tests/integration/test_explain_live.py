"""`ocix explain` against the running lab: its live marks agree with what the daemons say."""

from __future__ import annotations

import json

import pytest

from ocix.containerd import version
from ocix.containerd.connection import Connection
from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


def test_containerd_mark_shows_the_lab_daemon_and_its_version(
        lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["explain", "containerd", "--json"], env=lab_env)
    assert r.exit_code == 0, r.stderr
    marks = {p["part"]: p for p in json.loads(r.stdout)["parts"]}
    with Connection(lab.containerd_socket) as conn:
        expected = version.get(conn).version
    m = marks["containerd"]
    assert (m["present"], m["running"], m["version"]) == (True, True, expected)
    assert m["detail"].startswith(f"answers on {lab.containerd_socket}; storage ")
    assert "overlayfs" in m["detail"]


def test_cri_mark_reads_the_cri_version(lab: LabState, lab_env: dict[str, str]) -> None:
    env = {**lab_env, "CONTAINER_RUNTIME_ENDPOINT": f"unix://{lab.containerd_socket}"}
    r = run_cli(["explain", "cri", "--json"], env=env)
    marks = {p["part"]: p for p in json.loads(r.stdout)["parts"]}
    cri = marks["CRI endpoint (containerd cri plugin)"]
    assert cri["running"] is True and cri["version"].endswith("(API v1)")


def test_every_command_of_every_topic_is_in_this_build() -> None:
    r = run_cli(["explain", "--json"])
    for t in json.loads(r.stdout)["topics"]:
        data = json.loads(run_cli(["explain", t["name"], "--json", "--no-live"]).stdout)
        assert [c for c in data["commands"] if not c["available"]] == [], t["name"]


# -- the facts the topics state, measured in the lab (docs/sources.md) ----------------------

def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the comm: state, ppid, pgrp, session, ..."""
    from pathlib import Path

    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def test_a_shim_has_its_own_process_group_but_containerds_session(
        lab: LabState, ns_env: dict[str, str], namespace: str) -> None:
    """Topic shims: Setpgid gives the shim a process group of its own; its session stays
    containerd's (sid == containerd's pid)."""
    from pathlib import Path

    from ocix.teach.probe import pids_of
    from tests.helpers import wait_for

    name = "shim-session"
    assert run_cli(["pull", "-q", "busybox"], env=ns_env).exit_code == 0
    r = run_cli(["run", "-d", "--name", name, "busybox", "sleep", "60"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    try:
        def shim() -> int | None:
            for pid in pids_of("containerd-shim-runc-v2"):
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"-namespace" in args and namespace.encode() in args and name.encode() in args:
                    return pid
            return None

        pid = wait_for("the container's shim", shim)
        containerd = lab.proc("containerd")
        assert containerd is not None
        pgrp, session = _stat(pid)[2:4]
        assert (int(pgrp), int(session)) == (pid, containerd.pid)
    finally:
        run_cli(["containers", "rm", "--force", name], env=ns_env)


def test_the_default_set_cannot_mount_but_can_chown_and_make_a_user_namespace(
        ns_env: dict[str, str]) -> None:
    """Topics rootless and capabilities: no default set has CAP_SYS_ADMIN, so mount and
    `unshare -m` fail with EPERM; chown works; a user namespace needs no capability (even
    with --cap-drop ALL; containerd's default spec loads no seccomp filter to forbid it)."""
    script = ("mount -t tmpfs none /mnt; echo mount=$?; unshare -m true; echo unshare_m=$?; "
              "chown 1:1 /tmp; echo chown=$?")
    assert run_cli(["pull", "-q", "busybox"], env=ns_env).exit_code == 0
    r = run_cli(["run", "--rm", "busybox", "sh", "-c", script], env=ns_env)
    assert r.exit_code == 0, r.stderr
    codes = dict(ln.split("=") for ln in r.stdout.split() if "=" in ln)
    assert codes["chown"] == "0" and codes["mount"] != "0" and codes["unshare_m"] != "0", r.stdout
    assert "Operation not permitted" in r.stdout + r.stderr
    r = run_cli(["run", "--rm", "--cap-drop", "ALL", "busybox", "sh", "-c",
                 "unshare -U true; echo userns=$?"], env=ns_env)
    assert "userns=0" in r.stdout, r.stdout + r.stderr


def test_the_podman_default_set_cannot_mount_either(podman_lab: LabState) -> None:
    from ocix.podman.client import RUN_DEFAULTS, Podman

    pm = Podman.for_lab(podman_lab.dir)
    r = pm.run("run", "--rm", *RUN_DEFAULTS, "busybox", "sh", "-c",
               "grep CapEff /proc/self/status; mount -t tmpfs none /mnt; echo mount=$?; "
               "chown 1:1 /tmp; echo chown=$?; unshare -U true; echo userns=$?", check=False,
               timeout=120)
    assert "CapEff:\t00000000800405fb" in r.stdout, r.stdout + r.stderr
    assert "chown=0" in r.stdout and "mount=0" not in r.stdout, r.stdout
    assert "userns=0" in r.stdout, r.stdout


def test_dockers_seccomp_profile_refuses_a_user_namespace(docker_lab: LabState) -> None:
    """Topic rootless: docker's default seccomp profile refuses unshare(2) without
    CAP_SYS_ADMIN, so `unshare -U` fails there (it works under containerd and podman)."""
    from ocix.dockerapi.client import DockerClient

    name = "ocix-test-userns"
    with DockerClient(docker_lab.docker_socket) as d:
        d.call("POST /images/create", lambda: list(d.api.pull("busybox", tag="latest",
                                                               stream=True)))
        d.call("POST /containers/create", d.api.create_container, "busybox",
               command=["sh", "-c", "unshare -U true; echo userns=$?"], name=name,
               host_config=d.api.create_host_config(network_mode="none"))
        try:
            d.call("POST /containers/start", d.api.start, name)
            d.call("POST /containers/wait", d.api.wait, name, timeout=60)
            logs = d.call("GET /containers/logs", d.api.logs, name).decode()
        finally:
            d.call("DELETE /containers", d.api.remove_container, name, force=True)
    assert "userns=1" in logs and "Operation not permitted" in logs, logs


def test_a_docker_pull_writes_to_containerd_under_a_moby_lease(docker_lab: LabState) -> None:
    """Tour step 4: dockerd 20.10 keeps its images in overlay2 but takes a lease
    moby-image-<digest> in containerd's namespace moby and writes the manifest there."""
    from ocix.containerd import content, leases
    from ocix.dockerapi.client import DockerClient

    with DockerClient(docker_lab.docker_socket) as d:
        d.call("POST /images/create", lambda: list(d.api.pull("busybox", tag="latest",
                                                               stream=True)))
    with Connection(docker_lab.containerd_socket) as conn:
        moby = conn.in_namespace("moby")
        ids = [le.id for le in leases.list_leases(moby)]
        blobs = content.list_content(moby)
    assert any(i.startswith("moby-image-sha256:") for i in ids), ids
    assert blobs


def test_docker_system_df_counts_a_shared_layer_once(docker_lab: LabState) -> None:
    """df's explanation: `docker images` counts a shared layer once per image, `docker system
    df` (GET /system/df: LayersSize) once. busybox and layers share busybox's layer."""
    from ocix.dockerapi.client import DockerClient

    with DockerClient(docker_lab.docker_socket) as d:
        for image in ("busybox", "layers"):
            d.call("POST /images/create", lambda i=image: list(d.api.pull(i, tag="latest",
                                                                          stream=True)))
        df = d.call("GET /system/df", d.api.df)
    images = {t.split(":")[0].rsplit("/", 1)[-1]: i for i in df["Images"]
              for t in i.get("RepoTags") or []}
    # Other tests' images may be in this dockerd too: counted once per image, the layer that
    # busybox and layers share would make LayersSize the plain sum of every image's Size.
    every = sum(i["Size"] for i in df["Images"])
    shared = images["layers"]["SharedSize"]
    assert images["busybox"]["Size"] > 0 and shared > 0
    assert df["LayersSize"] <= every - shared


def test_an_image_costs_about_three_times_its_compressed_size(ns_env: dict[str, str]) -> None:
    """Tour step 15 and topic storage: compressed blobs stay next to the unpacked snapshot."""
    r = run_cli(["pull", "-q", "busybox"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(run_cli(["df", "--json"], env=ns_env).stdout)
    image = next(i for i in doc["images"] if "busybox" in i["name"])
    compressed = image["compressed"]["shared"] + image["compressed"]["unique"]
    unpacked = image["unpacked"]["shared"] + image["unpacked"]["unique"]
    assert 2.5 < (compressed + unpacked) / compressed < 3.5, (compressed, unpacked)


def test_crun_refuses_hybrid_mode_because_the_unified_tree_has_controllers(
        ns_env: dict[str, str], tmp_path: object) -> None:
    """Topic cgroups: crun 1.8 refuses this layout since unified/cgroup.controllers is not
    empty (crun's src/libcrun/cgroup.c)."""
    import shutil
    import subprocess
    from pathlib import Path

    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if shutil.which("crun") is None or not unified.exists() or not unified.read_text().split():
        pytest.skip("needs crun and a hybrid layout whose cgroup2 tree has controllers")
    bundle = Path(str(tmp_path)) / "bundle"
    assert run_cli(["pull", "-q", "busybox"], env=ns_env).exit_code == 0
    assert run_cli(["bundle", "busybox", str(bundle), "true"], env=ns_env).exit_code == 0
    r = subprocess.run(["crun", "--root", str(Path(str(tmp_path)) / "state"), "run", "-b",
                        str(bundle), "ocix-hybrid-check"], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode != 0
    assert "cgroups in hybrid mode not supported, drop all controllers from cgroupv2" in r.stderr
