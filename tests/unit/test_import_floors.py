"""Imports point down the floors docs/architecture.md names, and no modules import each other
in a loop (function-level imports count too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ocix"


def floors(doc: str) -> dict[str, int]:
    """package -> floor number, from the doc's table rows `| N | `a`, `b` | … |`."""
    out: dict[str, int] = {}
    for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", doc, re.M):
        for name in re.findall(r"`([\w.]+)`", m.group(2)):
            out[name] = int(m.group(1))
    return out


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The ocix modules `path` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import sub` runs the package's __init__ too: it counts as an import of both.
            found.add(module)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if full in known:
                    found.add(full)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known and m != name}


def graph(root: Path) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py") if "_api" not in p.parts}
    return {name: imports_of(p, name, set(paths)) for name, p in paths.items()}


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward(edges: dict[str, set[str]], floor_of: dict[str, int]) -> list[str]:
    bad = []
    for a, targets in sorted(edges.items()):
        for b in sorted(targets):
            fa, fb = floor_of.get(top_package(a), 0), floor_of.get(top_package(b), 0)
            if fb > fa:
                bad.append(f"{a} (floor {fa}) imports {b} (floor {fb})")
    return bad


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a, targets in edges.items():
        for b in targets:
            if top_package(a) != top_package(b):
                out.setdefault(top_package(a), set()).add(top_package(b))
    return out


FLOORS = floors((ROOT / "docs" / "architecture.md").read_text())
EDGES = graph(PACKAGE)


def test_every_package_has_a_floor() -> None:
    packages = {top_package(m) for m in EDGES} - {""}
    assert sorted(packages - set(FLOORS)) == []


def test_no_upward_import() -> None:
    assert upward(EDGES, FLOORS) == []


def test_no_module_loop() -> None:
    assert loops(EDGES) == []


def test_no_package_loop() -> None:
    assert loops(package_graph(EDGES)) == []


def test_the_checks_catch_what_they_should(tmp_path: Path) -> None:
    pkg = tmp_path / "ocix"
    (pkg / "jobs").mkdir(parents=True)
    (pkg / "lab").mkdir()
    for d in (pkg, pkg / "jobs", pkg / "lab"):
        (d / "__init__.py").write_text("")
    (pkg / "jobs" / "a.py").write_text("from . import b\n")
    (pkg / "jobs" / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "lab" / "c.py").write_text("from ..jobs import a\n")
    edges = graph(pkg)
    assert loops(edges) == [["ocix.jobs.a", "ocix.jobs.b"]]
    assert upward(edges, {"jobs": 6, "lab": 5}) == [
        "ocix.lab.c (floor 5) imports ocix.jobs (floor 6)",
        "ocix.lab.c (floor 5) imports ocix.jobs.a (floor 6)"]
    # `from . import sub` in a module the package's __init__ imports is a loop too.
    (pkg / "lab" / "__init__.py").write_text("from .d import x\n")
    (pkg / "lab" / "d.py").write_text("from . import c\n")
    assert ["ocix.lab", "ocix.lab.d"] in loops(graph(pkg))
    assert floors("| 3 | `oci`, `validate` | x |\n| 1 | `errors` | y |") == {
        "oci": 3, "validate": 3, "errors": 1}
