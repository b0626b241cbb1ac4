"""The real lab end to end: the daemons, the first commands, ctr interop, a clean `down`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from tests.helpers import ctr as run_ctr
from tests.helpers import run_cli, wait_for

pytestmark = pytest.mark.integration


def ctr(lab: LabState, *args: str, ns: str = "default", timeout: float = 120) -> str:
    """`ctr` in `ns` that must succeed; its stdout."""
    out = run_ctr(lab, ns, *args, timeout=timeout)
    assert out.returncode == 0, f"ctr {' '.join(args)} failed: {out.stderr}"
    return out.stdout


def test_version_matches_the_daemon(lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["version", "--json"], env=lab_env)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    installed = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout.split()
    assert data["server"]["version"] == installed[2]
    assert data["server"]["revision"] == installed[3]
    assert data["server"]["address"] == lab.containerd_socket
    assert data["client"]["version"] == "0.1.0"


def test_plugins_are_the_same_as_ctr_sees(lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["plugins", "--json"], env=lab_env)
    assert r.exit_code == 0
    ours = {(p["type"], p["id"], p["status"]) for p in json.loads(r.stdout)}
    theirs = set()
    for line in ctr(lab, "plugins", "ls").splitlines()[1:]:
        cols = line.split()
        theirs.add((cols[0], cols[1], cols[-1]))
    assert ours == theirs
    assert ("io.containerd.grpc.v1", "cri", "ok") in ours
    table = run_cli(["plugins", "type==io.containerd.snapshotter.v1"], env=lab_env).stdout
    assert "overlayfs" in table and "io.containerd.grpc.v1" not in table


def test_namespaces_create_list_remove_with_counts(lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["namespaces", "create", "ocix-ns-test", "--label", "owner=tests"], env=lab_env)
    assert (r.exit_code, r.stdout) == (0, "ocix-ns-test\n")
    listed = {n["name"]: n for n in json.loads(run_cli(["namespaces", "ls", "--json"], env=lab_env).stdout)}
    assert listed["ocix-ns-test"] == {"name": "ocix-ns-test", "labels": {"owner": "tests"},
                                      "images": 0, "containers": 0}
    # The lab pulled the CRI sandbox image into k8s.io.
    assert listed["k8s.io"]["images"] >= 1
    assert "ocix-ns-test" in ctr(lab, "namespaces", "ls")
    again = run_cli(["namespaces", "create", "ocix-ns-test"], env=lab_env)
    assert again.exit_code == 1
    assert again.stderr == 'Error: create namespace ocix-ns-test: namespace "ocix-ns-test": already exists\n'
    assert run_cli(["namespaces", "rm", "ocix-ns-test"], env=lab_env).exit_code == 0
    assert "ocix-ns-test" not in run_cli(["namespaces", "ls", "-q"], env=lab_env).stdout


def test_pause_image_is_in_k8s_io(lab: LabState) -> None:
    assert f"{lab.registry}/library/pause:3.6" in ctr(lab, "images", "ls", "-q", ns="k8s.io")


def test_env_prints_exports(lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["lab", "env", "--dir", lab.dir])
    assert r.exit_code == 0
    lines = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
    assert lines["CONTAINERD_ADDRESS"] == lab.containerd_socket
    assert lines["OCIX_REGISTRY"] == lab.registry
    assert lines["OCIX_HOSTS_DIR"] == lab.hosts_dir
    hosts = (Path(lab.hosts_dir) / "docker.io" / "hosts.toml").read_text()
    assert f'[host."http://{lab.registry}"]' in hosts and 'capabilities = ["pull", "resolve"]' in hosts


def test_second_up_is_a_noop_that_says_so(lab: LabState) -> None:
    before = LabState.load(Path(lab.dir))
    r = run_cli(["lab", "up", "--dir", lab.dir, "-q"])
    assert r.exit_code == 0
    assert r.stdout == (f"lab already running in {lab.dir} (containerd {lab.containerd_socket}, "
                        f"registry {lab.registry})\n")
    after = LabState.load(Path(lab.dir))
    assert before and after and [p.pid for p in before.procs] == [p.pid for p in after.procs]


def test_status_json(lab: LabState) -> None:
    r = run_cli(["lab", "status", "--dir", lab.dir, "--json"])
    data = json.loads(r.stdout)
    assert data["running"] is True
    comps = {c["name"]: c for c in data["components"]}
    assert comps["containerd"]["version"].startswith("1.6")
    assert comps["registry"]["version"].startswith("2.8")
    assert all(c["running"] for c in comps.values()), comps
    # podman is daemonless: its pid is null (another test may have added it to this lab)
    assert all(c["pid"] is None if name == "podman" else c["pid"] > 0
               for name, c in comps.items()), comps


@pytest.mark.parametrize("name", ["busybox:latest", "layers:latest", "multiarch:latest", "pause:3.6"])
def test_ctr_pulls_every_seeded_image(lab: LabState, name: str) -> None:
    ref = f"{lab.registry}/library/{name}"
    ctr(lab, "images", "pull", "--plain-http", ref, ns="ctr-seeded")
    assert "complete" in ctr(lab, "images", "check", f"name=={ref}", ns="ctr-seeded")


def test_ctr_pulls_docker_io_through_the_lab_mirror(lab: LabState) -> None:
    ctr(lab, "images", "pull", "--hosts-dir", lab.hosts_dir, "docker.io/library/busybox:latest",
        ns="ctr-mirror")
    out = ctr(lab, "run", "--rm", "docker.io/library/busybox:latest", "mirror-run", "echo", "hi",
              ns="ctr-mirror")
    assert out == "hi\n"


def test_docker_pulls_busybox_through_the_mirror(docker_lab: LabState) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{docker_lab.docker_socket}"}
    info = subprocess.run(["docker", "info", "--format", "{{json .RegistryConfig.Mirrors}}"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert info.returncode == 0, info.stderr
    assert f"http://{docker_lab.registry}/" in info.stdout
    pulled = subprocess.run(["docker", "pull", "busybox"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "busybox", "echo", "via-docker"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert (out.returncode, out.stdout) == (0, "via-docker\n"), out.stderr


def _procs_mentioning(text: str) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(f"{d.name}: {cmd}")
    return found


def test_down_leaves_nothing_running_or_mounted(tmp_path_factory: pytest.TempPathFactory,
                                                lab: LabState) -> None:
    root = tmp_path_factory.mktemp("downlab")
    state = labmod.up(root, seed=False).state
    try:
        # A running task (shim, runc mounts) and an image pulled from the shared lab's registry.
        for argv in (["images", "pull", "--plain-http", f"{lab.registry}/library/busybox:latest"],
                     ["run", "-d", f"{lab.registry}/library/busybox:latest", "sleeper", "sleep",
                      "600"]):
            p = subprocess.run(["ctr", "-a", state.containerd_socket, *argv], check=False,
                               capture_output=True, text=True, timeout=120)
            assert p.returncode == 0, (argv, p.stderr)
        wait_for("the running container's rootfs mount", lambda: bool(labmod.mounts_under(root)),
                 timeout=10)
        assert _procs_mentioning(str(root))
    finally:
        stopped = labmod.down(root)
    assert stopped == ["containerd", "registry"]
    assert _procs_mentioning(str(root)) == []
    assert labmod.mounts_under(root) == []
    assert _procs_mentioning("sleep 600") == []
    assert run_cli(["lab", "status", "--dir", str(root)]).stdout == f"lab in {root}: not running\n"


def test_seed_sized_image_then_pull_it(lab: LabState, namespace: str) -> None:
    r = run_cli(["lab", "seed", "--dir", lab.dir, "--sized", "3", "-q"])
    assert r.exit_code == 0, r.stderr
    ref = f"{lab.registry}/library/blob3:latest"
    assert ref in r.stdout.splitlines()
    assert ref in (LabState.load(Path(lab.dir)) or lab).images
    pulled = run_cli(["-n", namespace, "pull", ref, "--json"],
                     env={"CONTAINERD_ADDRESS": lab.containerd_socket})
    data = json.loads(pulled.stdout)
    assert data["layers"][0]["size"] >= 3 << 20  # incompressible: gzip cannot shrink it


def test_seed_needs_a_running_lab(tmp_path: Path) -> None:
    r = run_cli(["lab", "seed", "--dir", str(tmp_path)])
    assert r.exit_code == 1
    assert r.stderr == "Error: the lab is not running\nHint: start it with `ocix lab up`\n"
