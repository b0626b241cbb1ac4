"""`ocix lab logs`: the end of a lab daemon's log, and one clear line for an unknown one."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_tail_of_a_component_log(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "dockerd.log").write_text("".join(f"line {i}\n" for i in range(30)))
    r = run_cli(["lab", "logs", "--dir", str(tmp_path), "dockerd", "-n", "3"])
    assert (r.exit_code, r.stdout) == (0, "line 27\nline 28\nline 29\n")


def test_unknown_component_names_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "containerd.log").write_text("x\n")
    r = run_cli(["lab", "logs", "--dir", str(tmp_path), "dockerd"])
    assert r.exit_code == 1
    assert r.stderr == (f"Error: no log for 'dockerd' in {tmp_path}/logs\n"
                        "Hint: logs: containerd\n")
