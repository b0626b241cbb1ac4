"""Every integration test module carries the `integration` marker, so
`pytest -m "not integration"` runs the unit tests only."""

from __future__ import annotations

import ast
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"


def _is_integration_mark(node: ast.expr) -> bool:
    return ast.unparse(node) == "pytest.mark.integration"


def marked_integration(source: str) -> bool:
    """True if a module-level `pytestmark` is, or lists, `pytest.mark.integration`."""
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            value = stmt.value
            if isinstance(value, (ast.List, ast.Tuple)):
                return any(_is_integration_mark(e) for e in value.elts)
            return _is_integration_mark(value)
    return False


def test_the_check_tells_marked_from_unmarked() -> None:
    assert marked_integration("import pytest\npytestmark = pytest.mark.integration\n")
    assert marked_integration("pytestmark = [pytest.mark.integration, pytest.mark.timeout(9)]\n")
    assert not marked_integration("pytestmark = pytest.mark.timeout(9)\n")
    assert not marked_integration("def f():\n    pytestmark = pytest.mark.integration\n")
    assert not marked_integration("# pytestmark = pytest.mark.integration\n")


def test_every_integration_module_is_marked() -> None:
    modules = sorted(INTEGRATION.glob("test_*.py"))
    assert len(modules) >= 13
    assert [m.name for m in modules if not marked_integration(m.read_text())] == []
