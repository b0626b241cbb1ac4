"""`ocix tour --all --yes --json` in a fresh lab: every step whose commands exist passes, and
nothing the tour made is left: no container, task, pod, podman container, lease or mount."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocix.cli.teach import command_problem
from ocix.containerd import containers, leases, namespaces, tasks
from ocix.containerd.connection import Connection
from ocix.lab import rootless
from ocix.lab.lab import mounts_under
from ocix.lab.state import LabState

from .conftest import DEBIAN_CACHE

pytestmark = pytest.mark.integration

NEEDS = re.compile(r"needs `(ocix [a-z -]+)` \(not in this build\)")


def _ocix(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocix", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def tour_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, Path, bool]]:
    if os.geteuid() != 0:
        pytest.skip("the tour starts the lab: needs root")
    user_before = rootless.user_exists()
    root = Path(tmp_path_factory.mktemp("tourlab", numbered=True))
    # step 17 seeds debian and app: from the cache the other sessions fill
    env = {"OCIX_LAB_DIR": str(root), "OCIX_DEBIAN_CACHE": str(DEBIAN_CACHE)}
    try:
        r = _ocix("tour", "--all", "--yes", "--json", env=env)
        assert r.stdout, r.stderr
        yield json.loads(r.stdout), root, user_before
    finally:
        down = _ocix("lab", "down", "--purge", env=env)
        assert down.returncode == 0, down.stderr


def test_every_step_runs_or_names_the_missing_command(tour_run: tuple[dict, Path, bool]) -> None:
    data, _, _ = tour_run
    steps = data["steps"]
    assert [s["number"] for s in steps] == list(range(1, 28))
    for s in steps:
        assert set(s) == {"number", "title", "handout_command", "look_for", "ocix_command",
                          "output", "explanation", "ok", "skipped_reason"}
        if s["ok"]:
            assert s["skipped_reason"] == "" and s["output"], s["number"]
            continue
        # Only a command another change adds may be missing, and it must really be absent.
        missing = NEEDS.findall(s["skipped_reason"])
        assert missing, f"step {s['number']}: {s['skipped_reason']}\n{s['output']}"
        for cmd in missing:
            assert command_problem(cmd) is not None, f"step {s['number']}: {cmd} exists now"


def test_steps_that_need_only_this_build_pass(tour_run: tuple[dict, Path, bool]) -> None:
    ok = {s["number"] for s in tour_run[0]["steps"] if s["ok"]}
    assert {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 20, 21, 22, 23, 24, 25, 26, 27} <= ok


def test_live_evidence(tour_run: tuple[dict, Path, bool]) -> None:
    by = {s["number"]: s for s in tour_run[0]["steps"]}
    assert "frame: stream 1 (stdout), 15 bytes: 'hello-from-API\\n'" in by[7]["output"]
    assert "inside: my pid is 1" in by[24]["output"]
    assert re.search(r"^pid\s+pid:\[\d+\]\s+pid:\[\d+\]\s+<- new$", by[24]["output"], re.M)
    assert re.search(r"NSpid \d+ 1\s", by[24]["output"])
    assert re.search(r"uid map\s+0->[1-9]\d* x1, 1->\d+ x65536", by[20]["output"])
    assert "hello-from-runc" in by[25]["output"]
    for mark in ("A", "C", "D", "O"):  # step 18 on the layers image: every kind of change
        assert re.search(rf"^  {mark} /", by[18]["output"], re.M), mark
    assert re.search(r"^ipc\s+ipc:\[(\d+)\]\s+ipc:\[(\d+)\]\s+ipc:\[\2\]\s+pod's$",
                     by[26]["output"], re.M), by[26]["output"]
    assert re.search(r"sleep \(\d+\)\s+←\s+conmon \(\d+\)", by[27]["output"])
    assert "CapEff:\t0000000000000000" in by[13]["output"]
    assert "$ ocix images history app" in by[17]["output"]  # a real Dockerfile's history
    assert "WORKDIR /app" in by[17]["output"]
    if by[19]["ok"]:  # the rootless dockerd reports itself rootless, the lab's main one does not
        from ocix.teach.session import daemon_rootless

        runs = by[19]["output"].split("$ ocix info")[1:]
        assert [daemon_rootless(r).get("docker") for r in runs] == ["no", "yes"]


def test_nothing_is_left_behind(tour_run: tuple[dict, Path, bool]) -> None:
    _, root, _ = tour_run
    state = LabState.load(root)
    assert state is not None and state.containerd_socket
    left: list[str] = []
    with Connection(state.containerd_socket, timeout=10) as conn:
        for ns in namespaces.list_namespaces(conn):
            scoped = conn.in_namespace(ns.name)
            left += [f"container {ns.name}/{c.id}" for c in containers.list_containers(scoped)
                     if ns.name != "k8s.io" or c.id.startswith("ocix-tour")]
            left += [f"task {ns.name}/{t.container_id}" for t in tasks.list_tasks(scoped)]
            left += [f"lease {ns.name}/{le.id}" for le in leases.list_leases(scoped)]
    from ocix.cri.client import CriClient

    with CriClient(state.containerd_socket, timeout=10) as cri:
        left += [f"pod {p.id}" for p in cri.list_pod_sandboxes()]
    from ocix.dockerapi.client import DockerClient

    with DockerClient(state.docker_socket) as d:
        left += [f"docker container {c['Names']}" for c in d.api.containers(all=True)]
    rs = rootless.RootlessState.load(root)
    assert rs is not None
    if rs.docker_socket:
        with DockerClient(rs.docker_socket) as d:
            left += [f"rootless docker container {c['Names']}" for c in d.api.containers(all=True)]
            left += [f"rootless docker image {i['RepoTags']}" for i in d.api.images()]
    ps = rootless.podman(rs, "ps", "--all", "--format", "{{.Names}}").stdout.split()
    left += [f"podman container {n}" for n in ps]
    # Mounts the daemons keep for themselves, not the tour's (`lab down` unmounts them): dockerd
    # binds its data root onto itself at start, and podman's overlay driver (containers/storage)
    # its graph root's overlay dir once step 27 has used it.
    own = {str(root / "docker" / "root"), str(root / "podman" / "root" / "overlay")}
    left += [f"mount {m}" for m in mounts_under(root) if m not in own]
    left += [f"mount {ln.split()[4]}" for ln in Path("/proc/self/mountinfo").read_text().splitlines()
             if "ocix-tour-" in ln.split()[4]]
    left += [f"dir {p}" for p in Path("/tmp").glob("ocix-tour-*")]
    assert left == []


def test_step_without_lab_parts_and_no_yes_is_skipped_with_the_way_to_start(
        tmp_path: Path) -> None:
    r = _ocix("tour", "--step", "21", "--json", env={"OCIX_LAB_DIR": str(tmp_path / "none")})
    assert r.returncode == 1
    step = json.loads(r.stdout)["steps"][0]
    assert (step["ok"], step["skipped_reason"]) == (
        False, "needs the lab's containerd (`ocix lab up`): start it, or pass --yes")
    assert not (tmp_path / "none" / "lab.json").exists()


def test_interrupted_tour_removes_what_it_made(tour_run: tuple[dict, Path, bool]) -> None:
    """SIGINT while step 9 runs: the Docker container of steps 8-11 must still be removed."""
    import signal
    import time

    from ocix.dockerapi.client import DockerClient

    _, root, _ = tour_run
    state = LabState.load(root)
    assert state is not None
    proc = subprocess.Popen([sys.executable, "-m", "ocix", "tour", "--step", "8", "--step", "9",
                             "--step", "10", "--step", "11", "--json"],
                            env={**os.environ, "OCIX_LAB_DIR": str(root)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with DockerClient(state.docker_socket) as d:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not d.api.containers(
                all=True, filters={"name": "ocix-tour-ns-test"}):
            time.sleep(0.05)
        assert d.api.containers(all=True, filters={"name": "ocix-tour-ns-test"}), "never created"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err.splitlines()[-1:]) == (130, ["Interrupted."])
        assert d.api.containers(all=True, filters={"name": "ocix-tour-"}) == []


def test_steps_8_to_11_share_one_container_across_step_runs(
        tour_run: tuple[dict, Path, bool]) -> None:
    """`--step 8`, `--step 9`, `--step 10`, `--step 11` run one at a time look at one process:
    the same State.Pid, whose NSpid ends in 1; the run with step 11 removes the container."""
    from ocix.dockerapi.client import DockerClient

    _, root, _ = tour_run
    state = LabState.load(root)
    assert state is not None and state.docker_socket
    env = {"OCIX_LAB_DIR": str(root)}
    pids = []
    outputs = []
    for n in (8, 9, 10, 11):
        r = _ocix("tour", "--step", str(n), "--json", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)["steps"][0]["output"]
        outputs.append(out)
        m = re.search(r"State\.Pid (\d+)", out)
        assert m, out
        pids.append(m.group(1))
    assert len(set(pids)) == 1, pids
    assert "left running by an earlier `ocix tour --step` run" in outputs[1]
    assert re.search(rf"^NSpid:\s+{pids[0]}\s+1$", outputs[0], re.M), outputs[0]
    assert f"lsns -p {pids[0]}" in outputs[3]
    with DockerClient(state.docker_socket) as d:
        assert d.api.containers(all=True, filters={"name": "ocix-tour-ns-test"}) == []


def test_from_kernel_runs_every_step_bottom_up(tour_run: tuple[dict, Path, bool]) -> None:
    """`--from-kernel`: the same steps, unshare and runc first, the CRI and podman last."""
    from ocix.teach.tour import from_kernel_order

    _, root, _ = tour_run
    r = _ocix("tour", "--from-kernel", "--json", env={"OCIX_LAB_DIR": str(root)})
    steps = json.loads(r.stdout)["steps"]
    assert [s["number"] for s in steps] == from_kernel_order()
    ok = {s["number"] for s in steps if s["ok"]}
    assert {24, 25, 12, 13, 21, 22, 23, 3, 8, 11, 26, 27} <= ok, [
        (s["number"], s["skipped_reason"]) for s in steps if not s["ok"]]
