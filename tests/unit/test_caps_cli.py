"""`ocix caps`: masks to names, names to a mask, the difference of two sets; exact output."""

from __future__ import annotations

import json

import pytest

from ocix.errors import InvalidArgumentError
from ocix.kernel.caps import cap_number, diff_caps, parse_cap_args, parse_caps
from tests.helpers import run_cli

DOCKER = "00000000a80425fb"  # docker's and containerd's default CapEff
PODMAN = "00000000800405fb"  # podman's (containers-common's) default CapEff


def test_diff_docker_against_podman_table() -> None:
    r = run_cli(["caps", "--diff", DOCKER, PODMAN])
    assert r.exit_code == 0
    assert r.stdout == (
        "A        00000000a80425fb (14 capabilities)\n"
        "B        00000000800405fb (11 capabilities)\n"
        "In both  11\n"
        "BIT   CAPABILITY        IN    \n"
        "──────────────────────────────\n"
        "13    CAP_NET_RAW       A only\n"
        "27    CAP_MKNOD         A only\n"
        "29    CAP_AUDIT_WRITE   A only\n")


def test_diff_json_both_directions() -> None:
    r = run_cli(["caps", "--diff", PODMAN, "NET_RAW,SYS_ADMIN", "--json"])
    data = json.loads(r.stdout)
    assert data["only_a"] == ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
                              "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
                              "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETFCAP"]
    assert data["only_b"] == ["CAP_NET_RAW", "CAP_SYS_ADMIN"]
    assert data["both"] == []
    assert data["b"] == {"input": "NET_RAW,SYS_ADMIN", "hex": "0000000000202000", "count": 2,
                         "names": ["CAP_NET_RAW", "CAP_SYS_ADMIN"]}


def test_identical_sets_have_no_difference() -> None:
    r = run_cli(["caps", "--diff", "0xa80425fb", DOCKER])
    assert r.stdout.splitlines()[-1] == "no difference"


def test_names_become_one_mask() -> None:
    r = run_cli(["caps", "NET_RAW", "mknod,CAP_AUDIT_WRITE"])
    assert r.exit_code == 0
    assert r.stdout == ("Mask   0000000028002000\n"
                        "Count  3\n"
                        "BIT   NAME           \n"
                        "─────────────────────\n"
                        "13    CAP_NET_RAW    \n"
                        "27    CAP_MKNOD      \n"
                        "29    CAP_AUDIT_WRITE\n")


def test_each_mask_is_its_own_set_and_names_keep_their_place() -> None:
    r = run_cli(["caps", "--json", "0", "kill", "0x1", "setuid"])
    data = json.loads(r.stdout)
    assert [(d["input"], d["hex"], d["names"]) for d in data] == [
        ("0", "0000000000000000", []),
        ("kill,setuid", "00000000000000a0", ["CAP_KILL", "CAP_SETUID"]),
        ("0x1", "0000000000000001", ["CAP_CHOWN"]),
    ]
    assert run_cli(["caps", "0"]).stdout == "Mask   0000000000000000\nCount  0\nno capabilities\n"


def test_bits_past_the_table_are_named_by_number() -> None:
    s = parse_caps("0030000000000000")
    assert s.names == ["cap_52", "cap_53"]
    assert [cap_number(n) for n in s.names] == [52, 53]


def test_all_means_every_capability_of_the_kernel() -> None:
    assert parse_caps("ALL", last_cap=40).hex == "000001ffffffffff"
    d = diff_caps(parse_caps("ALL", last_cap=40), parse_caps("000001fffeffffff"))
    assert (d.only_a, d.only_b) == (["CAP_SYS_RESOURCE"], [])


def test_unknown_name_is_one_line_and_exit_1() -> None:
    r = run_cli(["caps", "NET_RAW", "FOO"])
    assert r.exit_code == 1
    assert r.stderr == ("Error: unknown capability 'FOO'\n"
                        "Hint: names are like CAP_NET_ADMIN or NET_ADMIN; see capabilities(7)\n")


def test_usage_errors_exit_2() -> None:
    assert run_cli(["caps"]).exit_code == 2
    both = run_cli(["caps", "NET_RAW", "--diff", "0", "1"])
    assert both.exit_code == 2 and "not both" in both.stderr
    with pytest.raises(InvalidArgumentError):
        parse_caps(" , ")
    assert parse_cap_args([]) == []
