"""`ocix validate` on the CLI: exact messages and exit codes, and no traceback for any input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ocix.cli.main import cli
from tests.unit.test_validate_image import Layout, manifest
from tests.unit.test_validate_runtime import base


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["validate", *args], input=stdin)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    return r.exit_code, r.stdout, r.stderr


def bundle(tmp_path: Path, doc: dict | None = None) -> Path:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(doc if doc is not None else base()))
    return tmp_path


def test_valid_bundle_exit_0_with_verdict(tmp_path: Path) -> None:
    code, out, _ = run(str(bundle(tmp_path)))
    assert code == 0
    assert out == f"bundle {tmp_path}: valid (0 errors, 0 warnings)\n"


def test_invalid_bundle_exit_1_grouped(tmp_path: Path) -> None:
    doc = base()
    doc["process"]["cwd"] = "tmp"
    del doc["process"]["capabilities"]["inheritable"]
    code, out, _ = run(str(bundle(tmp_path, doc)))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "Errors (1)"
    assert lines[1] == "  config.json /process/cwd: cwd 'tmp' is not an absolute path"
    assert "Warnings (1)" in lines
    assert lines[-1] == f"bundle {tmp_path}: invalid (1 error, 1 warning)"


def test_json_output(tmp_path: Path) -> None:
    doc = base()
    doc["process"]["args"] = 5
    code, out, _ = run(str(bundle(tmp_path, doc)), "--json")
    assert code == 1
    data = json.loads(out)
    assert {k: data[k] for k in ("target", "kind", "valid", "errors", "warnings")} == {
        "target": str(tmp_path), "kind": "bundle", "valid": False, "errors": 1, "warnings": 0}
    assert data["findings"][0] == {
        "severity": "error", "pointer": "/process/args", "message": "5 is not of type 'array'",
        "spec": "runtime-spec config.md#process", "hint": "change the value to the JSON type the spec names",
        "rule": "schema.type", "location": "config.json"}


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    assert run(str(bundle(tmp_path)), "--quiet") == (0, "", "")


def test_bundle_without_config_is_exit_1(tmp_path: Path) -> None:
    code, out, _ = run(str(tmp_path))
    assert code == 1
    assert f"{tmp_path} has no config.json (and no oci-layout file)" in " ".join(out.split())


def test_stdin_and_detection() -> None:
    code, out, _ = run("-", stdin=json.dumps(manifest()).encode())
    assert (code, out) == (0, "manifest -: valid (0 errors, 0 warnings)\n")


def test_kind_forces(tmp_path: Path) -> None:
    code, out, _ = run("-", "--kind", "index", stdin=json.dumps(manifest()).encode())
    assert code == 1
    assert "'manifests' is a required property" in out


def test_layout_dir(tmp_path: Path) -> None:
    Layout(tmp_path)
    assert run(str(tmp_path)) == (0, f"layout {tmp_path}: valid (0 errors, 0 warnings)\n", "")


@pytest.mark.parametrize(("data", "rule"), [
    (b"{not json", "doc.not-json"),
    (b"\x00\xff\xfe binary junk \x89PNG", "doc.not-utf8"),
    (b"[" * 100_000 + b"]" * 100_000, "doc.too-deep"),
    (b'{"a":' * 200 + b"1" + b"}" * 200, "doc.too-deep"),
    (b"NaN", "doc.not-json"),
    (b"42", "doc.unknown-kind"),
    (b'{"hello": "world"}', "doc.unknown-kind"),
])
def test_bad_input_is_exit_1_never_a_traceback(data: bytes, rule: str) -> None:
    code, out, _ = run("-", "--json", stdin=data)
    assert code == 1
    assert [f["rule"] for f in json.loads(out)["findings"]] == [rule]


def test_huge_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate((64 << 20) + 10)
    code, out, _ = run(str(big), "--json")
    assert code == 1
    assert json.loads(out)["findings"][0]["rule"] == "doc.too-large"


def test_missing_path_is_exit_2() -> None:
    code, _, err = run("/nonexistent/x.json")
    assert code == 2
    assert err.startswith("Error: /nonexistent/x.json: no such file or directory\n")


def test_unreadable_dir_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(path: object) -> list[str]:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("ocix.validate.targets.os.listdir", deny)  # works as root too
    code, _, err = run(str(tmp_path))
    assert code == 2
    assert err == f"Error: cannot read {tmp_path}: Permission denied\nHint: check the path and its permissions\n"


def test_unreadable_file_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "m.json"
    f.write_text("{}")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("builtins.open", deny)
    code, _, err = run(str(f))
    assert code == 2
    assert err == f"Error: cannot read {f}: Permission denied\nHint: check the path and its permissions\n"


def test_extra_argument_is_usage_error() -> None:
    code, _, err = run("foo.json", "bar")
    assert code == 2
    assert err.startswith("Error: unexpected extra argument 'bar'\n")


def test_ref_to_a_closed_port_is_unreachable_exit_2() -> None:
    code, out, err = run("ref", "127.0.0.1:1/x:1")
    assert (code, out) == (2, "")
    assert err == "Error: cannot reach registry 127.0.0.1:1: connection refused\nHint: is the registry running?\n"


def test_help_has_examples() -> None:
    r = CliRunner().invoke(cli, ["validate", "--help"])
    assert r.exit_code == 0
    assert "Examples:" in r.stdout and "ocix validate image" in r.stdout


def test_findings_wrap_to_the_width(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A 171-column finding at COLUMNS=80 before; the location stays on the first line."""
    from ocix.cli.images.validate import render
    from ocix.validate.findings import Finding, Report, Severity

    monkeypatch.setenv("COLUMNS", "80")
    f = Finding(Severity.WARNING, "/process/capabilities/ambient",
                "ambient capabilities not in both permitted and inheritable will not be raised: "
                "CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE",
                "runtime-spec config.md#linux-process",
                "add them to inheritable (and permitted), or drop them from ambient",
                "runtime.capabilities.ambient", "config.json")
    render(Report("bundle", "/tmp/s", [f]))
    assert capsys.readouterr().out.splitlines() == [
        "Warnings (1)",
        "  config.json /process/capabilities/ambient: ambient capabilities not in both",
        "    permitted and inheritable will not be raised: CAP_AUDIT_WRITE, CAP_KILL,",
        "    CAP_NET_BIND_SERVICE",
        "      runtime-spec config.md#linux-process [runtime.capabilities.ambient]",
        "      hint: add them to inheritable (and permitted), or drop them from ambient",
        "bundle /tmp/s: valid (0 errors, 1 warning)"]
