"""Root conftest. Shared helpers live in tests/helpers.py (`from tests.helpers import run_cli`)."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """`pytest --hypothesis-seed=N` also reseeds the property tests that pin their seed
    (OCIX_PROPERTY_SEED, read when their modules are imported, after this hook)."""
    forced = config.getoption("hypothesis_seed", default=None)
    if forced is not None:
        os.environ["OCIX_PROPERTY_SEED"] = str(forced)
