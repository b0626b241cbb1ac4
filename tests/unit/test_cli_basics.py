"""The CLI's contract: help everywhere, one-line errors, exit codes, lean start-up."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

import ocix.cli
from ocix.cli.main import COMMANDS, cli
from tests.helpers import run_cli

CTX = click.Context(cli)


def sub(group: click.Group, name: str) -> click.Command:
    cmd = group.get_command(CTX, name)
    assert cmd is not None, name
    return cmd


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name in group.list_commands(CTX):
        cmd = sub(group, name)
        path = (*prefix, name)
        out.append(path)
        if isinstance(cmd, click.Group):
            out.extend(all_commands(cmd, path))
    return out


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    r = run_cli([*path, "--help"])
    assert r.exit_code == 0, r.output
    cmd: click.Command = cli
    for part in path:
        assert isinstance(cmd, click.Group)
        cmd = sub(cmd, part)
    assert cmd.help and len(cmd.help.strip()) > 10, f"{' '.join(path)} has no help text"


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_a_one_line_summary_and_examples(path: tuple[str, ...]) -> None:
    """Every command and subcommand of the tree COMMANDS loads: a summary line, and an
    `Examples:` block that click prints line by line (a \\b paragraph), not re-wrapped."""
    cmd: click.Command = cli
    for part in path:
        assert isinstance(cmd, click.Group)
        cmd = sub(cmd, part)
    name = " ".join(path)
    summary = (cmd.help or "").strip().split("\n\n")[0]
    assert "\n" not in summary and summary.endswith(".") and len(summary) <= 100, \
        f"{name}: the summary is not one line ending in '.': {summary!r}"
    assert re.search(r"\x08\n *Examples:\n +\S", cmd.help or ""), f"{name}: no \\b Examples: block"
    lines = run_cli([*path, "--help"]).stdout.splitlines()
    at = lines.index("  Examples:")
    examples = [ln for ln in lines[at + 1:] if ln.startswith("    ")]
    assert examples and lines[at + 1] == examples[0], f"{name}: an empty Examples: block"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_lazy_summary_is_the_first_line_of_the_commands_help(name: str) -> None:
    """The summary is written once, in COMMANDS: `ocix NAME --help` shows it first, and the
    command's own docstring does not repeat it."""
    module, _, summary = COMMANDS[name]
    assert summary == sub(cli, name).get_short_help_str(limit=500)
    lines = run_cli([name, "--help"]).stdout.splitlines()
    assert lines[0].startswith(f"Usage: cli {name} ") and lines[1] == ""
    first = lines[2:lines.index("", 2)]
    assert " ".join(ln.strip() for ln in first) == summary
    source = (Path(ocix.cli.__file__).parent / f"{module.replace('.', '/')}.py").read_text()
    assert summary not in source


def test_top_level_help_lists_every_command_in_order() -> None:
    out = run_cli(["--help"]).stdout
    positions = [out.index(f"  {name} ") for name in COMMANDS]
    assert positions == sorted(positions)


def test_missing_socket_is_one_line_with_hint_and_exit_2(tmp_path: object) -> None:
    r = run_cli(["--address", "/nonexistent/containerd.sock", "version"])
    assert r.exit_code == 2
    assert r.stderr == ("Error: containerd socket /nonexistent/containerd.sock does not exist\n"
                        "Hint: start the lab with `ocix lab up`, then `eval \"$(ocix lab env)\"`, "
                        "or pass --address\n")
    assert r.stdout == ""


def test_env_address_is_used() -> None:
    r = run_cli(["plugins"], env={"CONTAINERD_ADDRESS": "/nope.sock"})
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: containerd socket /nope.sock does not exist\n")


def test_not_a_socket(tmp_path: object) -> None:
    r = run_cli(["--address", "/etc/hostname", "namespaces", "ls"])
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "Error: /etc/hostname is not a unix socket"


def test_bad_usage_is_exit_2() -> None:
    r = run_cli(["pull"])
    assert r.exit_code == 2
    assert "Missing argument 'REF'" in r.stderr
    r = run_cli(["pull", "BAD REF"])
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == "Error: invalid reference 'BAD REF': no scheme or spaces allowed"


def test_namespace_label_must_be_key_value() -> None:
    r = run_cli(["--address", "/nope.sock", "namespaces", "create", "x", "--label", "novalue"])
    assert r.exit_code == 2
    assert "'novalue' is not KEY=VALUE" in r.stderr


