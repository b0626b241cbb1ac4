"""No command module of ocix/cli imports another: what two commands share lives in a helper
module (options, output, progress, hints, main), named here explicitly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ocix.cli.options import key_value_pairs, parse_bytes

CLI = Path(__file__).resolve().parents[2] / "ocix" / "cli"

# Modules that hold no command of their own: any command module may import them.
HELPERS = {"__init__", "main", "options", "output", "progress", "hints"}
# Modules that are pieces of one command (split to stay short): only that command's modules
# may import them.
PARTS = {"cri.show": "cri.commands", "cri.lifecycle": "cri.commands",
         "images.wasteview": "images.layers"}


def family(module: str) -> str:
    return PARTS.get(module, module)


def module_of(path: Path, root: Path = CLI) -> str:
    """ocix/cli/images/layers.py -> "images.layers"; a package's __init__ -> its name."""
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    return name.removesuffix(".__init__") if name != "__init__" else name


def cli_imports(path: Path, root: Path = CLI) -> set[str]:
    """The modules of ocix/cli that `path` imports, anywhere in it, as `module_of` names."""
    package = module_of(path, root).split(".")[:-1] if path.name != "__init__.py" else \
        module_of(path, root).split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        up = node.level - 1
        if up > len(package):
            continue  # above ocix/cli: another package of ocix
        base = package[:len(package) - up]
        if node.module:
            found.add(".".join([*base, *node.module.split(".")]))
        else:
            found.update(".".join([*base, alias.name]) for alias in node.names)
    known = {module_of(p, root) for p in root.rglob("*.py")}
    out = set()
    for name in found:  # `from .images.layers import x` names a module; `from .x import f` too
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.add(name)
    return out


def modules() -> list[Path]:
    return sorted(p for p in CLI.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_cli_module_is_a_helper_a_part_or_a_command() -> None:
    names = {module_of(p) for p in modules()}
    assert HELPERS - {"hints"} <= names
    assert set(PARTS) <= names


def test_no_command_module_imports_another() -> None:
    bad = []
    for path in modules():
        me = module_of(path)
        for other in sorted(cli_imports(path)):
            if other in HELPERS or other == me or other.endswith("__init__"):
                continue
            if other in PARTS and family(other) == family(me):
                continue
            if path.name == "__init__.py":
                continue
            bad.append(f"{me} imports {other}")
    assert bad == []


def test_the_import_check_sees_a_command_importing_a_command(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    for name in ("run.py", "options.py", "images/__init__.py", "images/layers.py"):
        (tmp_path / name).write_text("")
    f = tmp_path / "images" / "layers.py"
    f.write_text("from ..run import parse_bytes\nfrom .. import options\n"
                 "from ...registry import auth\n")
    assert cli_imports(f, tmp_path) == {"run", "options"}
    g = tmp_path / "compare.py"
    g.write_text("from .images.layers import x\nfrom .options import y\n")
    assert cli_imports(g, tmp_path) == {"images.layers", "options"}


def test_key_value_pairs_is_a_usage_error_on_the_option() -> None:
    assert key_value_pairs(("a=1", "b=", "c=x=y")) == {"a": "1", "b": "", "c": "x=y"}
    for bad in ("novalue", "=v"):
        with pytest.raises(click.BadParameter) as e:
            key_value_pairs((bad,), "--label")
        assert e.value.format_message() == f"Invalid value for --label: {bad!r} is not KEY=VALUE"


def test_parse_bytes_refuses_what_is_not_a_size() -> None:
    with pytest.raises(click.BadParameter) as e:
        parse_bytes("lots")
    assert e.value.message == "'lots' is not a size like 67108864, 64m or 1g"


def test_top_level_help_imports_no_command_module() -> None:
    code = ("import sys; from ocix.cli.main import cli\n"
            "cli(['--help'], standalone_mode=False)\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('ocix.cli.'))),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout
    loaded = {m.removeprefix("ocix.cli.") for m in out.stderr.split()}
    assert loaded and loaded <= HELPERS, loaded - HELPERS
