"""The lab's registry keeps its port across `lab down` / `lab up`, unless someone took it."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lab dir of its own (the session lab stays up); whatever runs there is stopped after."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    if not shutil.which("containerd") or not shutil.which("docker-registry"):
        pytest.skip("containerd or docker-registry missing; run `make setup`")
    root = tmp_path_factory.mktemp("portlab")
    yield root
    labmod.down(root)
    state = LabState.load(root)
    assert state is not None and state.procs == [], f"still recorded as running: {state}"


def _up(root: Path) -> tuple[int, str]:
    r = run_cli(["lab", "up", "--no-seed", "--dir", str(root)])
    assert r.exit_code == 0, r.stderr
    state = LabState.load(root)
    assert state is not None
    return state.registry_port, r.stderr


def _down(root: Path) -> None:
    r = run_cli(["lab", "down", "--quiet", "--dir", str(root)])
    assert r.exit_code == 0, r.stderr


def test_up_down_up_keeps_the_registry_port(lab_root: Path) -> None:
    first, _ = _up(lab_root)
    assert first > 0
    _down(lab_root)
    again, err = _up(lab_root)
    assert again == first
    assert err == "lab: starting the registry\nlab: starting containerd\n"
    env = run_cli(["lab", "env", "--json", "--dir", str(lab_root)])
    assert f'"OCIX_REGISTRY": "127.0.0.1:{first}"' in env.stdout


def test_a_taken_port_is_replaced_and_reported(lab_root: Path) -> None:
    first, _ = _up(lab_root)
    _down(lab_root)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", first))
        holder.listen(1)
        second, err = _up(lab_root)
    assert second != first
    assert err == (f"lab: starting the registry\nlab: registry port {first} is taken; "
                   f"using {second}\nlab: starting containerd\n")
    # The new port is the one recorded now, so the next `up` keeps it.
    _down(lab_root)
    third, _ = _up(lab_root)
    assert third == second
