"""`ocix lab up`'s last line names the `lab env` this shell must eval: with --dir when the lab
was started with a --dir that is not $OCIX_LAB_DIR, so the line works when pasted."""

from __future__ import annotations

import pytest

from ocix.cli.host.lab import env_command


def test_dir_given_on_the_command_line_is_in_the_next_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIX_LAB_DIR", raising=False)
    assert env_command("/tmp/g4-lab") == "ocix lab env --dir /tmp/g4-lab"
    assert env_command("/tmp/my lab") == "ocix lab env --dir '/tmp/my lab'"


def test_dir_from_the_environment_or_default_needs_no_flag(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIX_LAB_DIR", "/tmp/g4-lab")
    assert env_command("/tmp/g4-lab") == "ocix lab env"
    monkeypatch.delenv("OCIX_LAB_DIR")
    assert env_command(None) == "ocix lab env"
