"""`ocix run`, containers and tasks against the real lab containerd, checked against ctr."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ocix.containerd import containers, snapshots, tasks
from ocix.containerd.connection import Connection
from ocix.lab.state import LabState
from tests.helpers import ctr, run_cli, wait_for

IMAGE = "docker.io/library/busybox:latest"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def leftovers(c: Connection) -> tuple[list[str], list[str], list[str]]:
    return ([x.id for x in containers.list_containers(c)],
            [s.name for s in snapshots.list_snapshots(c) if s.kind != "committed"],
            [t.container_id for t in tasks.list_tasks(c)])


def test_run_streams_stdout_and_stderr_separately_and_returns_the_exit_status(
        ns_env: dict[str, str], ns: str, nsconn: Connection) -> None:
    r = run_cli(["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"], env=ns_env)
    assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert leftovers(nsconn) == ([], [], [])


def test_cap_drop_all_leaves_no_effective_caps(ns_env: dict[str, str], ns: str) -> None:
    r = run_cli(["run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff",
             "/proc/1/status"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "CapEff:\t0000000000000000\n")


def test_default_spec_and_caps_equal_ctr_run(lab: LabState, ns_env: dict[str, str],
                                             ns: str) -> None:
    assert ctr(lab, ns, "run", "-d", IMAGE, "fromctr", "sleep", "30").returncode == 0
    r = run_cli(["run", "-d", "--name", "fromocix", "busybox", "sleep", "30"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "fromocix\n")
    state = Path(lab.dir) / "containerd" / "state" / "io.containerd.runtime.v2.task" / ns
    a = json.loads((state / "fromctr" / "config.json").read_text())
    b = json.loads((state / "fromocix" / "config.json").read_text())
    assert b["process"] == a["process"]
    a["linux"]["cgroupsPath"] = b["linux"]["cgroupsPath"]
    assert a == b
    # `ocix spec` prints exactly what run sent (containerd writes it unchanged)
    s = run_cli(["spec", "--raw", "--name", "fromctr", "busybox", "sleep", "30"], env=ns_env)
    assert s.stdout.strip() == (state / "fromctr" / "config.json").read_text().strip()
    caps = []
    for cid in ("fromctr", "fromocix"):
        x = run_cli(["tasks", "exec", cid, "grep", "CapEff", "/proc/1/status"], env=ns_env)
        caps.append(x.stdout)
    assert caps[0] == caps[1] == "CapEff:\t00000000a80425fb\n"


def stopped(c: Connection, *ids: str) -> Callable[[], bool]:
    """A check for `wait_for`: every task in `ids` has exited (status "stopped")."""
    return lambda: {t.container_id: t.status for t in tasks.list_tasks(c)
                    if t.container_id in ids} == dict.fromkeys(ids, "stopped")


def test_interop_with_ctr_lists(lab: LabState, ns_env: dict[str, str], ns: str,
                                nsconn: Connection) -> None:
    assert run_cli(["run", "-d", "--name", "o1", "busybox", "sleep", "30"], env=ns_env).exit_code == 0
    assert ctr(lab, ns, "run", "-d", IMAGE, "c1", "sleep", "30").returncode == 0
    t = ctr(lab, ns, "tasks", "ls").stdout
    assert any(line.split()[:1] == ["o1"] and line.split()[2] == "RUNNING" for line in t.splitlines())
    assert "o1" in ctr(lab, ns, "containers", "ls", "-q").stdout.split()
    r = run_cli(["containers", "ls", "--json"], env=ns_env)
    by_id = {c["id"]: c for c in json.loads(r.stdout)}
    assert by_id["c1"]["image"] == IMAGE and by_id["c1"]["runtime"] == "io.containerd.runc.v2"
    r = run_cli(["tasks", "ls", "--json"], env=ns_env)
    st = {t["container_id"]: t for t in json.loads(r.stdout)}
    assert st["c1"]["status"] == st["o1"]["status"] == "running" and st["o1"]["pid"] > 0
    # ctr can manage what ocix started, and the other way round
    assert ctr(lab, ns, "tasks", "kill", "-s", "SIGKILL", "o1").returncode == 0
    assert run_cli(["tasks", "kill", "-s", "KILL", "c1"], env=ns_env).exit_code == 0
    wait_for("o1 and c1 to stop", stopped(nsconn, "o1", "c1"), timeout=10)
    r = run_cli(["containers", "rm", "o1", "c1"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "o1\nc1\n")


def test_stdin_is_forwarded_and_eof_delivered(ns_env: dict[str, str], ns: str) -> None:
    r = run_cli(["run", "--rm", "-i", "busybox", "sh", "-c", "wc -l; echo done"], env=ns_env,
                input="a\nb\nc\n")
    assert (r.exit_code, r.stdout) == (0, "3\ndone\n")


def test_detached_with_log_file_exec_ps_kill(ns_env: dict[str, str], ns: str,
                                             nsconn: Connection, tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    r = run_cli(["run", "-d", "--name", "d1", "--log-file", str(log), "busybox", "sh",
                 "-c", "echo to-out; echo to-err >&2; exec sleep 30"], env=ns_env)
    assert (r.exit_code, r.stdout) == (0, "d1\n")
    wait_for("both lines in the log file",
             lambda: log.exists() and len(log.read_text().splitlines()) == 2, timeout=5)
    assert sorted(log.read_text().splitlines()) == ["to-err", "to-out"]
    x = run_cli(["tasks", "exec", "d1", "sh", "-c", "echo via-exec; exit 4"], env=ns_env)
    assert (x.exit_code, x.stdout) == (4, "via-exec\n")
    x = run_cli(["tasks", "exec", "-i", "d1", "cat"], env=ns_env, input="piped\n")
    assert (x.exit_code, x.stdout) == (0, "piped\n")
    ps = run_cli(["tasks", "ps", "--json", "d1"], env=ns_env)
    assert len(json.loads(ps.stdout)) == 1
    rm = run_cli(["containers", "rm", "d1"], env=ns_env)
    assert rm.exit_code == 1
    assert rm.stderr == "Error: container d1 has a running task: stop it first or use --force\n"
    k = run_cli(["tasks", "kill", "--signal", "SIGKILL", "d1"], env=ns_env)  # pid 1 ignores TERM
    assert k.exit_code == 0
    wait_for("d1 to stop", stopped(nsconn, "d1"), timeout=10)
    ls = json.loads(run_cli(["tasks", "ls", "--json"], env=ns_env).stdout)
    assert [(t["container_id"], t["status"]) for t in ls] == [("d1", "stopped")]
    assert run_cli(["tasks", "rm", "d1"], env=ns_env).exit_code == 0
    assert run_cli(["containers", "rm", "d1"], env=ns_env).exit_code == 0


def test_crun_runtime(ns_env: dict[str, str], ns: str, nsconn: Connection) -> None:
    r = run_cli(["run", "--rm", "--runtime", "crun", "--cap-drop", "ALL", "busybox", "sh",
                 "-c", "grep CapEff /proc/1/status; exit 9"], env=ns_env)
    assert (r.exit_code, r.stdout, r.stderr) == (9, "CapEff:\t0000000000000000\n", "")
    assert leftovers(nsconn) == ([], [], [])


def test_resource_flags_reach_the_cgroup(ns_env: dict[str, str], ns: str) -> None:
    r = run_cli(["run", "-d", "--name", "lim", "--memory", "64m", "--pids-limit", "20",
                 "--cpus", "0.5", "busybox", "sleep", "30"], env=ns_env)
    assert r.exit_code == 0
    from ocix.kernel.cgroups import cgroups, summarize

    pid = json.loads(run_cli(["tasks", "ls", "--json"], env=ns_env).stdout)[0]["pid"]
    s = summarize(cgroups(pid))
    assert (s.memory_limit, s.pids_limit) == (64 << 20, 20)
    assert s.cpus == 0.5


# -- faults -----------------------------------------------------------------------------------
def test_image_not_pulled(ns_env: dict[str, str], ns: str, nsconn: Connection) -> None:
    r = run_cli(["run", "--rm", "library/nothere:1.0", "true"], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr == ("Error: image docker.io/library/nothere:1.0 is not pulled: run "
                        "`ocix pull library/nothere:1.0` first\n")
    assert leftovers(nsconn) == ([], [], [])


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_command_not_found_exits_127_and_leaves_nothing(ns_env: dict[str, str], ns: str,
                                                       nsconn: Connection, runtime: str) -> None:
    r = run_cli(["run", "--rm", "--runtime", runtime, "busybox", "nosuchcmd", "x"], env=ns_env)
    assert r.exit_code == 127
    assert r.stderr == f"Error: command 'nosuchcmd' not found in image {IMAGE}\n"
    assert leftovers(nsconn) == ([], [], [])


def test_name_already_in_use(lab: LabState, ns_env: dict[str, str], ns: str,
                             nsconn: Connection) -> None:
    assert ctr(lab, ns, "containers", "create", IMAGE, "taken", "true").returncode == 0
    r = run_cli(["run", "--rm", "--name", "taken", "busybox", "true"], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr == ("Error: container name 'taken' is already in use: remove it with "
                        "`ocix containers rm taken` or choose another --name\n")
    # the failed --rm run removed nothing of the existing container
    assert leftovers(nsconn) == (["taken"], ["taken"], [])


def test_unreachable_containerd(lab_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(lab_env, CONTAINERD_ADDRESS=str(tmp_path / "gone.sock"))
    r = run_cli(["run", "--rm", "busybox", "true"], env=env)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == f"Error: containerd socket {tmp_path}/gone.sock does not exist"


# -- real processes: signals and terminals --------------------------------------------------------
def _env(ns_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **ns_env}


def test_ctrl_c_is_forwarded_to_the_task(ns_env: dict[str, str], ns: str,
                                         nsconn: Connection) -> None:
    script = "trap 'echo got-INT; exit 42' INT; echo ready; while true; do sleep 0.1; done"
    p = subprocess.Popen([sys.executable, "-m", "ocix", "run", "--rm", "busybox", "sh", "-c", script],
                         env=_env(ns_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=ROOT)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (42, b"got-INT\n", b"")
    assert leftovers(nsconn) == ([], [], [])


def test_tty_interactive_shell(ns_env: dict[str, str], ns: str, nsconn: Connection) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: ocix on a terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "ocix", "run", "--rm", "-i", "-t",
                                   "busybox", "sh"], _env(ns_env))
    buf = b""

    def read_until(token: bytes, timeout: float = 30) -> bool:
        nonlocal buf
        end = time.time() + timeout
        while token not in buf and time.time() < end:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    break
        return token in buf

    assert read_until(b"# "), buf
    os.write(fd, b"tty; echo answer-$((6*7)); exit 7\r")
    read_until(b"\x00", timeout=5)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 7
    assert b"answer-42" in buf and b"/dev/pts/0" in buf
    assert leftovers(nsconn) == ([], [], [])
