"""Root conftest. Shared helpers live in tests/helpers.py (`from tests.helpers import run_cli`)."""
