"""Shared test helpers (import as `from tests.helpers import run_cli`)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping

from click.testing import CliRunner, Result

from ocix import trace
from ocix.cli.main import cli
from ocix.lab.state import LabState


def run_cli(args: list[str], env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    """Invoke the real `ocix` click app in-process; stdout and stderr are kept apart."""
    try:
        return CliRunner().invoke(cli, args, env=dict(env or {}), input=input, catch_exceptions=False)
    finally:
        trace.disable()  # --trace flips a process-wide switch


def ctr(lab: LabState, namespace: str, *args: str, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    """containerd's own `ctr` against the lab, in `namespace`; the caller checks the result."""
    return subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", namespace, *args],
                          capture_output=True, text=True, check=False, timeout=timeout)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0,
             interval: float = 0.05) -> None:
    """Poll `check` until it is true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def is_root() -> bool:
    return os.geteuid() == 0
