"""How crun is called on this host: plain, or through the hybrid-cgroup wrapper; the lab's CRI
`crun` handler and the command lines `ocix bundle` prints follow the same rule."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from ocix import runtimes
from ocix.lab.daemons import containerd_config
from ocix.lab.state import Paths


@pytest.fixture
def wrapper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run" / "crun-hybrid"
    monkeypatch.setattr(runtimes, "CRUN_WRAPPER", str(path))
    return path


def test_a_hybrid_host_gets_the_wrapper_written_and_called(
        wrapper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes, "cgroup_hybrid_with_v2_controllers", lambda: True)
    assert runtimes.crun_binary() == str(wrapper)
    assert wrapper.stat().st_mode & 0o777 == 0o755
    assert wrapper.read_text().startswith("#!/bin/sh\n")
    assert runtimes.runtime_binary("crun") == str(wrapper)
    assert runtimes.bundle_commands("/tmp/my bundle", "bb") == [
        "runc run -b '/tmp/my bundle' bb", f"{wrapper} run -b '/tmp/my bundle' bb"]


def test_other_hosts_call_the_installed_crun(wrapper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes, "cgroup_hybrid_with_v2_controllers", lambda: False)
    assert runtimes.crun_binary() == (shutil.which("crun") or "/usr/bin/crun")
    assert runtimes.bundle_commands("/tmp/bb", "bb2") == ["runc run -b /tmp/bb bb2",
                                                          "crun run -b /tmp/bb bb2"]
    assert not wrapper.exists()


def test_the_labs_crun_handler_calls_the_binary_it_is_given(tmp_path: Path) -> None:
    conf = tomllib.loads(containerd_config(Paths(tmp_path), "127.0.0.1:5000", "/run/x/crun-hybrid"))
    handlers = conf["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    assert handlers["crun"] == {"runtime_type": "io.containerd.runc.v2",
                                "options": {"BinaryName": "/run/x/crun-hybrid"}}
    assert handlers["runc"] == {"runtime_type": "io.containerd.runc.v2"}
