"""--cap-add limited to what the caller can grant: its bounding set (CapBnd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocix.kernel.caps import CAP_NAMES, bounding_set
from ocix.oci.spec import RunOptions, SpecError, check_options, generate

# This VM's root: every capability up to 40 but CAP_SYS_RESOURCE (24).
NO_SYS_RESOURCE = 0x000001FFFEFFFFFF
CONFIG = {"config": {"Cmd": ["sh"]}}


def _caps(opts: RunOptions, bounding: int | None) -> dict[str, list[str]]:
    spec = generate("default", "c1", CONFIG, opts, last_cap=40, bounding=bounding)
    caps: dict[str, list[str]] = spec["process"]["capabilities"]
    return caps


def test_all_means_the_known_caps_inside_the_bounding_set() -> None:
    caps = _caps(RunOptions(cap_add=["ALL"]), NO_SYS_RESOURCE)
    expected = [n for n in CAP_NAMES if n != "CAP_SYS_RESOURCE"]
    assert sorted(caps["bounding"]) == sorted(expected)
    assert caps["effective"] == caps["bounding"] == caps["permitted"]
    assert len(caps["bounding"]) == 40


def test_all_without_a_bounding_set_is_every_known_cap() -> None:
    assert len(_caps(RunOptions(cap_add=["ALL"]), None)["bounding"]) == 41


def test_a_named_cap_outside_the_bounding_set_is_refused_by_name() -> None:
    opts = RunOptions(cap_add=["sys_resource", "NET_ADMIN"])
    with pytest.raises(SpecError) as e:
        check_options(opts, last_cap=40, bounding=NO_SYS_RESOURCE)
    assert e.value.message == ("cannot add CAP_SYS_RESOURCE: not in this process's bounding set "
                               "(CapBnd 000001fffeffffff), so the runtime cannot grant it")
    assert e.value.exit_code == 1
    with pytest.raises(SpecError):
        generate("default", "c1", CONFIG, opts, last_cap=40, bounding=NO_SYS_RESOURCE)


def test_several_refused_caps_are_all_named() -> None:
    with pytest.raises(SpecError) as e:
        check_options(RunOptions(cap_add=["SYS_RESOURCE", "BPF"]), bounding=0xFF)
    assert e.value.message.startswith("cannot add CAP_SYS_RESOURCE, CAP_BPF: not in this "
                                      "process's bounding set (CapBnd 00000000000000ff)")
    assert e.value.message.endswith("cannot grant them")


def test_dropping_a_cap_outside_the_bounding_set_is_fine() -> None:
    caps = _caps(RunOptions(cap_drop=["SYS_RESOURCE"], cap_add=["NET_ADMIN"]), NO_SYS_RESOURCE)
    assert "CAP_NET_ADMIN" in caps["bounding"] and "CAP_SYS_RESOURCE" not in caps["bounding"]


def test_bounding_set_reads_capbnd(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("Name:\tx\nCapPrm:\t0000000000000001\n"
                                          "CapBnd:\t000001fffeffffff\nCapAmb:\t0\n")
    assert bounding_set(tmp_path) == NO_SYS_RESOURCE
    assert bounding_set(tmp_path / "missing") is None


def test_this_process_has_a_bounding_set() -> None:
    live = bounding_set()
    assert live is not None and live > 0
