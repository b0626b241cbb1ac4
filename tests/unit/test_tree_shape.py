"""The tree reads as its features (docs/architecture.md): every package's docstring says what it
is, modules stay under 400 lines, and no module reaches for another module's _private names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "ocix"
MAX_LINES = 400


def sources(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "_api" not in p.relative_to(root).parts)


def packages(root: Path = ROOT) -> list[Path]:
    return sorted({p.parent for p in sources(root)})


def private_imports(path: Path) -> list[str]:
    """`from M import _x` anywhere in `path`, and imports of a _module outside its package."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = "." * node.level + (node.module or "")
        out += [f"{path.name}:{node.lineno} {module} {a.name}" for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")]
        parts = (node.module or "").split(".")
        # a package's own private module (`from ._convert import x`) is its business
        if any(p.startswith("_") and p != "__future__" for p in parts) and node.level != 1:
            out.append(f"{path.name}:{node.lineno} {module}")
    return out


def test_every_package_says_what_it_is() -> None:
    bad = []
    for d in packages():
        init = d / "__init__.py"
        if not init.exists() or not ast.get_docstring(ast.parse(init.read_text())):
            bad.append(str(d.relative_to(ROOT.parent)))
    assert bad == []


def test_modules_stay_under_400_lines() -> None:
    long = {str(p.relative_to(ROOT.parent)): n for p in sources()
            if (n := len(p.read_text().splitlines())) >= MAX_LINES}
    assert long == {}


def test_no_module_imports_private_names() -> None:
    found = [f"{p.relative_to(ROOT.parent)}: {x}" for p in sources() for x in private_imports(p)]
    assert found == []


def test_the_checks_catch_what_they_should(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from .b import _hidden, shown\n"
                                   "from ..c._impl import x\nfrom ._own import y\n")
    assert private_imports(tmp_path / "a.py") == ["a.py:1 .b _hidden", "a.py:2 ..c._impl"]
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    assert packages(tmp_path) == [tmp_path, tmp_path / "pkg"]
