"""Shared test helpers (import as `from tests.helpers import run_cli`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from click.testing import CliRunner, Result

from ocix import trace
from ocix.cli.main import cli


def run_cli(args: list[str], env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    """Invoke the real `ocix` click app in-process; stdout and stderr are kept apart."""
    try:
        return CliRunner().invoke(cli, args, env=dict(env or {}), input=input, catch_exceptions=False)
    finally:
        trace.disable()  # --trace flips a process-wide switch


def is_root() -> bool:
    return os.geteuid() == 0
