"""ocix compare's pure parts: the differences and their reasons, argv, the hold shell, CRI logs."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from ocix.errors import OcixError, UsageError
from ocix.jobs.compare import evidence
from ocix.jobs.compare.context import Cleanups, Deadline, PathTimeoutError
from ocix.jobs.compare.cri import read_cri_log
from ocix.jobs.compare.differences import ROW_WHY, WHY, Difference, differences, generalise
from ocix.jobs.compare.model import (
    Cgroup,
    CompareOptions,
    Namespace,
    Parent,
    PathResult,
    final_argv,
    hold_argv,
)
from ocix.jobs.compare.runner import check_options, explain
from ocix.kernel.caps import decode_caps

DOCKER_CAPS = "00000000a80425fb"
PODMAN_CAPS = "00000000800405fb"
SHIM = "containerd-shim-runc-v2"


def fake(path: str, *, caps: str = DOCKER_CAPS, parent: str = SHIM, net_isolated: bool = True,
         cgroup: str = "", pids: int | None = None, memory: int | None = None,
         nnp: bool = False, seccomp: str = "filter", rootfs: str = "",
         stdout: str = "hello\n", pid: int = 100) -> PathResult:
    """A path that ran, with per-container values (pid, inodes, ids) different on every call."""
    return PathResult(
        path=path, chain=[path], parent=Parent(pid - 1, parent, parent), calls=["x"],
        timings={"run": 0.1}, pid=pid, exit_code=0, stdout=stdout,
        namespaces={"net": Namespace(4026532000 + pid, net_isolated),
                    "pid": Namespace(4026533000 + pid, True),
                    "user": Namespace(4026531837, False)},
        cgroup=Cgroup(cgroup or f"/mgr/{pid:064x}", memory, pids, None, 100000),
        cap_eff=caps, capabilities=decode_caps(caps), no_new_privs=nnp, seccomp=seccomp,
        rootfs=rootfs or f"/var/lib/store/{pid:064x}/merged")


def by_row(results: list[PathResult]) -> dict[str, Difference]:
    return {d.row: d for d in differences(results)}


def test_same_configuration_has_no_differences_even_with_other_ids() -> None:
    rows = by_row([fake("docker", cgroup="/docker/" + "a" * 64, pid=10),
                   fake("docker", cgroup="/docker/" + "b" * 64, pid=20)])
    assert rows == {}


def test_podman_capabilities_are_named_with_the_reason() -> None:
    results = [fake("docker", pid=10), fake("containerd", pid=20), fake("cri", pid=30),
               fake("podman", caps=PODMAN_CAPS, pid=40)]
    diffs = differences(results)
    caps = next(d for d in diffs if d.row == "capabilities")
    assert caps.values == {"docker": DOCKER_CAPS, "containerd": DOCKER_CAPS, "cri": DOCKER_CAPS,
                           "podman": PODMAN_CAPS}
    assert caps.odd == ["podman"]
    assert caps.detail == "podman lacks CAP_AUDIT_WRITE, CAP_MKNOD, CAP_NET_RAW (against docker)"
    assert caps.why == WHY[("capabilities", "podman")]
    assert "NET_RAW, MKNOD and AUDIT_WRITE" in caps.why
    # stdout is equal, so the only rows are the capability mask (and nothing per-container).
    assert [d.row for d in diffs] == ["capabilities"]


def test_added_capability_is_named_as_added() -> None:
    extra = f"{int(DOCKER_CAPS, 16) | 1 << 12:016x}"  # + CAP_NET_ADMIN
    (d,) = differences([fake("docker", pid=1), fake("containerd", pid=2),
                        fake("runc", caps=extra, pid=3)])
    assert d.detail == "runc adds CAP_NET_ADMIN (against docker)"


def test_host_network_pod_and_parents_and_cgroup_parents() -> None:
    rows = by_row([fake("docker", pid=1, cgroup="/docker/" + "f" * 64),
                   fake("containerd", pid=2, cgroup="/default/ocix-c-x"),
                   fake("runc", parent="ocix", pid=3, cgroup="/ocix-bundle/ocix-compare-ab12-runc"),
                   fake("cri", net_isolated=False, pid=4)])
    net = rows["namespaces.net"]
    assert net.values == {"docker": "isolated", "containerd": "isolated", "runc": "isolated",
                          "cri": "shared"}
    assert "host networking" in net.why
    parent = rows["parent"]
    assert parent.odd == ["runc"] and parent.why == ROW_WHY["parent"]
    assert "subreaper" in parent.why
    cg = rows["cgroup.parent"]
    assert cg.values == {"docker": "/docker", "containerd": "/default",
                         "runc": "/ocix-bundle", "cri": "/mgr"}
    assert "pid" not in " ".join(rows)  # pids and inodes are never a difference


def test_limits_name_the_bundle_that_asked_for_none_and_podmans_default() -> None:
    rows = by_row([fake("docker", memory=64 << 20, pid=1), fake("podman", memory=64 << 20,
                                                                  pids=2048, pid=2),
                   fake("runc", pid=3), fake("containerd", memory=64 << 20, pid=4)])
    mem = rows["cgroup.memory_limit"]
    assert mem.odd == ["runc"]
    assert mem.why == "the bundle's config.json asked for no memory limit, so the runtime set none."
    pids = rows["cgroup.pids_limit"]
    assert pids.odd == ["podman"] and "2048" in pids.why


def test_seccomp_and_no_new_privs_split_three_three() -> None:
    rows = by_row([fake("docker", pid=1), fake("containerd", nnp=True, seccomp="disabled", pid=2),
                   fake("runc", nnp=True, seccomp="disabled", pid=3),
                   fake("podman", caps=DOCKER_CAPS, pid=4)])
    # 2 against 2: the tie goes to the value of the earliest path (docker).
    assert rows["seccomp"].odd == ["containerd", "runc"]
    assert rows["seccomp"].why == ROW_WHY["seccomp"]
    assert rows["no_new_privs"].why.startswith("containerd's default spec (ctr run")


def test_a_row_with_no_sentence_still_gets_a_reason() -> None:
    a, b = fake("docker", pid=1), fake("runc", pid=2)
    b.namespaces["ipc"] = Namespace(5, False)
    a.namespaces["ipc"] = Namespace(6, True)
    assert by_row([a, b])["namespaces.ipc"].why == "the paths build this differently."


def test_skipped_and_failed_paths_are_left_out() -> None:
    skipped = PathResult("podman", available=False, skipped_reason="no podman")
    failed = fake("crun", caps=PODMAN_CAPS)
    failed.error = "crun run failed"
    assert differences([fake("docker"), skipped, failed]) == []
    assert differences([fake("docker", pid=1), skipped, fake("runc", caps=PODMAN_CAPS, pid=2)])


def test_stdout_and_exit_code_rows_have_the_generic_reason() -> None:
    a, b = fake("docker", pid=1), fake("podman", stdout="other\n", pid=2)
    b.exit_code = 3
    rows = by_row([a, b])
    assert rows["exit_code"].values == {"docker": "0", "podman": "3"}
    assert rows["stdout"].why


def test_generalise_replaces_ids() -> None:
    assert generalise("/docker/" + "0123456789ab" * 5) == "/docker/<id>"
    assert generalise("/tmp/ocix-compare-1a2b3c4d-runc/bundle") == "/tmp/<id>/bundle"
    assert generalise("/kubepods/pod1b4e28ba-2fa1-11d2-883f-0016d3cca427/x") == "/kubepods/pod<id>/x"
    assert generalise("/default") == "/default"


def test_every_why_sentence_is_one_sentence() -> None:
    for key, text in [*WHY.items(), *ROW_WHY.items()]:
        assert text.endswith(".") and (text[0].isalpha() or text[0] == "`"), key


def test_json_keys_per_path() -> None:
    assert [f.name for f in dataclasses.fields(PathResult)] == [
        "path", "available", "skipped_reason", "chain", "parent", "calls", "timings", "pid",
        "exit_code", "stdout", "namespaces", "user_namespace", "uid_map", "cgroup", "cap_eff",
        "capabilities",
        "no_new_privs", "seccomp", "rootfs", "error", "rlimits", "mounts"]


# -- argv ----------------------------------------------------------------------------------------
def test_final_argv_keeps_the_entrypoint_and_replaces_cmd() -> None:
    cfg = {"config": {"Entrypoint": ["/init"], "Cmd": ["serve"]}}
    assert final_argv(cfg, []) == ["/init", "serve"]
    assert final_argv(cfg, ["id", "-u"]) == ["/init", "id", "-u"]
    assert final_argv({"Config": {"Cmd": ["sh"]}}, []) == ["sh"]  # docker/podman inspect shape
    with pytest.raises(UsageError, match="no Entrypoint or Cmd"):
        final_argv({"config": {}}, [])


def test_check_options_messages() -> None:
    with pytest.raises(UsageError, match=r"^unknown path 'lxc': choose from docker, containerd, "
                                         r"runc, crun, cri, podman$"):
        check_options(CompareOptions("busybox", paths=["lxc"]))
    with pytest.raises(UsageError, match=r"^--env 'X' is not KEY=VALUE$"):
        check_options(CompareOptions("busybox", env=["X"]))
    with pytest.raises(UsageError, match="at least 3"):
        check_options(CompareOptions("busybox", pids_limit=2))
    with pytest.raises(OcixError, match="unknown capability 'NOPE'"):
        check_options(CompareOptions("busybox", cap_drop=["NOPE"]))
    assert check_options(CompareOptions("busybox", paths=["podman", "docker"],
                                        cap_drop=["ALL"])) == ["docker", "podman"]


# -- the hold shell, run on the host (no container needed) ----------------------------------------
def test_hold_shell_waits_then_execs_the_command_in_place(tmp_path: Path) -> None:
    name = "ocix-compare-test-hold"
    argv = hold_argv(name, ["sh", "-c", 'echo "$0 ran as $$"; exit 7'])
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        deadline = Deadline(10)
        evidence.wait_held(p.pid, name, deadline)
        assert evidence.is_held(p.pid, name)
        assert evidence.find_held(name, deadline) == p.pid
        parent = evidence.parent_of(p.pid)
        assert parent is not None and parent.name == "ocix"  # we are its parent
        evidence.release(p.pid, name, deadline)
        out, _ = p.communicate(timeout=10)
    finally:
        p.kill()
    assert p.returncode == 7
    assert out == f"sh ran as {p.pid}\n"  # the same process: exec, not a child


def test_wait_held_reports_an_init_that_exited() -> None:
    p = subprocess.Popen(["true"])
    p.wait()
    with pytest.raises(OcixError, match=rf"pid {p.pid}\) exited before ocix could read it"):
        evidence.wait_held(p.pid, "x", Deadline(5))


def test_deadline_times_out_with_what_it_waited_for() -> None:
    d = Deadline(0.01)
    with pytest.raises(PathTimeoutError, match=r"^timed out after 0.01 s waiting for x$"):
        while True:
            d.sleep(0.005, "waiting for x")


def test_cleanups_run_newest_first_and_report_failures() -> None:
    done: list[str] = []
    c = Cleanups()
    c.add("a", lambda: done.append("a"))

    def fail() -> None:
        raise OcixError("busy")

    c.add("b", fail)
    c.add("c", lambda: done.append("c"))
    assert c.run() == ["b: busy"]
    assert done == ["c", "a"] and len(c) == 0


def test_root_mount_dir_from_mountinfo(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "mountinfo").write_text(
        "600 500 0:55 / / rw,relatime - overlay overlay rw,lowerdir=/l/1/fs,"
        "upperdir=/store/snapshots/9/fs,workdir=/store/snapshots/9/work\n"
        "601 600 0:56 / /proc rw - proc proc rw\n")
    assert evidence.root_mount_dir(7, tmp_path) == "/store/snapshots/9"
    (tmp_path / "7" / "mountinfo").write_text("600 500 253:1 /tmp/b/rootfs / rw - ext4 /dev/vda rw\n")
    assert evidence.root_mount_dir(7, tmp_path) == "/tmp/b/rootfs"


def test_cri_log_keeps_one_stream_and_joins_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_text("2026-01-01T00:00:00.1Z stdout P hel\n"
                   "2026-01-01T00:00:00.2Z stderr F oops\n"
                   "2026-01-01T00:00:00.3Z stdout F lo\n"
                   "2026-01-01T00:00:00.4Z stdout F \n")
    assert read_cri_log(log) == "hello\n\n"
    assert read_cri_log(log, "stderr") == "oops\n"
    assert read_cri_log(tmp_path / "missing.log") == ""


def test_errors_are_explained() -> None:
    crun = "crun run failed (exit 1): executable file `/bin/sh` not found in $PATH"
    assert explain(crun, False, 120) == (
        "the image has no /bin/sh, which compare runs to hold the container while it reads "
        f"/proc ({crun})")
    assert explain("Read timed out.", True, 3) == "timed out after 3 s (Read timed out.)"
    assert explain("docker: 500 boom", False, 3) == "docker: 500 boom"


# -- the command, on fake results ----------------------------------------------------------------
def fake_compare(monkeypatch: pytest.MonkeyPatch, results: list[PathResult]) -> list[CompareOptions]:
    from ocix.jobs.compare import runner as runmod
    from ocix.jobs.compare.model import CompareResult

    seen: list[CompareOptions] = []

    def compare(opts: CompareOptions, endpoints: object, on_path: object = None) -> CompareResult:
        seen.append(opts)
        return CompareResult(opts.image, opts.command, results, differences(results))

    monkeypatch.setattr(runmod, "compare", compare)
    return seen


def test_cli_table_and_differences(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import run_cli

    seen = fake_compare(monkeypatch, [fake("docker", pid=1), fake("podman", caps=PODMAN_CAPS,
                                                                   parent="conmon", pid=2),
                                      PathResult("cri", available=False,
                                                 skipped_reason="no containerd socket")])
    r = run_cli(["compare", "--wide", "--cap-drop", "net_raw", "-m", "64m", "busybox", "--",
                 "sh", "-c", "true"], env={"COLUMNS": "1000"})
    assert r.exit_code == 0, r.output
    assert (seen[0].command, seen[0].cap_drop, seen[0].memory) == (["sh", "-c", "true"],
                                                                    ["net_raw"], 64 << 20)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["docker", "podman", "cri"]
    status = next(ln for ln in lines if ln.startswith("status"))
    assert status.split()[:5] == ["status", "exit", "0", "exit", "0"]
    assert "skipped: no containerd socket" in status
    diff = lines[lines.index("Differences (only the rows where the paths disagree):"):]
    assert diff[1:4] == [
        f"  parent  docker: {SHIM}; podman: conmon",
        f"    why: {ROW_WHY['parent']}",
        f"  capabilities  docker: {DOCKER_CAPS}; podman: {PODMAN_CAPS}",
    ]


def test_cli_json_and_exit_code_when_a_path_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tests.helpers import run_cli

    bad = fake("runc", pid=2)
    bad.error = "runc run failed (exit 1): boom"
    fake_compare(monkeypatch, [fake("docker", pid=1), bad])
    r = run_cli(["compare", "--json", "busybox"])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert [p["path"] for p in doc["paths"]] == ["docker", "runc"]
    assert doc["paths"][1]["error"] == "runc run failed (exit 1): boom"
    assert set(doc) == {"paths", "differences"}


def test_cli_refuses_an_unknown_path() -> None:
    from tests.helpers import run_cli

    r = run_cli(["compare", "--path", "lxc", "busybox"])
    assert r.exit_code == 2
    assert "'lxc' is not one of 'docker', 'containerd', 'runc', 'crun', 'cri', 'podman'" in r.stderr


def test_rlimits_and_mount_points_come_from_proc(tmp_path: Path) -> None:
    from ocix.jobs.compare.evidence import limits_of, mount_points

    pid = tmp_path / "42"
    pid.mkdir()
    (pid / "limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max core file size        0                    unlimited            bytes     \n"
        "Max processes             1024                 1024                 processes \n"
        "Max open files            20000                20000                files     \n")
    (pid / "mountinfo").write_text(
        "600 500 0:50 / / rw,relatime - overlay overlay rw,upperdir=/x/fs\n"
        "601 600 0:51 / /proc rw - proc proc rw\n"
        "602 600 0:52 /etc/hosts /etc/hosts rw - ext4 /dev/vda rw\n")
    assert limits_of(42, tmp_path) == {"nofile": "20000/20000", "nproc": "1024/1024",
                                       "core": "0/unlimited"}
    assert mount_points(42, tmp_path) == ["/", "/proc", "/etc/hosts"]
    assert limits_of(43, tmp_path) == {} and mount_points(43, tmp_path) == []


def test_rlimit_and_mount_rows_name_the_odd_paths() -> None:
    a, b, c = fake("docker", pid=1), fake("containerd", pid=2), fake("runc", pid=3)
    a.rlimits, b.rlimits, c.rlimits = ({"nofile": "20000/20000"}, {"nofile": "1024/1024"},
                                       {"nofile": "1024/1024"})
    a.mounts, b.mounts, c.mounts = ["/", "/etc/hosts"], ["/", "/run"], ["/run", "/"]
    rows = {d.row: d for d in differences([a, b, c])}
    assert rows["rlimits.nofile"].odd == ["docker"]
    assert "20000 on this VM" in rows["rlimits.nofile"].why
    assert rows["mounts"].odd == ["docker"]
    assert rows["mounts"].values["runc"] == "/ /run"  # a set: the kernel's order does not count
    assert rows["mounts"].why.startswith("docker, podman and the CRI bind-mount /etc/hostname")


def test_cli_fits_80_columns_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six paths at COLUMNS=80: one block of properties per chunk of paths, no line wider
    than 80 (no verbatim command line in this output), every path named once; --wide gives
    the whole matrix."""
    from tests.helpers import run_cli

    names = ["docker", "containerd", "runc", "crun", "cri", "podman"]
    fake_compare(monkeypatch, [fake(n, pid=i + 1) for i, n in enumerate(names)])
    r = run_cli(["compare", "busybox", "--", "true"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80, max(lines, key=len)
    chunks = [ln for ln in lines if ln.startswith("paths ")]
    assert chunks == ["paths 1-2 of 6:", "paths 3-4 of 6:", "paths 5-6 of 6:"]
    headers = [ln.split() for ln in lines if ln.split()[:1] and ln.split()[0] in names]
    assert [w for h in headers for w in h] == names
    wide = run_cli(["compare", "--wide", "busybox", "--", "true"], env={"COLUMNS": "80"})
    assert wide.stdout.splitlines()[0].split() == names


def test_a_reused_namespace_inode_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two paths ran one after another and the second got the first's freed net inode."""
    from ocix.cli.containers.compare import reused_inodes
    from tests.helpers import run_cli

    a, b, c = fake("docker", pid=1), fake("containerd", pid=1), fake("runc", pid=2)
    assert reused_inodes([a, c]) == []
    note = reused_inodes([a, b, c])
    assert len(note) == 2 and "same pid inode 4026533001" in note[1]
    assert note[:1] == ["note: docker and containerd show the same net inode 4026532001, yet each "
                    "had a net namespace of its own: the paths ran one after another, and once a "
                    "container exits the kernel reuses its namespace's inode number for the next "
                    "new one."]
    fake_compare(monkeypatch, [a, b, c])
    r = run_cli(["compare", "busybox", "--", "true"], env={"COLUMNS": "80"})
    assert "note: docker and containerd show the same net inode 4026532001" in \
        " ".join(r.stdout.split())
