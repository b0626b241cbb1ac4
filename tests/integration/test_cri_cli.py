"""`ocix cri` against the lab's containerd, its endpoint given in CONTAINER_RUNTIME_ENDPOINT: what
the commands print agrees with what the CRI API returns (read with CriClient directly), exec and
stats work, and stop/rm/stopp/rmp leave no container or task in k8s.io."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from ocix.cri.client import CriClient
from ocix.lab.state import LabState
from tests.helpers import ctr, run_cli, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

K8S = "k8s.io"


@pytest.fixture(scope="module")
def cri_env(lab: LabState) -> dict[str, str]:
    # CONTAINERD_ADDRESS points nowhere: only CONTAINER_RUNTIME_ENDPOINT can make these work.
    return {"CONTAINER_RUNTIME_ENDPOINT": f"unix://{lab.containerd_socket}",
            "CONTAINERD_ADDRESS": "/nonexistent/containerd.sock"}


@pytest.fixture(scope="module")
def busybox(lab: LabState, cri_env: dict[str, str]) -> str:
    """busybox pulled into k8s.io by `ocix cri pull` (the CRI plugin's own resolver)."""
    ref = f"{lab.registry}/library/busybox:latest"
    r = run_cli(["cri", "pull", ref], env=cri_env)
    assert r.exit_code == 0, r.stderr
    assert re.fullmatch(r"Image is up to date for sha256:[0-9a-f]{64}\n", r.stdout), r.stdout
    return ref


def cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    r = run_cli(["cri", *args], env=env)
    assert r.exit_code == code, (args, r.stdout, r.stderr)
    return r


def table(stdout: str) -> list[list[str]]:
    """Rows of a rich table (header and rule dropped), cells split on 2+ spaces."""
    lines = [ln for ln in stdout.splitlines()[2:] if ln.strip()]
    return [re.split(r" {2,}", ln.strip()) for ln in lines]


def k8s_ids(lab: LabState, kind: str) -> set[str]:
    r = ctr(lab, K8S, kind, "ls", "-q")
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def write_configs(tmp_path: Path, busybox: str, name: str) -> tuple[Path, Path]:
    pod = {"metadata": {"name": name, "uid": str(uuid.uuid4()), "namespace": "ocix-cri-cli"},
           "log_directory": str(tmp_path / "logs"), "labels": {"ocix.test": name},
           "linux": {"security_context": {"namespace_options": {"network": 2}}}}
    container = {"metadata": {"name": "worker"}, "image": {"image": busybox},
                 "command": ["sh", "-c", "echo out-line; echo err-line >&2; exec sleep 600"],
                 "log_path": "worker/0.log", "labels": {"role": "worker"},
                 "linux": {"security_context": {"namespace_options": {"network": 2, "pid": 1}}}}
    (tmp_path / "logs").mkdir()
    pod_file, ctr_file = tmp_path / "pod.json", tmp_path / "ctr.json"
    pod_file.write_text(json.dumps(pod))
    ctr_file.write_text(json.dumps(container))
    return pod_file, ctr_file


def test_pod_and_container_through_the_cli_agree_with_the_cri_api(
        lab: LabState, cri_env: dict[str, str], cri: CriClient, busybox: str,
        tmp_path: Path) -> None:
    pod_file, ctr_file = write_configs(tmp_path, busybox, "ocix-cli-pod")
    pod_id = cli(cri_env, "runp", str(pod_file)).stdout.strip()
    cid = ""
    try:
        cid = cli(cri_env, "create", pod_id, str(ctr_file), str(pod_file)).stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
        assert cli(cri_env, "start", cid).stdout == cid + "\n"
        status = wait_for("running", lambda: s if (s := cri.container_status(cid)).state == "running" else None)

        # pods: JSON is the API's item; the table row is crictl's columns for it.
        (api_pod,) = [p for p in cri.list_pod_sandboxes() if p.id == pod_id]
        items = json.loads(cli(cri_env, "pods", "--json").stdout)["items"]
        assert [i for i in items if i["id"] == pod_id] == [api_pod.api_json]
        assert api_pod.api_json["state"] == "SANDBOX_READY"
        rows = table(cli(cri_env, "pods", "--name", "^ocix-cli-pod$").stdout)
        assert len(rows) == 1 and rows[0][0] == pod_id[:13]
        assert rows[0][2:] == ["Ready", "ocix-cli-pod", "ocix-cri-cli", "0", "(default)"]
        assert rows[0][1].endswith(" ago")
        assert cli(cri_env, "pods", "-q", "--label", "ocix.test=ocix-cli-pod").stdout == pod_id + "\n"

        # ps
        (api_ctr,) = cri.list_containers(pod_id=pod_id)
        listed = json.loads(cli(cri_env, "ps", "--json", "--pod", pod_id).stdout)["containers"]
        assert listed == [api_ctr.api_json]
        rows = table(cli(cri_env, "ps", "--pod", pod_id).stdout)
        assert rows == [[cid[:13], busybox, rows[0][2], "Running", "worker", "0", pod_id[:13],
                         "ocix-cli-pod", "ocix-cri-cli"]]
        assert cli(cri_env, "ps", "-q", "--no-trunc", "--name", "^worker$", "-p", pod_id).stdout == cid + "\n"

        # inspect / inspectp: the status message and the verbose info map.
        doc = json.loads(cli(cri_env, "inspect", cid, "--json").stdout)
        api_status = cri.container_status(cid, verbose=True)
        assert doc["status"] == api_status.api_json
        assert doc["status"]["state"] == "CONTAINER_RUNNING" and doc["status"]["id"] == cid
        assert doc["info"]["sandboxID"] == pod_id and doc["info"]["pid"] > 0
        assert doc["status"]["logPath"] == status.log_path == str(tmp_path / "logs/worker/0.log")
        podc = json.loads(cli(cri_env, "inspectp", pod_id, "--json").stdout)
        assert podc["status"] == cri.pod_status(pod_id, verbose=True).api_json
        assert podc["status"]["linux"]["namespaces"]["options"]["network"] == "NODE"
        kv = dict(re.split(r" {2,}", ln, maxsplit=1) for ln in
                  cli(cri_env, "inspect", cid[:13]).stdout.splitlines())
        assert (kv["ID"], kv["State"], kv["Log Path"]) == (cid, "Running", status.log_path)

        # logs: the lines of the CRI log file the API names, each on its own stream.
        wait_for("two log lines", lambda: len(Path(status.log_path).read_text().splitlines()) >= 2)
        records = [ln.split(" ", 3) for ln in Path(status.log_path).read_text().splitlines()]
        r = cli(cri_env, "logs", cid)
        assert r.stdout == "".join(t + "\n" for _, s, _, t in records if s == "stdout") == "out-line\n"
        assert r.stderr == "err-line\n"
        r = cli(cri_env, "logs", "-t", "--tail", "1", cid)
        assert r.stdout + r.stderr == f"{records[-1][0]} {records[-1][3]}\n"

        # exec: output and exit code, as ExecSync returns them.
        r = cli(cri_env, "exec", cid, "sh", "-c", "echo hi; echo e >&2; exit 7", code=7)
        assert (r.stdout, r.stderr) == ("hi\n", "e\n")
        direct = cri.exec_sync(cid, ["sh", "-c", "echo hi; echo e >&2; exit 7"])
        assert (direct.stdout, direct.stderr, direct.exit_code) == (b"hi\n", b"e\n", 7)
        assert cli(cri_env, "exec", cid, "cat", "/proc/1/cmdline").stdout == "sleep\x00600\x00"

        # stats: numbers for the running container.
        (row,) = [r for r in table(cli(cri_env, "stats", "-s", "0.5").stdout) if r[0] == cid[:13]]
        assert row[1] == "worker" and float(row[2]) >= 0
        assert re.fullmatch(r"[\d.]+[kMG]?B", row[3]) and re.fullmatch(r"[\d.]+[kMG]?B", row[4])
        assert int(row[5]) >= 0
        (js,) = json.loads(cli(cri_env, "stats", cid, "--json", "-s", "0.2").stdout)["stats"]
        assert js["attributes"]["id"] == cid
        assert int(js["memory"]["workingSetBytes"]["value"]) > 0
        assert int(js["cpu"]["usageCoreNanoSeconds"]["value"]) > 0

        # rm refuses a running container; stop, then rm, stopp, rmp.
        r = cli(cri_env, "rm", cid, code=1)
        assert r.stderr.splitlines() == [f"Error: container {cid} is running",
                                         "Hint: stop it first, or pass --force"]
        assert cli(cri_env, "stop", cid).stdout == cid + "\n"
        assert cri.container_status(cid).state == "exited"
        assert cli(cri_env, "rm", cid).stdout == cid + "\n"
        assert cli(cri_env, "stopp", pod_id).stdout == f"Stopped sandbox {pod_id}\n"
        assert cri.pod_status(pod_id).state == "notready"
        assert cli(cri_env, "rmp", pod_id).stdout == f"Removed sandbox {pod_id}\n"
    finally:
        leftovers = _cleanup(cri, pod_id)
    assert not leftovers, f"teardown could not remove: {leftovers}"
    assert pod_id not in {p.id for p in cri.list_pod_sandboxes()}
    assert cid not in {c.id for c in cri.list_containers()}
    assert not {pod_id, cid} & k8s_ids(lab, "containers")
    assert not {pod_id, cid} & k8s_ids(lab, "tasks")


def test_force_removes_a_running_container_and_a_ready_pod(
        lab: LabState, cri_env: dict[str, str], cri: CriClient, busybox: str,
        tmp_path: Path) -> None:
    pod_file, ctr_file = write_configs(tmp_path, busybox, "ocix-cli-force")
    pod_id = cli(cri_env, "runp", str(pod_file)).stdout.strip()
    try:
        cid = cli(cri_env, "create", pod_id, str(ctr_file), str(pod_file)).stdout.strip()
        cli(cri_env, "start", cid)
        assert cli(cri_env, "rm", "-f", cid).stdout == cid + "\n"
        r = cli(cri_env, "rmp", pod_id, code=1)
        assert r.stderr.splitlines()[0] == f"Error: pod {pod_id} is ready (running)"
        assert cli(cri_env, "rmp", "-f", pod_id).stdout == f"Removed sandbox {pod_id}\n"
    finally:
        leftovers = _cleanup(cri, pod_id)
    assert not leftovers, f"teardown could not remove: {leftovers}"
    assert not {pod_id, cid} & (k8s_ids(lab, "containers") | k8s_ids(lab, "tasks"))


def test_logs_follow_ends_when_the_container_exits(
        cri_env: dict[str, str], cri: CriClient, busybox: str, tmp_path: Path) -> None:
    pod_file, ctr_file = write_configs(tmp_path, busybox, "ocix-cli-follow")
    config = json.loads(ctr_file.read_text())
    config["command"] = ["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done; echo bye >&2"]
    ctr_file.write_text(json.dumps(config))
    pod_id = cli(cri_env, "runp", str(pod_file)).stdout.strip()
    try:
        cid = cli(cri_env, "create", pod_id, str(ctr_file), str(pod_file)).stdout.strip()
        cli(cri_env, "start", cid)
        started = time.monotonic()
        r = cli(cri_env, "logs", "-f", cid)
        assert (r.stdout, r.stderr) == ("n1\nn2\nn3\n", "bye\n")
        assert time.monotonic() - started < 20
        assert cri.container_status(cid).state == "exited"
    finally:
        leftovers = _cleanup(cri, pod_id)
    assert not leftovers, f"teardown could not remove: {leftovers}"


def test_a_crun_pod_runs_through_the_labs_crun_handler(
        lab: LabState, cri_env: dict[str, str], cri: CriClient, busybox: str,
        tmp_path: Path) -> None:
    """`cri runp --runtime crun` (its --help example): on a hybrid cgroup host the handler
    calls the wrapper, since crun itself refuses that host."""
    from ocix.runtimes import CRUN_WRAPPER, cgroup_hybrid_with_v2_controllers, crun_binary

    pod_file, ctr_file = write_configs(tmp_path, busybox, "ocix-cli-crun")
    pod_id = cli(cri_env, "runp", "--runtime", "crun", str(pod_file)).stdout.strip()
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", pod_id), pod_id
        info = json.loads(cli(cri_env, "inspectp", pod_id, "--json").stdout)["info"]
        assert info["runtimeHandler"] == "crun"
        assert info["runtimeOptions"] == {"binary_name": crun_binary()}
        if cgroup_hybrid_with_v2_controllers():
            assert crun_binary() == CRUN_WRAPPER
        # crun made it: crun reads the pause container's state where the v2 shim keeps it.
        st = subprocess.run(["crun", "--root", f"/run/containerd/runc/{K8S}", "state", pod_id],
                            capture_output=True, text=True, timeout=30)
        assert st.returncode == 0, st.stderr
        assert json.loads(st.stdout)["status"] == "running"
        cid = cli(cri_env, "create", pod_id, str(ctr_file), str(pod_file)).stdout.strip()
        cli(cri_env, "start", cid)
        wait_for("running", lambda: cri.container_status(cid).state == "running")
        assert cli(cri_env, "exec", cid, "echo", "from-crun").stdout == "from-crun\n"
        assert cli(cri_env, "rmp", "-f", pod_id).stdout == f"Removed sandbox {pod_id}\n"
    finally:
        leftovers = _cleanup(cri, pod_id)
    assert not leftovers, f"teardown could not remove: {leftovers}"
    assert pod_id not in {p.id for p in cri.list_pod_sandboxes()}


def test_version_and_images_agree_with_the_api(cri_env: dict[str, str], cri: CriClient,
                                               busybox: str) -> None:
    v = cri.version()
    assert cli(cri_env, "version").stdout == (
        f"Version:  {v.version}\nRuntimeName:  containerd\nRuntimeVersion:  {v.runtime_version}\n"
        "RuntimeApiVersion:  v1\n")
    # The cri plugin learns of images put into k8s.io (the lab's pause) from events, a bit later.
    pause = f"{busybox.rsplit('/', 2)[0]}/library/pause:3.6"
    wait_for("the pause image in the CRI", lambda: cri.list_images(pause))
    listed = json.loads(cli(cri_env, "images", "--json").stdout)["images"]
    # containerd answers in no fixed order
    assert sorted(listed, key=lambda i: i["id"]) == sorted(
        (i.api_json for i in cri.list_images()), key=lambda i: i["id"])
    assert {busybox, pause} <= {
        t for i in listed for t in i["repoTags"]}
    (img,) = cri.list_images(busybox)
    assert cli(cri_env, "images", "-q", busybox).stdout == img.id + "\n"
    traced = run_cli(["--trace", "cri", "version"], env=cri_env)
    assert re.search(r"^\[trace .*\] grpc cri\.runtime\.Version -> OK \(", traced.stderr, re.M), \
        traced.stderr
    info = json.loads(cli(cri_env, "info", "--json").stdout)
    assert {c["type"] for c in info["status"]["conditions"]} == {"RuntimeReady", "NetworkReady"}
    assert info["config"]["sandboxImage"].endswith("/library/pause:3.6")


def test_pull_and_rmi(lab: LabState, cri_env: dict[str, str], cri: CriClient) -> None:
    ref = f"{lab.registry}/library/multiarch:latest"
    image_id = cli(cri_env, "pull", ref).stdout.removeprefix("Image is up to date for ").strip()
    try:
        assert [i.id for i in cri.list_images(ref)] == [image_id]
        assert cli(cri_env, "images", "-q", ref).stdout == image_id + "\n"
        assert cli(cri_env, "rmi", ref).stdout == f"Deleted: {ref}\n"
    finally:
        if cri.image_status(ref) is not None:
            cri.remove_image(ref)
    assert cri.list_images(ref) == []
    r = cli(cri_env, "rmi", ref, code=1)
    assert r.stderr.splitlines() == [f"Error: no image {ref} in the runtime",
                                     "Hint: list them with `ocix cri images`"]


@pytest.mark.parametrize(("args", "line"), [
    (["inspect", "nosuch0cri"],
     'Error: container nosuch0cri: an error occurred when try to find container "nosuch0cri": '
     "not found"),
    (["logs", "nosuch0cri"],
     'Error: container nosuch0cri: an error occurred when try to find container "nosuch0cri": '
     "not found"),
    (["stop", "nosuch0cri"],
     'Error: container nosuch0cri: an error occurred when try to find container "nosuch0cri": '
     "not found"),
    (["inspectp", "nosuch0cri"],
     "Error: pod nosuch0cri: an error occurred when try to find sandbox: not found"),
    (["stopp", "nosuch0cri"],
     "Error: pod nosuch0cri: an error occurred when try to find sandbox \"nosuch0cri\": not found"),
])
def test_unknown_ids_are_one_clear_line_and_exit_1(cri_env: dict[str, str], args: list[str],
                                                   line: str) -> None:
    r = cli(cri_env, *args, code=1)
    assert r.stdout == ""
    err = r.stderr.splitlines()
    assert err[0] == line
    assert err[1:] == [f"Hint: list them with `ocix cri {'pods' if args[0] in ('inspectp', 'stopp') else 'ps -a'}`"]


def test_a_pod_network_without_cni_is_refused_before_anything_is_made(
        cri_env: dict[str, str], cri: CriClient, tmp_path: Path) -> None:
    f = tmp_path / "pod.json"
    f.write_text(json.dumps({"metadata": {"name": "ocix-cli-podnet", "uid": "u", "namespace": "x"}}))
    before = {p.id for p in cri.list_pod_sandboxes()}
    r = cli(cri_env, "runp", str(f), code=1)
    first, hint = r.stderr.splitlines()
    assert first.startswith("Error: pod ocix-cli-podnet asks for a pod network, but the runtime's "
                            "network is not ready (NetworkPluginNotReady: "), first
    assert hint.startswith("Hint: this runtime has no pod network (CNI); for a host-network pod")
    assert {p.id for p in cri.list_pod_sandboxes()} == before


def _cleanup(cri: CriClient, pod_id: str) -> list[str]:
    """Remove what a test left of its pod; return what could not be removed."""
    failed = []
    if pod_id in {p.id for p in cri.list_pod_sandboxes()}:
        for c in cri.list_containers(pod_id=pod_id):
            try:
                cri.remove_container(c.id)
            except Exception as e:  # report, keep going
                failed.append(f"container {c.id}: {e}")
        for step in (cri.stop_pod, cri.remove_pod):
            try:
                step(pod_id)
            except Exception as e:
                failed.append(f"pod {pod_id}: {e}")
    return failed
