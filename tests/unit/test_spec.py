"""ocix.oci.spec and ocix.oci.user against containerd 1.6.20's behaviour (oci/spec*.go)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ocix.errors import InvalidArgumentError, OcixError
from ocix.kernel.caps import CAP_NAMES, encode_caps
from ocix.oci.spec import (
    DEFAULT_CAPS,
    DEFAULT_PATH_ENV,
    RunOptions,
    SpecError,
    apply_capabilities,
    apply_image_config,
    default_spec,
    generate,
    image_config_section,
    merge_env,
    validate_container_id,
)
from ocix.oci.specjson import spec_bytes
from ocix.oci.user import (
    ResolvedUser,
    UserLookupError,
    parse_group,
    parse_passwd,
    resolve_in_root,
    resolve_uid_gid,
    resolve_user,
    rootfs_reader,
)

# An alpine-like /etc/passwd and /etc/group, plus a user with supplementary groups.
PASSWD = b"""root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin

nobody:x:65534:65534:nobody:/:/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
"""
GROUP = b"""root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
# a comment the parser must skip: x:x:99:alice
wheel:x:10:root,alice
audio:x:18:alice
alice:x:1000:alice
nogroup:x:65533:
nobody:x:65534:
"""


def files(passwd: bytes | None = PASSWD, group: bytes | None = GROUP) -> Any:
    table = {"/etc/passwd": passwd, "/etc/group": group}
    return lambda path: table.get(path)


ALPINE_CONFIG = {
    "architecture": "amd64", "os": "linux",
    "config": {"Env": [DEFAULT_PATH_ENV], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": []},
}

EXPECTED_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
]
CAPS14 = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
          "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
          "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def dev(major: int, minor: int | None) -> dict[str, Any]:
    d: dict[str, Any] = {"allow": True, "type": "c", "major": major, "access": "rwm"}
    if minor is not None:
        d["minor"] = minor
    return d


# What `ctr run docker.io/library/alpine:3.18 c1` (namespace default) writes, hand-derived from
# containerd's spec code (docs/sources.md).  test_default_spec_and_caps_equal_ctr_run in
# tests/integration/test_run.py checks the spec ocix sends against what a live `ctr run` writes.
CTR_RUN_ALPINE: dict[str, Any] = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "user": {"uid": 0, "gid": 0, "additionalGids": [0, 1, 2, 10]},
        "args": ["/bin/sh"],
        "env": [DEFAULT_PATH_ENV],
        "cwd": "/",
        "capabilities": {"bounding": CAPS14, "effective": CAPS14, "permitted": CAPS14},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs"},
    "mounts": EXPECTED_MOUNTS,
    "linux": {
        "resources": {
            "devices": [{"allow": False, "access": "rwm"}, dev(1, 3), dev(1, 8), dev(1, 7),
                        dev(5, 0), dev(1, 5), dev(1, 9), dev(5, 1), dev(136, None), dev(5, 2)],
            "cpu": {"shares": 1024},
        },
        "cgroupsPath": "/default/c1",
        "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                       {"type": "network"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
}


# --- default spec ---------------------------------------------------------------------------

def test_default_caps_exact_order() -> None:
    assert list(DEFAULT_CAPS) == CAPS14
    assert encode_caps(DEFAULT_CAPS) == 0xA80425FB  # docker/containerd's well-known CapEff


def test_default_spec_fields() -> None:
    s = default_spec("default", "c1", unix_devices=False)
    assert s["ociVersion"] == "1.0.2-dev"
    assert s["root"] == {"path": "rootfs"}
    p = s["process"]
    assert p["cwd"] == "/" and p["noNewPrivileges"] is True
    assert p["user"] == {"uid": 0, "gid": 0}
    assert "terminal" not in p and "env" not in p and "args" not in p  # Go omitempty
    assert p["capabilities"] == {"bounding": CAPS14, "effective": CAPS14, "permitted": CAPS14}
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert s["mounts"] == EXPECTED_MOUNTS
    linux = s["linux"]
    assert linux["cgroupsPath"] == "/default/c1"
    assert [n["type"] for n in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "network"]
    assert linux["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert linux["maskedPaths"] == CTR_RUN_ALPINE["linux"]["maskedPaths"]
    assert linux["readonlyPaths"] == CTR_RUN_ALPINE["linux"]["readonlyPaths"]


def test_default_spec_with_unix_devices() -> None:
    devices = default_spec("k8s.io", "abc")["linux"]["resources"]["devices"]
    assert devices == CTR_RUN_ALPINE["linux"]["resources"]["devices"]
    assert "minor" not in devices[8]  # /dev/pts: all of major 136


def test_default_specs_are_independent() -> None:
    a = default_spec("default", "c1")
    a["process"]["capabilities"]["bounding"].clear()
    a["mounts"][0]["options"].append("x")
    assert default_spec("default", "c1")["process"]["capabilities"]["bounding"] == CAPS14
    assert default_spec("default", "c1")["mounts"][0]["options"] == ["nosuid", "noexec", "nodev"]


# --- identifiers ----------------------------------------------------------------------------

@pytest.mark.parametrize("cid", ["a", "c1", "my-app_1.2", "A.b-C_d", "x" * 76, "0"])
def test_valid_ids(cid: str) -> None:
    assert validate_container_id(cid) == cid


@pytest.mark.parametrize("cid", ["", "-a", "a-", "a..b", "a b", "a/b", "a__b", "é", "x" * 77, ".a"])
def test_invalid_ids(cid: str) -> None:
    with pytest.raises(SpecError) as e:
        validate_container_id(cid)
    assert isinstance(e.value, InvalidArgumentError)
    assert "container id" in str(e.value)


def test_too_long_id_message() -> None:
    with pytest.raises(SpecError, match="longer than 76 characters"):
        validate_container_id("a" * 77)


def test_bad_namespace_rejected() -> None:
    with pytest.raises(SpecError, match="namespace"):
        default_spec("bad/ns", "c1")


# --- env ------------------------------------------------------------------------------------

def test_merge_env_replace_append_unset() -> None:
    base = ["PATH=/bin", "HOME=/root", "LANG=C"]
    assert merge_env(base, ["HOME=/x", "NEW=1", "LANG"]) == ["PATH=/bin", "HOME=/x", "NEW=1"]
    assert merge_env(base, []) == base
    assert merge_env([], ["A=1", "A=2", "B"]) == ["A=1", "A=2"]  # Go appends both, drops bare B
    assert merge_env(["A=1", ""], ["A=3", "A=4"]) == ["A=4"]


# --- users ----------------------------------------------------------------------------------

def test_parse_passwd_and_group() -> None:
    users = parse_passwd(PASSWD)
    assert [(u.name, u.uid, u.gid) for u in users][-2:] == [("nobody", 65534, 65534), ("alice", 1000, 1000)]
    groups = {g.name: g for g in parse_group(GROUP)}
    assert "# a comment the parser must skip" not in groups
    assert groups["wheel"].members == ("root", "alice")
    assert groups["nogroup"].members == ()
    assert parse_passwd(b"weird:x:notanumber:7\n")[0].uid == 0  # runc ignores bad numbers


def test_root_without_user_gets_groups_listing_root() -> None:
    # WithAdditionalGIDs("root"): groups naming root as a member, not the group "root" itself,
    # then the primary gid 0 first.
    assert resolve_user(None, files()) == ResolvedUser(0, 0, [0, 1, 2, 10])


def test_user_by_name() -> None:
    assert resolve_user("alice", files()) == ResolvedUser(1000, 1000, [1000, 10, 18])
    assert resolve_user("nobody", files()) == ResolvedUser(65534, 65534, [65534])


def test_numeric_uid_with_and_without_passwd_entry() -> None:
    assert resolve_user("1000", files()) == ResolvedUser(1000, 1000, [1000, 10, 18])
    assert resolve_user("4242", files()) == ResolvedUser(4242, 0, [0])
    assert resolve_user("4242", files(None, None)) == ResolvedUser(4242, 0, [0])
    assert resolve_user("0", files(None, None)) == ResolvedUser(0, 0, [0])


def test_uid_gid_forms() -> None:
    assert resolve_uid_gid("1000:1000", files(None, None)) == (1000, 1000)
    assert resolve_uid_gid("alice:audio", files()) == (1000, 18)
    assert resolve_uid_gid("alice:5", files()) == (1000, 5)
    assert resolve_uid_gid("7:wheel", files()) == (7, 10)
    assert resolve_uid_gid(":", files()) == (0, 0)
    # uid:gid given: supplementary groups still come from the passwd name of that uid
    assert resolve_user("1000:5", files()) == ResolvedUser(1000, 5, [5, 10, 18])


def test_unknown_user_and_group() -> None:
    with pytest.raises(UserLookupError, match=r"no user 'bob' in the image's /etc/passwd"):
        resolve_user("bob", files())
    with pytest.raises(UserLookupError, match=r"no group 'staff' in the image's /etc/group"):
        resolve_user("alice:staff", files())
    with pytest.raises(UserLookupError, match="has no /etc/passwd"):
        resolve_user("alice", files(None, None))
    with pytest.raises(UserLookupError, match="invalid USER"):
        resolve_user("a:b:c", files())
    assert issubclass(UserLookupError, OcixError)


def test_go_style_number_parsing() -> None:
    # "1_0" is a name to Go's Atoi (and so unknown), not the number 10.
    with pytest.raises(UserLookupError):
        resolve_user("1_0", files())
    # beyond MaxInt32 is treated as a name too
    with pytest.raises(UserLookupError):
        resolve_user(str(2**31), files())


# --- image config ---------------------------------------------------------------------------

def test_image_config_section_accepts_blob_or_inner() -> None:
    assert image_config_section(ALPINE_CONFIG) == ALPINE_CONFIG["config"]
    assert image_config_section({"Cmd": ["x"]}) == {"Cmd": ["x"]}
    assert image_config_section({"architecture": "amd64"}) == {}
    assert image_config_section(None) == {}


def test_apply_image_config() -> None:
    s = default_spec("default", "c1")
    cfg = {"Entrypoint": ["/entry.sh"], "Cmd": ["serve", "--port", "80"], "WorkingDir": "/srv",
           "Env": ["A=1", "PATH=/opt/bin"], "User": "alice"}
    apply_image_config(s, cfg, files())
    p = s["process"]
    assert p["args"] == ["/entry.sh", "serve", "--port", "80"]
    assert p["cwd"] == "/srv"
    assert p["env"] == ["A=1", "PATH=/opt/bin"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10, 18]}
    s2 = default_spec("default", "c1")
    apply_image_config(s2, cfg, files(), args=["sh"])
    assert s2["process"]["args"] == ["/entry.sh", "sh"]  # args replace Cmd only


def test_image_without_env_gets_default_path() -> None:
    s = default_spec("default", "c1")
    apply_image_config(s, {"Cmd": ["x"]}, files())
    assert s["process"]["env"] == [DEFAULT_PATH_ENV]
    assert s["process"]["cwd"] == "/"


def test_bad_image_config_types() -> None:
    with pytest.raises(SpecError, match="Cmd must be a list of strings"):
        apply_image_config(default_spec("default", "c1"), {"Cmd": "sh"}, files())


# --- generate -------------------------------------------------------------------------------

def test_generate_equals_ctr_run_alpine() -> None:
    spec = generate("default", "c1", ALPINE_CONFIG, RunOptions(), files(), last_cap=40)
    assert spec == CTR_RUN_ALPINE


def test_generate_ctr_style_args_replace_entrypoint() -> None:
    cfg = {"config": {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx"]}}
    keep = generate("default", "c1", cfg, RunOptions(args=["sh"]), files())
    assert keep["process"]["args"] == ["/docker-entrypoint.sh", "sh"]
    ctr = generate("default", "c1", cfg, RunOptions(args=["sh"], replace_entrypoint=True), files())
    assert ctr["process"]["args"] == ["sh"]


def test_generate_is_deterministic() -> None:
    opts = RunOptions(args=["sh"], env=["A=1"], cap_add=["NET_ADMIN"], cpus=0.5, memory=1 << 26)
    a = generate("default", "c1", ALPINE_CONFIG, opts, files(), last_cap=40)
    b = generate("default", "c1", copy.deepcopy(ALPINE_CONFIG), opts, files(), last_cap=40)
    assert spec_bytes(a) == spec_bytes(b)
    assert json.loads(spec_bytes(a)) == a


def test_generate_resources() -> None:
    opts = RunOptions(cpus=1.5, memory=64 * 1024 * 1024, pids_limit=100)
    r = generate("default", "c1", ALPINE_CONFIG, opts, files())["linux"]["resources"]
    assert r["cpu"] == {"shares": 1024, "quota": 150000, "period": 100000}
    assert r["memory"] == {"limit": 67108864}
    assert r["pids"] == {"limit": 100}
    r2 = generate("default", "c1", ALPINE_CONFIG, RunOptions(cpus=0.29, cpu_shares=None), files())
    assert r2["linux"]["resources"]["cpu"] == {"quota": 28999, "period": 100000}  # Go truncation


@pytest.mark.parametrize("opts", [RunOptions(cpus=0.001), RunOptions(memory=0),
                                  RunOptions(pids_limit=0), RunOptions(net="bridge"),
                                  RunOptions(env=["NOEQUALS"]), RunOptions(cwd="relative"),
                                  RunOptions(hostname="has space")])
def test_generate_rejects_bad_options(opts: RunOptions) -> None:
    with pytest.raises(SpecError):
        generate("default", "c1", ALPINE_CONFIG, opts, files())


def test_generate_env_user_cwd_tty_readonly_hostname() -> None:
    cfg = {"config": {"Env": ["PATH=/bin", "LANG=C"], "Cmd": ["sh"], "User": "alice"}}
    opts = RunOptions(env=["LANG=en_US.UTF-8", "EXTRA=1"], user="nobody", cwd="/tmp",
                      tty=True, read_only=True, hostname="box")
    s = generate("default", "c1", cfg, opts, files())
    p = s["process"]
    assert p["env"] == ["PATH=/bin", "LANG=en_US.UTF-8", "EXTRA=1", "TERM=xterm"]
    assert p["user"] == {"uid": 65534, "gid": 65534, "additionalGids": [65534]}
    assert p["cwd"] == "/tmp"
    assert p["terminal"] is True
    assert s["root"] == {"path": "rootfs", "readonly": True}
    assert s["hostname"] == "box"


def test_generate_net_host() -> None:
    s = generate("default", "c1", ALPINE_CONFIG, RunOptions(net="host"), files(),
                 host_hostname="vm1")
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["pid", "ipc", "uts", "mount"]
    assert s["mounts"][-2:] == [
        {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": "/etc/resolv.conf",
         "options": ["rbind", "ro"]},
    ]
    assert s["process"]["env"] == [DEFAULT_PATH_ENV, "HOSTNAME=vm1"]
    default = generate("default", "c1", ALPINE_CONFIG, RunOptions(net="none"), files())
    assert {"type": "network"} in default["linux"]["namespaces"]
    assert len(default["mounts"]) == 7


def test_generate_without_command_fails() -> None:
    with pytest.raises(SpecError, match="nothing to run"):
        generate("default", "c1", {"config": {}}, RunOptions(), files())


def test_user_lookup_error_propagates_from_generate() -> None:
    with pytest.raises(UserLookupError, match="no user 'ghost'"):
        generate("default", "c1", ALPINE_CONFIG, RunOptions(user="ghost"), files())


# --- capabilities ---------------------------------------------------------------------------

def caps_of(opts: RunOptions, last_cap: int = 40) -> dict[str, list[str]]:
    spec = generate("default", "c1", ALPINE_CONFIG, opts, files(), last_cap=last_cap)
    caps: dict[str, list[str]] = spec["process"]["capabilities"]
    return caps


def test_cap_add_and_drop() -> None:
    caps = caps_of(RunOptions(cap_add=["net_admin", "CAP_SYS_PTRACE"], cap_drop=["NET_RAW", "cap_mknod"]))
    expected = [c for c in CAPS14 if c not in ("CAP_NET_RAW", "CAP_MKNOD")] + [
        "CAP_NET_ADMIN", "CAP_SYS_PTRACE"]
    assert caps == {"bounding": expected, "effective": expected, "permitted": expected}


def test_cap_add_existing_is_not_duplicated() -> None:
    assert caps_of(RunOptions(cap_add=["CAP_CHOWN"]))["bounding"] == CAPS14


def test_cap_drop_all() -> None:
    caps = caps_of(RunOptions(cap_drop=["ALL"]))
    assert caps == {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []}


def test_cap_drop_all_then_add() -> None:
    caps = caps_of(RunOptions(cap_drop=["all"], cap_add=["NET_BIND_SERVICE"]))
    assert caps["effective"] == caps["bounding"] == caps["permitted"] == ["CAP_NET_BIND_SERVICE"]
    assert caps["inheritable"] == caps["ambient"] == []


def test_cap_add_all_respects_kernel_last_cap() -> None:
    assert len(caps_of(RunOptions(cap_add=["ALL"]), last_cap=40)["bounding"]) == 41
    bounding = caps_of(RunOptions(cap_add=["ALL"]), last_cap=37)["bounding"]
    assert sorted(bounding) == sorted(CAP_NAMES[:38])
    assert "CAP_BPF" not in bounding


def test_unknown_and_unsupported_caps() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown capability 'CAP_FLY'") as e:
        caps_of(RunOptions(cap_add=["CAP_FLY"]))
    assert isinstance(e.value, OcixError)
    with pytest.raises(InvalidArgumentError, match="not supported by this kernel"):
        caps_of(RunOptions(cap_add=["CAP_BPF"]), last_cap=37)
    with pytest.raises(SpecError, match="contradict"):
        caps_of(RunOptions(cap_add=["ALL"], cap_drop=["ALL"]))


def test_apply_capabilities_directly() -> None:
    s = default_spec("default", "c1")
    apply_capabilities(s, ["CAP_SYS_ADMIN"], ["CAP_KILL"], last_cap=40)
    assert s["process"]["capabilities"]["effective"][-1] == "CAP_SYS_ADMIN"
    assert "CAP_KILL" not in s["process"]["capabilities"]["permitted"]


# --- captured from containerd 1.6.20 ----------------------------------------------------------
# `ctr -n ocixspecprobe c create docker.io/library/busybox:latest c1` and
# `ctr -n ocixspecprobe c create --env FOO=bar --cpu-quota 150000 --cpu-period 100000
#   --memory-limit 67108864 --cap-add CAP_NET_ADMIN --cap-drop CAP_NET_RAW --net-host --tty
#   --read-only --cwd /tmp docker.io/library/busybox:latest c2 echo hi` on host "vm",
# Spec from `ctr c info`, compact. `c create` has no --cpus/--cpu-shares: `ctr run` also
# writes "cpu":{"shares":1024}. busybox: Cmd ["sh"], Env [PATH], /etc/group "root:x:0:".
CTR_CREATE_C1 = (
    "{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[0]},\"args"
    "\":[\"sh\"],\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"cw"
    "d\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWN"
    "ER\",\"CAP_MKNOD\",\"CAP_NET_RAW\",\"CAP_SETGID\",\"CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP"
    "_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\",\"CAP_KILL\",\"CAP_AUDIT_WRITE\"],\"effective\":[\"CAP_CHOW"
    "N\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWNER\",\"CAP_MKNOD\",\"CAP_NET_RAW\",\"CAP_SETGID\",\""
    "CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\",\"CAP_KIL"
    "L\",\"CAP_AUDIT_WRITE\"],\"permitted\":[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWN"
    "ER\",\"CAP_MKNOD\",\"CAP_NET_RAW\",\"CAP_SETGID\",\"CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP"
    "_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\",\"CAP_KILL\",\"CAP_AUDIT_WRITE\"]},\"rlimits\":[{\"type\":\"R"
    "LIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],\"noNewPrivileges\":true},\"root\":{\"path\":\"rootfs\"}"
    ",\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\",\"options\":[\"nosuid\",\"noe"
    "xec\",\"nodev\"]},{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\""
    ",\"strictatime\",\"mode=755\",\"size=65536k\"]},{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"sou"
    "rce\":\"devpts\",\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gi"
    "d=5\"]},{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":[\"nosuid\",\"noex"
    "ec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"so"
    "urce\":\"mqueue\",\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},{\"destination\":\"/sys\",\"type\":\"sysf"
    "s\",\"source\":\"sysfs\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},{\"destination\":\"/run\",\"t"
    "ype\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\""
    "]}],\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\""
    ":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":8,\"a"
    "ccess\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":7,\"access\":\"rwm\"},{\"allow\":true"
    ",\"type\":\"c\",\"major\":5,\"minor\":0,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"mino"
    "r\":5,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":9,\"access\":\"rwm\"},{\"allo"
    "w\":true,\"type\":\"c\",\"major\":5,\"minor\":1,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":"
    "136,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":2,\"access\":\"rwm\"}]},\"cgro"
    "upsPath\":\"/ocixspecprobe/c1\",\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
    "{\"type\":\"mount\"},{\"type\":\"network\"}],\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/k"
    "core\",\"/proc/keys\",\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/s"
    "ched_debug\",\"/sys/firmware\",\"/proc/scsi\"],\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc"
    "/irq\",\"/proc/sys\",\"/proc/sysrq-trigger\"]}}"
)
CTR_CREATE_C2 = (
    "{\"ociVersion\":\"1.0.2-dev\",\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0,\"additional"
    "Gids\":[0]},\"args\":[\"echo\",\"hi\"],\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/u"
    "sr/bin:/sbin:/bin\",\"FOO=bar\",\"TERM=xterm\",\"HOSTNAME=vm\"],\"cwd\":\"/tmp\",\"capabilities\":{\"b"
    "ounding\":[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWNER\",\"CAP_MKNOD\",\"CAP_SETG"
    "ID\",\"CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\",\"CA"
    "P_KILL\",\"CAP_AUDIT_WRITE\",\"CAP_NET_ADMIN\"],\"effective\":[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\""
    "CAP_FSETID\",\"CAP_FOWNER\",\"CAP_MKNOD\",\"CAP_SETGID\",\"CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCA"
    "P\",\"CAP_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\",\"CAP_KILL\",\"CAP_AUDIT_WRITE\",\"CAP_NET_ADMIN\"]"
    ",\"permitted\":[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FSETID\",\"CAP_FOWNER\",\"CAP_MKNOD\",\"CAP_"
    "SETGID\",\"CAP_SETUID\",\"CAP_SETFCAP\",\"CAP_SETPCAP\",\"CAP_NET_BIND_SERVICE\",\"CAP_SYS_CHROOT\""
    ",\"CAP_KILL\",\"CAP_AUDIT_WRITE\",\"CAP_NET_ADMIN\"]},\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard"
    "\":1024,\"soft\":1024}],\"noNewPrivileges\":true},\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"m"
    "ounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\",\"options\":[\"nosuid\",\"noexec"
    "\",\"nodev\"]},{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"s"
    "trictatime\",\"mode=755\",\"size=65536k\"]},{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source"
    "\":\"devpts\",\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\",\"gid=5"
    "\"]},{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\",\"options\":[\"nosuid\",\"noexec\""
    ",\"nodev\",\"mode=1777\",\"size=65536k\"]},{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"sourc"
    "e\":\"mqueue\",\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},{\"destination\":\"/sys\",\"type\":\"sysfs\","
    "\"source\":\"sysfs\",\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},{\"destination\":\"/run\",\"type"
    "\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/etc/hosts\",\"options\":[\"rbind\",\"ro\"]"
    "},{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":\"/etc/resolv.conf\",\"options\":"
    "[\"rbind\",\"ro\"]}],\"linux\":{\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow"
    "\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1"
    ",\"minor\":8,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":7,\"access\":\"rwm\"},"
    "{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":0,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"m"
    "ajor\":1,\"minor\":5,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":9,\"access\":"
    "\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":1,\"access\":\"rwm\"},{\"allow\":true,\"type\""
    ":\"c\",\"major\":136,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\",\"major\":5,\"minor\":2,\"access\":\""
    "rwm\"}],\"memory\":{\"limit\":67108864},\"cpu\":{\"quota\":150000,\"period\":100000}},\"cgroupsPath\""
    ":\"/ocixspecprobe/c2\",\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":"
    "\"mount\"}],\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\",\"/proc/l"
    "atency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\",\"/proc/sched_debug\",\"/sys/firmware\""
    ",\"/proc/scsi\"],\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\",\"/proc/sy"
    "srq-trigger\"]}}"
)
BUSYBOX_CONFIG = {"config": {"Env": [DEFAULT_PATH_ENV], "Cmd": ["sh"]}}
BUSYBOX_FILES = {"/etc/group": b"root:x:0:\ndaemon:x:1:\nbin:x:2:\n"}.get


def test_matches_ctr_create_byte_for_byte() -> None:
    c1 = generate("ocixspecprobe", "c1", BUSYBOX_CONFIG, RunOptions(cpu_shares=None),
                  BUSYBOX_FILES, last_cap=40)
    assert spec_bytes(c1).decode() == CTR_CREATE_C1
    opts = RunOptions(env=["FOO=bar"], cpus=1.5, memory=67108864, cap_add=["CAP_NET_ADMIN"],
                      cap_drop=["CAP_NET_RAW"], net="host", tty=True, read_only=True, cwd="/tmp",
                      args=["echo", "hi"], replace_entrypoint=True, cpu_shares=None)
    c2 = generate("ocixspecprobe", "c2", BUSYBOX_CONFIG, opts, BUSYBOX_FILES, last_cap=40,
                  host_hostname="vm")
    assert spec_bytes(c2).decode() == CTR_CREATE_C2
    assert json.loads(CTR_CREATE_C2)["process"]["env"] == [
        DEFAULT_PATH_ENV, "FOO=bar", "TERM=xterm", "HOSTNAME=vm"]


def test_spec_bytes_escapes_like_go() -> None:
    assert spec_bytes({"process": {"env": ["A=<b>&"]}}) == b'{"process":{"env":["A=\\u003cb\\u003e\\u0026"]}}'


def test_rootfs_reader_keeps_symlinks_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data/passwd").write_bytes(PASSWD)
    (root / "etc/passwd").symlink_to("/data/passwd")  # absolute: must resolve inside root
    (root / "etc/group").symlink_to("../../../../data/group")  # '..' cannot escape root
    (tmp_path / "data").mkdir()
    (tmp_path / "data/group").write_bytes(b"evil:x:0:root\n")  # outside: must not be read
    (root / "data/group").write_bytes(GROUP)
    read = rootfs_reader(root)
    assert read("/etc/passwd") == PASSWD
    assert read("/etc/group") == GROUP
    assert read("/etc/shadow") is None
    assert resolve_in_root(root, "/etc/../etc/./passwd") == root / "data/passwd"
    assert resolve_user("alice", read) == ResolvedUser(1000, 1000, [1000, 10, 18])
    (root / "loop").symlink_to("/loop")
    with pytest.raises(OcixError, match="too many symlinks"):
        read("/loop")
