"""ocix.kernel against fake /proc and cgroup trees, and against this machine's live /proc."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ocix.errors import NotFoundError, OcixError
from ocix.kernel import (
    CapSets,
    IdMapping,
    ProcAccessError,
    ProcessNotFoundError,
    decode_caps,
    encode_caps,
    kernel_view,
    normalize_cap,
)
from ocix.kernel.caps import CAP_NAMES, CapSet, UnknownCapabilityError, cap_last_cap
from ocix.kernel.cgroups import ResourceSummary, hierarchy_dir, parse_proc_cgroup, summarize
from ocix.kernel.proc import is_identity_map, namespaces, parse_id_map, parse_ns_link, parse_status
from tests.helpers import run_cli

HOST_NS = {"cgroup": 4026531835, "ipc": 4026531839, "mnt": 4026531840, "net": 4026531992,
           "pid": 4026531836, "pid_for_children": 4026531836, "time": 4026531834,
           "time_for_children": 4026531834, "user": 4026531837, "uts": 4026531838}
# A runc container: new mnt/uts/ipc/pid/net, host cgroup/time/user namespaces.
CONTAINER_NS = dict(HOST_NS, mnt=4026532200, uts=4026532201, ipc=4026532202, pid=4026532203,
                    pid_for_children=4026532203, net=4026532205)
CONTAINER_STATUS = """Name:\tsh
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4242
Pid:\t4242
PPid:\t4200
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
Groups:\t10 18 1000\x20
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
"""
HYBRID_CGROUP = """12:pids:/default/c1
11:cpu,cpuacct:/default/c1
10:memory:/default/c1
9:name=systemd:/default/c1
0::/default/c1
"""
DEFAULT_14 = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
              "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
              "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"]


def make_proc(root: Path, pid: int | str, ns: dict[str, int] | None, status: str = "",
              cgroup: str = "0::/\n", uid_map: str = "         0          0 4294967295\n") -> Path:
    d = root / str(pid)
    (d / "ns").mkdir(parents=True)
    for t, ino in (ns or {}).items():
        os.symlink(f"{t.removesuffix('_for_children')}:[{ino}]", d / "ns" / t)
    (d / "status").write_text(status)
    (d / "cgroup").write_text(cgroup)
    (d / "uid_map").write_text(uid_map)
    (d / "gid_map").write_text(uid_map)
    return d


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.fixture
def hybrid(tmp_path: Path) -> tuple[Path, Path]:
    proc, cg = tmp_path / "proc", tmp_path / "cgroup"
    make_proc(proc, 1, HOST_NS, "Name:\tinit\nPid:\t1\n")
    make_proc(proc, 4242, CONTAINER_NS, CONTAINER_STATUS, HYBRID_CGROUP,
              "         0     100000      65536\n")
    write(cg / "memory/default/c1/memory.limit_in_bytes", "67108864")
    write(cg / "memory/default/c1/memory.usage_in_bytes", "1232896")
    write(cg / "cpu,cpuacct/default/c1/cpu.cfs_quota_us", "150000")
    write(cg / "cpu,cpuacct/default/c1/cpu.cfs_period_us", "100000")
    write(cg / "cpu,cpuacct/default/c1/cpu.shares", "1024")
    write(cg / "pids/default/c1/pids.max", "100")
    write(cg / "pids/default/c1/pids.current", "3")
    (cg / "systemd/default/c1").mkdir(parents=True)
    write(cg / "unified/default/c1/cgroup.controllers", "")
    return proc, cg


# --- caps -----------------------------------------------------------------------------------

def test_cap_table() -> None:
    assert len(CAP_NAMES) == 41
    assert CAP_NAMES[0] == "CAP_CHOWN" and CAP_NAMES[21] == "CAP_SYS_ADMIN"
    assert CAP_NAMES[40] == "CAP_CHECKPOINT_RESTORE"


def test_decode_caps() -> None:
    assert decode_caps("00000000a80425fb") == DEFAULT_14
    assert decode_caps("0000000000000000") == []
    assert decode_caps(0) == []
    assert decode_caps("000001ffffffffff") == list(CAP_NAMES)
    assert decode_caps(1 << 21) == ["CAP_SYS_ADMIN"]
    assert decode_caps(1 << 41 | 1) == ["CAP_CHOWN", "cap_41"]  # newer than our table


def test_encode_roundtrip() -> None:
    assert encode_caps(DEFAULT_14) == 0xA80425FB
    assert decode_caps(encode_caps(["SYS_ADMIN", "cap_net_admin"])) == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]


def test_normalize_cap() -> None:
    assert normalize_cap("net_admin") == "CAP_NET_ADMIN"
    assert normalize_cap(" CAP_BPF ", last_cap=40) == "CAP_BPF"
    with pytest.raises(UnknownCapabilityError, match="unknown capability 'CAP_NOPE'"):
        normalize_cap("CAP_NOPE")
    with pytest.raises(UnknownCapabilityError, match="not supported by this kernel"):
        normalize_cap("CAP_CHECKPOINT_RESTORE", last_cap=39)


def test_cap_last_cap(tmp_path: Path) -> None:
    write(tmp_path / "sys/kernel/cap_last_cap", "38")
    assert cap_last_cap(tmp_path) == 38
    assert cap_last_cap(tmp_path / "missing") is None


def test_capset_hex() -> None:
    cs = CapSet.from_hex("00000000a80425fb")
    assert cs.hex == "00000000a80425fb" and cs.mask == 0xA80425FB and cs.names == DEFAULT_14


# --- /proc parsing --------------------------------------------------------------------------

def test_parse_helpers() -> None:
    st = parse_status(CONTAINER_STATUS)
    assert st["CapBnd"] == "00000000a80425fb" and st["Groups"] == "10 18 1000"
    assert parse_ns_link("net:[4026531992]") == ("net", 4026531992)
    with pytest.raises(OcixError):
        parse_ns_link("garbage")
    assert parse_id_map("0 100000 65536\n1 2\n") == [IdMapping(0, 100000, 65536)]
    assert is_identity_map([IdMapping(0, 0, 4294967295)])
    assert not is_identity_map([IdMapping(0, 100000, 65536)])


def test_parse_proc_cgroup() -> None:
    entries = parse_proc_cgroup(HYBRID_CGROUP)
    assert [(e.hierarchy, e.controllers, e.path, e.version) for e in entries] == [
        (12, ("pids",), "/default/c1", 1), (11, ("cpu", "cpuacct"), "/default/c1", 1),
        (10, ("memory",), "/default/c1", 1), (9, ("name=systemd",), "/default/c1", 1),
        (0, (), "/default/c1", 2)]
    with pytest.raises(OcixError):
        parse_proc_cgroup("nonsense\n")


# --- kernel_view on fake trees --------------------------------------------------------------

def test_kernel_view_hybrid(hybrid: tuple[Path, Path]) -> None:
    proc, cg = hybrid
    v = kernel_view(4242, proc, cg)
    assert v.pid == 4242 and v.name == "sh"
    assert v.namespace_reference == "1"
    iso = {n.type: n.isolated for n in v.namespaces}
    assert iso == {"cgroup": False, "ipc": True, "mnt": True, "net": True, "pid": True,
                   "pid_for_children": True, "time": False, "time_for_children": False,
                   "user": False, "uts": True}
    net = v.namespace("net")
    assert net is not None and net.inode == 4026532205 and net.host_inode == 4026531992
    assert v.caps.effective.names == [] and v.caps.effective.mask == 0
    assert v.caps.bounding.names == DEFAULT_14
    assert v.no_new_privs is True
    assert v.seccomp == 2 and v.seccomp_mode == "filter" and v.seccomp_filters == 1
    assert v.identity.uid == (1000, 1000, 1000, 1000) and v.identity.groups == [10, 18, 1000]
    assert v.uid_map == [IdMapping(0, 100000, 65536)] == v.gid_map

    by = {",".join(c.controllers) or "v2": c for c in v.cgroups}
    mem = by["memory"]
    assert mem.directory == cg / "memory/default/c1" and mem.exists
    assert mem.memory_limit == 67108864 and mem.memory_usage == 1232896
    cpu = by["cpu,cpuacct"]
    assert (cpu.cpu_quota_us, cpu.cpu_period_us) == (150000, 100000)
    assert cpu.files["cpu.shares"] == "1024"
    assert (by["pids"].pids_limit, by["pids"].pids_current) == (100, 3)
    assert by["name=systemd"].directory == cg / "systemd/default/c1"
    assert by["v2"].version == 2 and by["v2"].directory == cg / "unified/default/c1"
    assert v.resources == ResourceSummary(67108864, 1232896, 100, 3, 150000, 100000)
    assert v.resources.cpus == 1.5


def test_pure_v2_and_unlimited(tmp_path: Path) -> None:
    proc, cg = tmp_path / "proc", tmp_path / "cg"
    make_proc(proc, 1, HOST_NS)
    make_proc(proc, 7, HOST_NS, CONTAINER_STATUS, "0::/k8s/pod1\n")
    write(cg / "cgroup.controllers", "cpu memory pids")
    write(cg / "k8s/pod1/memory.max", "max")
    write(cg / "k8s/pod1/memory.current", "4096")
    write(cg / "k8s/pod1/pids.max", "max")
    write(cg / "k8s/pod1/pids.current", "1")
    write(cg / "k8s/pod1/cpu.max", "max 100000")
    v = kernel_view(7, proc, cg)
    assert all(n.shared for n in v.namespaces)
    (info,) = v.cgroups
    assert info.version == 2 and info.directory == cg / "k8s/pod1"
    assert info.memory_limit is None and info.files["memory.max"] == "max"
    assert info.memory_usage == 4096 and info.pids_limit is None and info.pids_current == 1
    assert (info.cpu_quota_us, info.cpu_period_us) == (None, 100000)
    assert v.resources.cpus is None


def test_v1_unlimited_memory_and_missing_hierarchy(tmp_path: Path) -> None:
    proc, cg = tmp_path / "proc", tmp_path / "cg"
    make_proc(proc, 1, HOST_NS)
    make_proc(proc, 8, HOST_NS, CONTAINER_STATUS, "4:memory:/a\n3:rdma:/\n")
    write(cg / "memory/a/memory.limit_in_bytes", "9223372036854771712")
    write(cg / "memory/a/memory.usage_in_bytes", "100")
    infos = kernel_view(8, proc, cg).cgroups
    assert infos[0].memory_limit is None and infos[0].memory_usage == 100
    assert infos[1].directory is None and not infos[1].exists and infos[1].files == {}
    assert summarize(infos).memory_limit is None


def test_hierarchy_dir_prefers_joined_name(tmp_path: Path) -> None:
    (tmp_path / "cpu,cpuacct").mkdir()
    (tmp_path / "cpu").mkdir()
    (e,) = parse_proc_cgroup("2:cpu,cpuacct:/\n")
    assert hierarchy_dir(e, tmp_path) == tmp_path / "cpu,cpuacct"


def test_missing_pid(hybrid: tuple[Path, Path]) -> None:
    proc, cg = hybrid
    with pytest.raises(ProcessNotFoundError, match="no process 999") as e:
        kernel_view(999, proc, cg)
    assert isinstance(e.value, NotFoundError) and isinstance(e.value, OcixError)


def test_reference_falls_back_to_self(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    make_proc(proc, 5, CONTAINER_NS)
    make_proc(proc, "self", HOST_NS)
    # no /proc/1 at all: the reference becomes "self"
    infos, ref = namespaces(5, proc)
    assert ref == "self"
    assert {n.type for n in infos if n.isolated} == {"ipc", "mnt", "net", "pid", "pid_for_children", "uts"}
    # a /proc/1/ns that cannot be read (here: not a directory) also falls back
    d = proc / "1"
    d.mkdir()
    (d / "ns").write_text("")
    assert namespaces(5, proc)[1] == "self"
    # and with no reference readable at all, "shared" is unknown
    shutil.rmtree(proc / "self")
    infos, ref = namespaces(5, proc)
    assert ref == "" and all(n.shared is None for n in infos)


def test_unreadable_target_is_an_access_error(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    make_proc(proc, 1, HOST_NS)
    d = proc / "6"
    d.mkdir(parents=True)
    (d / "ns").write_text("")  # readlink fails with ENOTDIR for every link
    with pytest.raises(OcixError, match="cannot read"):
        namespaces(6, proc)


def test_old_kernel_without_time_ns(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    old = {k: v for k, v in HOST_NS.items() if not k.startswith("time")}
    make_proc(proc, 1, old)
    make_proc(proc, 9, old)
    infos, _ = namespaces(9, proc)
    time_ns = next(n for n in infos if n.type == "time")
    assert time_ns.inode is None and time_ns.shared is None and "not supported" in time_ns.error


def test_capsets_from_status_missing_lines() -> None:
    cs = CapSets.from_status({"CapEff": "0000000000200000"})
    assert cs.effective.names == ["CAP_SYS_ADMIN"] and cs.ambient.names == []


# --- live /proc -----------------------------------------------------------------------------

live = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


@live
def test_live_self() -> None:
    v = kernel_view(os.getpid())
    assert v.pid == os.getpid()
    assert v.identity.uid[0] == os.getuid() and v.identity.gid[0] == os.getgid()
    assert v.no_new_privs is not None and v.seccomp is not None
    assert len(v.namespaces) == 10 and v.cgroups
    # our own namespaces, compared with pid 1's or our own: never isolated from ourselves
    # unless pid 1 is readable and we really run in a container.
    if v.namespace_reference == "self":
        assert all(n.shared for n in v.namespaces if n.inode is not None)
    with open("/proc/self/status") as f:
        eff = next(line.split()[1] for line in f if line.startswith("CapEff:"))
    assert v.caps.effective.mask == int(eff, 16)
    if os.geteuid() == 0:
        assert "CAP_SYS_ADMIN" in v.caps.effective.names
    last = cap_last_cap()
    if last is not None:
        assert last >= 36
        assert v.caps.bounding.mask < 1 << (last + 1)


@live
def test_live_hybrid_layout_of_this_vm() -> None:
    text = Path("/proc/self/cgroup").read_text()
    entries = parse_proc_cgroup(text)
    if not (any(e.version == 1 for e in entries) and any(e.version == 2 for e in entries)):
        pytest.skip("not a v1+v2 hybrid host")
    v = kernel_view("self")
    assert {c.version for c in v.cgroups} == {1, 2}
    mem = next(c for c in v.cgroups if "memory" in c.controllers)
    assert mem.exists and "memory.usage_in_bytes" in mem.files and (mem.memory_usage or 0) > 0


def test_live_missing_pid() -> None:
    with pytest.raises(ProcessNotFoundError):
        kernel_view(2**22 + 12345)  # above pid_max's ceiling: can never exist


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    # wait until the exec happened (comm becomes "sleep"), or the command failed
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if Path(f"/proc/{p.pid}/comm").read_text().strip() == "sleep":
                return p
        except OSError:
            pass
        time.sleep(0.02)
    err = p.stderr.read().decode() if p.poll() is not None and p.stderr else ""
    p.kill()
    p.wait()
    pytest.skip(f"cannot run {argv[0]}: {err.strip() or 'timeout'}")


@live
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_live_child_in_new_namespaces() -> None:
    p = _spawn(["unshare", "--net", "--uts", "--ipc", "sleep", "30"])
    try:
        v = kernel_view(p.pid, reference="self")
        iso = {n.type: n.isolated for n in v.namespaces}
        assert iso["net"] and iso["uts"] and iso["ipc"]
        assert iso["pid"] is False and iso["mnt"] is False and iso["user"] is False
    finally:
        p.kill()
        p.wait()
    with pytest.raises(ProcessNotFoundError):
        kernel_view(p.pid)


@live
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_live_empty_bounding_set_gives_no_caps() -> None:
    # What --cap-drop ALL does to a root process: an empty bounding set at exec leaves CapEff 0.
    p = _spawn(["setpriv", "--no-new-privs", "--bounding-set", "-all", "sleep", "30"])
    try:
        v = kernel_view(p.pid)
        assert v.no_new_privs is True
        assert v.caps.bounding.names == [] and v.caps.effective.mask == 0
        assert v.caps.permitted.names == []
    finally:
        p.kill()
        p.wait()


@live
def test_unreadable_proc_file_is_an_access_error_with_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """EACCES on /proc/PID/status (ptrace access checks) is ProcAccessError: exit 1, a hint."""
    target = Path(f"/proc/{os.getpid()}/status")
    real_read_text = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(ProcAccessError) as e:
        kernel_view(os.getpid())
    assert (str(e.value), e.value.exit_code) == (f"cannot read {target}: Permission denied", 1)
    hint = ("even root may not read the ns links of a non-dumpable process or one in a user "
            "namespace that is not ours") if os.geteuid() == 0 else (
        "run as root; a process in a user namespace that is not ours (or a non-dumpable one) "
        "may stay unreadable even then")
    assert e.value.hint == hint
    r = run_cli(["kernel", "--pid", str(os.getpid())])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == f"Error: cannot read {target}: Permission denied\nHint: {hint}\n"
