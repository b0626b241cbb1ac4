"""Bundles made on the fly by `runc spec`, `runc spec --rootless` and `crun spec` validate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocix.cli.main import cli

pytestmark = pytest.mark.integration

SPECS = [("runc", ["runc", "spec"]), ("runc-rootless", ["runc", "spec", "--rootless"]),
         ("crun", ["crun", "spec"])]


def make_bundle(tmp_path: Path, argv: list[str]) -> Path:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    subprocess.run(argv, cwd=tmp_path, check=True, capture_output=True, timeout=30)
    (tmp_path / "rootfs").mkdir()
    return tmp_path


@pytest.mark.parametrize(("name", "argv"), SPECS, ids=[s[0] for s in SPECS])
def test_generated_bundle_validates_with_ambient_warning(tmp_path: Path, name: str, argv: list[str]) -> None:
    bundle = make_bundle(tmp_path, argv)
    r = CliRunner().invoke(cli, ["validate", str(bundle), "--json"])
    assert r.exit_code == 0, r.stdout
    data = json.loads(r.stdout)
    assert (data["valid"], data["errors"], data["kind"]) == (True, 0, "bundle")
    cfg = json.loads((bundle / "config.json").read_text())
    caps = cfg["process"]["capabilities"]
    expect_ambient = bool(set(caps.get("ambient", [])) - (set(caps.get("permitted", []))
                                                          & set(caps.get("inheritable", []))))
    rules = [f["rule"] for f in data["findings"]]
    assert rules == (["runtime.capabilities.ambient"] if expect_ambient else [])


@pytest.mark.parametrize(("name", "argv"), SPECS, ids=[s[0] for s in SPECS])
def test_generated_bundle_without_rootfs_is_invalid(tmp_path: Path, name: str, argv: list[str]) -> None:
    bundle = make_bundle(tmp_path, argv)
    (bundle / "rootfs").rmdir()
    r = CliRunner().invoke(cli, ["validate", str(bundle)])
    assert r.exit_code == 1
    assert "root.path 'rootfs' does not exist in the bundle" in r.stdout


def test_cli_subprocess_on_runc_bundle(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, ["runc", "spec", "-b", str(tmp_path)])
    venv_ocix = Path(__file__).parents[2] / ".venv" / "bin" / "ocix"
    ocix = str(venv_ocix) if venv_ocix.exists() else (shutil.which("ocix") or "ocix")
    p = subprocess.run([ocix, "validate", str(bundle)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == f"bundle {bundle}: valid (0 errors, 1 warning)"
    assert "Traceback" not in p.stderr