def test_help_imports_no_grpc_rich_or_oras() -> None:
    code = ("import sys; from ocix.cli.main import cli\n"
            "cli(['--help'], standalone_mode=False)\n"
            "heavy = [m for m in ('grpc', 'rich', 'oras', 'requests', 'jsonschema', 'google.protobuf', "
            "'ocix.cli.containers.run', 'ocix.cli.images.images', 'ocix.cli.images.validate', 'ocix.containerd.connection') "
            "if m in sys.modules]\n"
            "print(','.join(heavy), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands:" in out.stdout
    assert out.stderr.strip() == ""


def test_console_entry_point_exit_codes_and_flushing() -> None:
    """`python -m ocix` goes through ocix.cli.main(), which ends with os._exit after flushing."""
    ok = subprocess.run([sys.executable, "-m", "ocix", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("Usage: ocix [OPTIONS] COMMAND [ARGS]...")
    bad = subprocess.run([sys.executable, "-m", "ocix", "-a", "/nope.sock", "version"],
                         capture_output=True, text=True)
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.startswith("Error: containerd socket /nope.sock does not exist\n")
    usage = subprocess.run([sys.executable, "-m", "ocix", "nosuch"], capture_output=True, text=True)
    assert usage.returncode == 2 and "No such command 'nosuch'" in usage.stderr


PIPE_BUFFER = 64 << 10  # Linux's default pipe capacity


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
@pytest.mark.parametrize("output", [["--json"], []], ids=["json", "table"])
def test_closed_pipe_is_not_a_traceback(tmp_path: Path, output: list[str], unbuffered: bool) -> None:
    """`ocix validate FILE | head -c 10`: the reader leaves while ocix is still writing.

    Buffered stdout, as a user's shell gives it, and PYTHONUNBUFFERED, where a large write that
    the reader cuts short returns a short count instead of EPIPE: ocix writes the rest, meets
    EPIPE, and exits 1 quietly instead of 0 with its output cut."""
    # A valid manifest whose 3000 annotation keys each draw a warning: a large report, exit 0.
    doc = tmp_path / "manifest.json"
    doc.write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + "a" * 64, "size": 2},
        "layers": [], "annotations": {f"key{i}": "v" for i in range(3000)}}))
    argv = [sys.executable, "-m", "ocix", "validate", str(doc), *output]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    full = subprocess.run(argv, capture_output=True, timeout=60, check=False, env=env)
    assert (full.returncode, full.stderr) == (0, b"")
    assert len(full.stdout) > 4 * PIPE_BUFFER  # more than the pipe holds: the writer blocks

    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.read(10) == full.stdout[:10]
    p.stdout.close()
    err = p.stderr.read()
    p.stderr.close()
    # The BrokenPipe branch: nothing on stderr (no traceback, no "Exception ignored"), exit 1.
    assert (p.wait(timeout=60), err) == (1, b"")


class ShortWriter(io.RawIOBase):
    """A raw stdout that takes at most 5 bytes a call, and refuses once its reader has left."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.data, self.room = b"", room

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.room <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        n = min(5, len(b), self.room)
        self.data += bytes(b[:n])
        self.room -= n
        return n


def test_write_all_loops_over_short_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocix.cli.output import print_json, write_all

    raw = ShortWriter(room=1 << 20)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))  # type: ignore[type-var]
    write_all(b"0123456789abcdef")
    print_json({"k": "v"})
    assert raw.data == b'0123456789abcdef{\n  "k": "v"\n}\n'
    raw.room = 3  # the reader leaves after 3 more bytes
    with pytest.raises(BrokenPipeError):
        write_all(b"0123456789")
    assert raw.data.endswith(b"}\n012")


def test_lab_status_shows_no_pid_for_daemonless_podman(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocix.lab import lab as labmod

    st = labmod.LabStatus("/lab", True, [
        labmod.ComponentStatus("containerd", 42, True, "/lab/containerd.sock", "1.6.20", "log"),
        labmod.ComponentStatus("podman", None, True, "/lab/podman/root", "4.3.1", "")])
    monkeypatch.setattr(labmod, "status", lambda directory=None: st)
    rows = [ln.split() for ln in run_cli(["lab", "status"]).stdout.splitlines()]
    assert ["containerd", "42", "running", "/lab/containerd.sock", "1.6.20"] in rows
    assert ["podman", "-", "running", "/lab/podman/root", "4.3.1"] in rows
    comps = json.loads(run_cli(["lab", "status", "--json"]).stdout)["components"]
    assert [(c["name"], c["pid"]) for c in comps] == [("containerd", 42), ("podman", None)]
