"""Root conftest: the helpers live in tests/helpers.py so test modules can import them."""

from tests.helpers import is_root, run_cli

__all__ = ["is_root", "run_cli"]
