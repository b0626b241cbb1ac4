"""`ocix diff --container` for containers of the lab's dockerd, `ctr run` and `ocix run`, each
after the same shell command, checked against `docker diff` of the docker container."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ocix.lab.state import LabState
from tests.helpers import ctr, run_cli, wait_for
from tests.integration.flatten import layer_blobs, tar_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SCRIPT = "echo x > /new; rm /bin/ls; echo y >> /etc/passwd"
ASKED = {("A", "/new"), ("D", "/bin/ls"), ("C", "/etc/passwd")}
BUSYBOX = "docker.io/library/busybox:latest"


def docker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def ocix_changes(env: dict[str, str], name: str) -> list[tuple[str, str]]:
    r = run_cli(["diff", "--container", name, "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    return [(c["change"], c["path"]) for c in json.loads(r.stdout)["changes"]]


@pytest.fixture
def docker_truth(docker_lab: LabState, ns_env: dict[str, str]) -> set[tuple[str, str]]:
    """What `docker diff` lists for SCRIPT in a busybox container, checked against ocix."""
    env = {**os.environ, "DOCKER_HOST": f"unix://{docker_lab.docker_socket}"}
    name = f"diff-{os.urandom(4).hex()}"
    p = docker(env, "run", "--name", name, "--network", "none", "busybox", "sh", "-c", SCRIPT)
    assert p.returncode == 0, p.stderr
    try:
        p = docker(env, "diff", name)
        assert p.returncode == 0, p.stderr
        truth = {(x.split(" ", 1)[0], x.split(" ", 1)[1]) for x in p.stdout.splitlines()}
        # docker lists the asked-for three plus directories that hold them, nothing else.
        assert truth >= ASKED
        assert {c for c, _ in truth - ASKED} == {"C"}
        assert all(any(p.startswith(d + "/") for _, p in ASKED) for _, d in truth - ASKED)
        got = ocix_changes({**ns_env, "DOCKER_HOST": env["DOCKER_HOST"]}, name)
        assert set(got) == truth and len(got) == len(truth)
        assert got == sorted(got, key=lambda c: c[1].split("/"))
        r = run_cli(["diff", "--container", name], env={**ns_env, "DOCKER_HOST": env["DOCKER_HOST"]})
        assert r.stdout.splitlines() == [f"{c} {p}" for c, p in got]
    finally:
        docker(env, "rm", "-f", name)
    return truth


def runtime_dirs(lab: LabState, namespace: str, name: str) -> set[tuple[str, str]]:
    """Mount points the runtime had to create at the top of the rootfs: the spec's mount
    destinations that the image's layers (read with ctr and tar) do not have."""
    p = ctr(lab, namespace, "containers", "info", name)
    assert p.returncode == 0, p.stderr
    spec = json.loads(p.stdout)["Spec"]
    have = set()
    for blob in layer_blobs(lab, namespace, BUSYBOX):
        names = subprocess.run(["tar", "-tf", "-"], input=tar_of(blob), capture_output=True,
                               check=True, timeout=60).stdout.decode().splitlines()
        have |= {"/" + n.removeprefix("./").strip("/").split("/")[0] for n in names}
    tops = {m["destination"] for m in spec.get("mounts") or [] if m["destination"].count("/") == 1}
    return {("A", d) for d in tops - have}


def test_ctr_and_ocix_containers_like_docker(lab: LabState, docker_truth: set[tuple[str, str]],
                                             ns: str, ns_env: dict[str, str]) -> None:
    p = ctr(lab, ns, "run", BUSYBOX, "c-ctr", "sh", "-c", SCRIPT, timeout=120)
    assert p.returncode == 0, p.stderr
    extra = runtime_dirs(lab, ns, "c-ctr")
    assert extra == {("A", "/run")}  # ctr's default spec mounts a tmpfs on /run
    assert set(ocix_changes(ns_env, "c-ctr")) == docker_truth | extra
    etc = [c for c, p in docker_truth | extra if p == "/etc" or p.startswith("/etc/")]
    r = run_cli(["diff", "--container", "c-ctr", "--summary", "--path", "/etc"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, f"c-ctr (containerd): {etc.count('A')} added, "
                                          f"{etc.count('C')} changed, {etc.count('D')} deleted\n")

    r = run_cli(["run", "--name", "c-ocix", "busybox", "sh", "-c", SCRIPT], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert set(ocix_changes(ns_env, "c-ocix")) == docker_truth | runtime_dirs(lab, ns, "c-ocix")


def test_unknown_container_is_one_line(ns_env: dict[str, str]) -> None:
    env = {**ns_env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    r = run_cli(["diff", "--container", "nope"], env=env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == (f"Error: no container 'nope' in namespace "
                                        f"'{ns_env['CONTAINERD_NAMESPACE']}'")
    r = run_cli(["diff", "--container", "nope", "busybox"], env=env)
    assert r.exit_code == 2 and "give either two images or --container NAME, not both" in r.stderr
    r = run_cli(["diff", "busybox"], env=env)
    assert r.exit_code == 2 and "give two images, A and B (or --container NAME)" in r.stderr


def test_a_running_container(ns: str, ns_env: dict[str, str]) -> None:
    r = run_cli(["run", "-d", "--name", "c-live", "busybox", "sh", "-c",
                 "mkdir -p /srv/a; echo z > /srv/a/z; rm -r /home; sleep 300"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    try:
        got = wait_for("the container's writes", lambda: (
            set(c) if ("D", "/home") in (c := ocix_changes(ns_env, "c-live")) else None))
        assert {("A", "/srv"), ("A", "/srv/a"), ("A", "/srv/a/z"), ("D", "/home")} <= got
        assert all(p in ("/run", "/srv", "/srv/a", "/srv/a/z", "/home") for _, p in got), got
    finally:
        assert run_cli(["tasks", "kill", "--signal", "SIGKILL", "c-live"],
                       env=ns_env).exit_code == 0
