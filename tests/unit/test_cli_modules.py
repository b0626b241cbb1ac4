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
PARTS = {"cri_show": "cri", "cri_lifecycle": "cri", "wasteview": "layers"}


def family(module: str) -> str:
    return PARTS.get(module, module)


def cli_imports(path: Path) -> set[str]:
    """The sibling modules of ocix/cli that `path` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_every_cli_module_is_a_helper_a_part_or_a_command() -> None:
    names = {p.stem for p in CLI.glob("*.py")}
    assert HELPERS - {"hints"} <= names
    assert set(PARTS) <= names


def test_no_command_module_imports_another() -> None:
    bad = []
    for path in sorted(CLI.glob("*.py")):
        me = path.stem
        for other in sorted(cli_imports(path)):
            if other in HELPERS or other == me:
                continue
            if other in PARTS and family(other) == family(me):
                continue
            bad.append(f"{path.name} imports .{other}")
    assert bad == []


def test_the_import_check_sees_a_command_importing_a_command(tmp_path: Path) -> None:
    f = tmp_path / "compare.py"
    f.write_text("from .run import parse_bytes\nfrom . import images\nfrom .options import x\n")
    assert cli_imports(f) == {"run", "images", "options"}


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
