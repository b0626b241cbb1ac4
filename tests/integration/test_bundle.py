"""`ocix bundle`: runc and crun run the bundle with the same command, env and user as `ocix run`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli

SCRIPT = "id; pwd; echo FOO=$FOO; echo PATH=$PATH; grep CapEff /proc/self/status"
FLAGS = ["-u", "nobody", "-w", "/tmp", "-e", "FOO=bar"]

pytestmark = pytest.mark.integration


def _mounts_mentioning(text: str, lab_dir: str) -> list[str]:
    """This lab's mounts that mention `text` (another test session has its own lab)."""
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line and lab_dir in line]


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_runtimes_run_the_bundle_like_ocix_run(lab_env: dict[str, str], ns: str, tmp_path: Path,
                                               runtime: str) -> None:
    bundle = tmp_path / "b"
    cid = f"ocix-test-bundle-{runtime}-{os.getpid()}"
    r = run_cli(["-n", ns, "bundle", "--name", cid, *FLAGS, "busybox", str(bundle), "sh", "-c",
                 SCRIPT], env=lab_env)
    assert r.exit_code == 0, r.stderr
    first, intro, runc_line, crun_line = r.stdout.splitlines()
    assert first.startswith(f"{bundle}: config.json and rootfs/ of docker.io/library/busybox")
    # The lines it prints are the ones that work here: crun through the wrapper on a hybrid host.
    from ocix.runtimes import CRUN_WRAPPER, cgroup_hybrid_with_v2_controllers

    crun = CRUN_WRAPPER if cgroup_hybrid_with_v2_controllers() else "crun"
    assert (intro, runc_line, crun_line) == ("run it on this host with:",
                                             f"  runc run -b {bundle} {cid}",
                                             f"  {crun} run -b {bundle} {cid}")
    config = json.loads((bundle / "config.json").read_text())
    assert config["root"]["path"] == "rootfs"
    assert config["linux"]["cgroupsPath"] == f"/ocix-bundle/{cid}"
    assert (bundle / "rootfs" / "bin" / "busybox").exists()
    assert (bundle / "rootfs" / "etc" / "passwd").exists()
    assert _mounts_mentioning("ocix-rootfs-", lab_env["OCIX_LAB_DIR"]) == []  # the View mount is gone

    expected = run_cli(["-n", ns, "run", "--rm", *FLAGS, "busybox", "sh", "-c", SCRIPT],
                       env=lab_env)
    assert expected.exit_code == 0
    line = runc_line if runtime == "runc" else crun_line
    got = subprocess.run(shlex.split(line),
                         capture_output=True, text=True, timeout=60, check=False,
                         stdin=subprocess.DEVNULL)
    assert got.returncode == 0, got.stderr
    assert got.stdout == expected.stdout
    assert "uid=65534(nobody) gid=65534(nobody)" in got.stdout
    assert "FOO=bar\n" in got.stdout and "/tmp\n" in got.stdout


def test_bundle_spec_equals_the_run_spec_but_for_cgroups(lab_env: dict[str, str], ns: str,
                                                         tmp_path: Path) -> None:
    r = run_cli(["-n", ns, "bundle", "--name", "same", "busybox", str(tmp_path / "b")],
                env=lab_env)
    assert r.exit_code == 0, r.stderr
    s = run_cli(["-n", ns, "spec", "--name", "same", "busybox"], env=lab_env)
    spec = json.loads(s.stdout)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    spec["linux"]["cgroupsPath"] = config["linux"]["cgroupsPath"]
    assert config == spec


def test_bundle_refuses_a_used_directory_and_leaves_no_mount(lab_env: dict[str, str], ns: str,
                                                             tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "keep").write_text("x")
    r = run_cli(["-n", ns, "bundle", "--force", "busybox", str(tmp_path)], env=lab_env)
    assert r.exit_code == 1
    assert r.stderr == f"Error: {tmp_path}/rootfs exists and is not empty: choose a new directory\n"
    assert (tmp_path / "rootfs" / "keep").read_text() == "x"
    assert _mounts_mentioning("ocix-rootfs-", lab_env["OCIX_LAB_DIR"]) == []
