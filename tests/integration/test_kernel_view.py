"""`ocix kernel`: the kernel view of containers started through containerd and through dockerd."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def sleeper(ns: str, ns_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Container `kv` running `sleep 600` with limits and one capability; removed afterwards."""
    r = run_cli(["run", "-d", "--name", "kv", "--memory", "67108864", "--pids-limit", "50",
                 "--cpus", "1.5", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
                 "busybox", "sleep", "600"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    yield ns_env
    r = run_cli(["containers", "rm", "-f", "kv"], env=ns_env)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "kv\n", ""), "teardown: containers rm -f kv"


def test_task_kernel_view(sleeper: dict[str, str], namespace: str) -> None:
    r = run_cli(["kernel", "kv", "--json"], env=sleeper)
    assert r.exit_code == 0, r.stderr
    view = json.loads(r.stdout)
    assert view["origin"] == f"task kv in namespace {namespace}"
    assert view["name"] == "sleep"
    ns = {n["type"]: n for n in view["namespaces"]}
    for t in ("pid", "net", "ipc", "uts", "mnt"):
        assert ns[t]["inode"] != ns[t]["host_inode"], t  # isolated, as containerd's spec asks
    assert ns["user"]["inode"] == ns["user"]["host_inode"]  # no user namespace by default
    assert view["caps"]["effective"]["names"] == ["CAP_NET_BIND_SERVICE"]
    assert view["caps"]["effective"]["mask"] == 1 << 10
    assert view["no_new_privs"] is True and view["seccomp_mode"] == "disabled"
    res = view["resources"]
    assert (res["memory_limit"], res["pids_limit"]) == (64 << 20, 50)
    assert (res["cpu_quota_us"], res["cpu_period_us"]) == (150000, 100000)
    assert all(c["path"] == f"/{namespace}/kv" for c in view["cgroups"])


def test_human_output_and_pid_form(sleeper: dict[str, str]) -> None:
    r = run_cli(["kernel", "kv"], env=sleeper)
    assert r.exit_code == 0
    assert "NET_BIND_SERVICE" in r.stdout and "isolated" in r.stdout
    assert "memory       64.0 MiB" in r.stdout and "pids         1 of 50" in r.stdout
    pid = json.loads(run_cli(["kernel", "kv", "--json"], env=sleeper).stdout)["pid"]
    assert json.loads(run_cli(["kernel", "--pid", str(pid), "--json"]).stdout)["name"] == "sleep"


def test_errors(lab: LabState, namespace: str) -> None:
    env = {"CONTAINERD_ADDRESS": lab.containerd_socket, "CONTAINERD_NAMESPACE": namespace}
    r = run_cli(["kernel"], env=env)
    assert r.exit_code == 2 and "give exactly one of TASK, --pid or --docker" in r.stderr
    r = run_cli(["kernel", "nosuch"], env=env)
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: task nosuch: ")


def test_docker_container_kernel_view(docker_lab: LabState) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{docker_lab.docker_socket}"}
    subprocess.run(["docker", "rm", "-f", "ns-test"], capture_output=True, env=env)
    started = subprocess.run(["docker", "run", "-d", "--name", "ns-test", "--network", "none",
                              "--cap-drop", "ALL", "busybox", "sleep", "300"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        r = run_cli(["kernel", "--docker", "ns-test", "--json"],
                    env={"DOCKER_HOST": env["DOCKER_HOST"]})
        assert r.exit_code == 0, r.stderr
        view = json.loads(r.stdout)
        assert view["origin"] == "docker container ns-test"
        assert view["caps"]["effective"]["mask"] == 0
        assert view["seccomp_mode"] == "filter"  # docker's default seccomp profile
    finally:
        subprocess.run(["docker", "rm", "-f", "ns-test"], capture_output=True, env=env)
