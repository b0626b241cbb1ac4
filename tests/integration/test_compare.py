"""`ocix compare` against the real lab: docker, containerd, runc, crun, the CRI and podman.

Every test also checks that nothing the compare made is left in any daemon: containers, tasks,
leases and non-image snapshots in containerd's default and k8s.io namespaces, docker and podman
containers, runc and crun state, mounts under the lab dir, bundle and log dirs.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocix.containerd import containers, leases, snapshots, tasks
from ocix.containerd.connection import Connection
from ocix.cri.client import CRI_NAMESPACE
from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from ocix.podman.client import Podman

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["docker", "containerd", "runc", "crun", "cri", "podman"]
DEFAULT_CAPS = "00000000a80425fb"  # docker, containerd, the CRI and the bundles (runc defaults)
PODMAN_CAPS = "00000000800405fb"  # containers-common's list: no NET_RAW, MKNOD, AUDIT_WRITE


@pytest.fixture(scope="module")
def full_lab(docker_lab: LabState, podman_lab: LabState) -> LabState:
    if not shutil.which("crun"):
        pytest.skip("crun is not installed; run `make setup`")
    return podman_lab


@pytest.fixture(scope="module")
def env(full_lab: LabState) -> dict[str, str]:
    return {**os.environ, **labmod.env(full_lab.dir), "CONTAINERD_NAMESPACE": "default"}


def _containerd_state(lab: LabState, ns: str) -> set[str]:
    conn = Connection(lab.containerd_socket, ns)
    try:
        return ({f"container {c.id}" for c in containers.list_containers(conn)}
                | {f"task {t.container_id}" for t in tasks.list_tasks(conn)}
                | {f"lease {x.id}" for x in leases.list_leases(conn)}
                | {f"snapshot {s.name}" for s in snapshots.list_snapshots(conn)
                   if s.kind != "committed"})
    finally:
        conn.close()


def _lines(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert r.returncode == 0, (argv, r.stderr)
    return {f"{argv[0]} {x}" for x in r.stdout.split()}


def leftovers(lab: LabState, env: dict[str, str]) -> set[str]:
    """Everything a compare could leave behind, by daemon."""
    found = _containerd_state(lab, "default") | _containerd_state(lab, CRI_NAMESPACE)
    found |= _lines(["docker", "ps", "-aq", "--no-trunc"], env)
    found |= {f"podman {x}" for x in Podman.for_lab(lab.dir).run(
        "ps", "-a", "--format", "{{.Names}}").stdout.split()}
    found |= {x for x in _lines(["runc", "list", "-q"]) if "ocix-compare" in x}
    found |= {x for x in _lines(["crun", "list", "-q"]) if "ocix-compare" in x}
    with open("/proc/mounts") as f:
        found |= {f"mount {line.split()[1]}" for line in f
                  if line.split()[1].startswith((lab.dir, "/tmp/ocix-"))}
    found |= {f"dir {p}" for p in Path("/tmp").glob("ocix-compare-*")}
    return found


@pytest.fixture
def nothing_left(full_lab: LabState, env: dict[str, str]) -> Iterator[None]:
    before = leftovers(full_lab, env)
    yield
    deadline = time.monotonic() + 10  # podman's exit command and the shims finish on their own
    while (extra := leftovers(full_lab, env) - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert extra == set(), f"left behind: {sorted(extra)}"


def compare(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    r = subprocess.run([sys.executable, "-m", "ocix", "compare", "--json", *args], env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def succeeded(r: subprocess.CompletedProcess[str], doc: Any) -> None:
    errors = [(p["path"], p["error"]) for p in (doc or {}).get("paths", []) if p["error"]]
    assert r.returncode == 0 and not errors, (errors, r.stderr[-2000:])


def by_path(doc: Any) -> dict[str, Any]:
    return {p["path"]: p for p in doc["paths"]}


def test_six_paths_show_capeff_and_podmans_difference(env: dict[str, str], nothing_left: None) -> None:
    r, doc = compare(env, "busybox", "--", "sh", "-c", "grep CapEff /proc/self/status")
    succeeded(r, doc)
    paths = by_path(doc)
    assert list(paths) == PATHS
    for name, p in paths.items():
        assert (p["available"], p["skipped_reason"], p["error"], p["exit_code"]) == \
            (True, None, None, 0), (name, p)
        # What the command printed is what ocix read from /proc for the same process.
        assert p["stdout"] == f"CapEff:\t{p['cap_eff']}\n", (name, p["stdout"])
        assert p["pid"] > 0 and p["calls"] and set(p["timings"]) >= {"create", "start", "run",
                                                                       "cleanup"}
        assert p["seccomp"] in ("disabled", "filter") and p["rootfs"], (name, p)
    assert {n: p["cap_eff"] for n, p in paths.items()} == {
        **{n: DEFAULT_CAPS for n in PATHS}, "podman": PODMAN_CAPS}
    assert {n: p["parent"]["name"] for n, p in paths.items()} == {
        "docker": "containerd-shim-runc-v2", "containerd": "containerd-shim-runc-v2",
        "runc": "ocix", "crun": "ocix", "cri": "containerd-shim-runc-v2", "podman": "conmon"}
    assert paths["docker"]["chain"][0].startswith("docker API 1.")
    assert paths["docker"]["chain"][1].startswith("dockerd 20.10")
    assert [c.split()[0] for c in paths["podman"]["chain"]] == ["podman", "conmon", "runc"]
    assert "docker POST /containers/create" in paths["docker"]["calls"]
    assert "containerd.tasks.Create" in paths["containerd"]["calls"]
    assert "cri.runtime.RunPodSandbox" in paths["cri"]["calls"]
    assert {"runc run", "runc state", "runc delete"} <= set(paths["runc"]["calls"])
    assert "podman create" in paths["podman"]["calls"]

    diffs = {d["row"]: d for d in doc["differences"]}
    caps = diffs["capabilities"]
    assert caps["odd"] == ["podman"]
    assert caps["detail"] == "podman lacks CAP_AUDIT_WRITE, CAP_MKNOD, CAP_NET_RAW (against docker)"
    assert "NET_RAW, MKNOD and AUDIT_WRITE" in caps["why"]
    assert diffs["namespaces.net"]["odd"] == ["cri"]
    assert all(d["why"] for d in doc["differences"]), doc["differences"]


def test_cap_drop_all_gives_capeff_zero_everywhere(env: dict[str, str], nothing_left: None) -> None:
    r, doc = compare(env, "--cap-drop", "ALL", "busybox", "--", "true")
    succeeded(r, doc)
    paths = by_path(doc)
    assert {n: (p["cap_eff"], p["capabilities"], p["exit_code"]) for n, p in paths.items()} == \
        {n: ("0000000000000000", [], 0) for n in PATHS}
    assert "capabilities" not in {d["row"] for d in doc["differences"]}


def test_namespace_inodes_are_the_containers_own(env: dict[str, str], nothing_left: None) -> None:
    types = ["cgroup", "ipc", "mnt", "net", "pid", "uts"]
    script = "for t in " + " ".join(types) + "; do readlink /proc/self/ns/$t; done"
    r, doc = compare(env, "busybox", "--", "sh", "-c", script)
    succeeded(r, doc)
    host = {t: os.readlink(f"/proc/self/ns/{t}") for t in types}  # pid 1's may be unreadable
    for name, p in by_path(doc).items():
        seen = p["stdout"].split()
        assert seen == [f"{t}:[{p['namespaces'][t]['inode']}]" for t in types], (name, seen)
        for t, link in zip(types, seen, strict=True):
            assert p["namespaces"][t]["isolated"] == (link != host[t]), (name, t)
    assert by_path(doc)["cri"]["namespaces"]["net"]["isolated"] is False  # a host-network pod


def test_limits_env_and_exit_code_reach_every_path(env: dict[str, str], nothing_left: None) -> None:
    r, doc = compare(env, "--memory", "64m", "--pids-limit", "50", "-e", "GREETING=hi",
                     "busybox", "--", "sh", "-c", 'echo "$GREETING"; exit 3')
    succeeded(r, doc)
    paths = by_path(doc)
    assert {n: (p["exit_code"], p["stdout"], p["cgroup"]["memory_limit"])
            for n, p in paths.items()} == {n: (3, "hi\n", 64 << 20) for n in PATHS}
    assert {n: p["cgroup"]["pids_limit"] for n, p in paths.items()} == {
        **{n: 50 for n in PATHS}, "cri": None}
    pids = {d["row"]: d for d in doc["differences"]}["cgroup.pids_limit"]
    assert pids["odd"] == ["cri"] and "no per-container pids limit" in pids["why"]


def test_a_missing_or_broken_daemon_fails_alone(env: dict[str, str], full_lab: LabState,
                                                nothing_left: None) -> None:
    r, doc = compare({**env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
                     "--path", "docker", "--path", "runc", "busybox", "--", "true")
    succeeded(r, doc)
    docker, runc = doc["paths"]
    assert (docker["available"], docker["skipped_reason"]) == (
        False, "no Docker socket at /nonexistent/docker.sock "
               "(start the lab with `ocix lab up --with-docker`)")
    assert (runc["exit_code"], runc["error"]) == (0, None)
    # A socket that answers, but not as dockerd: the docker path fails, the others run.
    r, doc = compare({**env, "DOCKER_HOST": f"unix://{full_lab.containerd_socket}"},
                     "--path", "docker", "--path", "crun", "busybox", "--", "true")
    assert r.returncode == 1, r.stderr
    docker, crun = doc["paths"]
    assert docker["available"] is True and docker["error"], docker
    assert (crun["exit_code"], crun["error"]) == (0, None)


def test_each_path_is_bounded_in_time(env: dict[str, str], nothing_left: None) -> None:
    start = time.monotonic()
    r, doc = compare(env, "--timeout", "3", "busybox", "--", "sleep", "60")
    assert r.returncode == 1 and time.monotonic() - start < 90, r.stderr
    assert [p["path"] for p in doc["paths"]] == PATHS
    for p in doc["paths"]:
        assert p["error"].startswith("timed out after 3 s"), p
        assert "could not remove" not in p["error"], p


@pytest.mark.parametrize(("marker", "sig"), [
    ("docker POST /containers/", signal.SIGINT), ("containerd.tasks.Start", signal.SIGINT),
    ("exec runc run", signal.SIGINT), ("exec crun run", signal.SIGTERM),
    ("cri.runtime.StartContainer", signal.SIGINT), ("exec podman start", signal.SIGINT)])
def test_ctrl_c_leaves_nothing_behind(env: dict[str, str], marker: str, sig: signal.Signals,
                                      nothing_left: None) -> None:
    """SIGINT (and SIGTERM, from kill or timeout) while a path runs: every path cleans up."""
    p = subprocess.Popen([sys.executable, "-m", "ocix", "--trace", "compare", "busybox", "--",
                          "sleep", "2"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(marker in s for s in seen):
        if select.select([p.stderr], [], [], 1)[0]:
            line = p.stderr.readline()
            if not line:
                break
            seen.append(line)
    assert any(marker in s for s in seen), seen[-5:]
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    assert err.splitlines()[-1] == "Interrupted."


def test_an_image_without_a_shell_fails_every_path_alone(env: dict[str, str], full_lab: LabState,
                                                         nothing_left: None) -> None:
    r, doc = compare(env, f"{full_lab.registry}/library/pause:3.6")  # catatonit only
    assert r.returncode == 1
    for p in doc["paths"]:
        assert p["error"].startswith("the image has no /bin/sh, which compare runs to hold the "
                                     "container while it reads /proc ("), p
