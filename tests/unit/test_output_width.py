"""What ocix prints fits the terminal: COLUMNS when piped, 80 by default (docs/architecture.md).

Each listing is rendered at COLUMNS=80 (and at 100 for the wide ones) and its longest
line measured; rows and words must all still be there.
"""

from __future__ import annotations

import re

import pytest

from ocix.cli.output import column_widths, wrap_paragraph, wrap_value
from ocix.teach import explain
from tests.helpers import run_cli


def longest(text: str) -> int:
    return max((len(ln.rstrip()) for ln in text.splitlines()), default=0)


def test_column_widths_shrink_word_columns_and_keep_ids_whole() -> None:
    rows = [["sha256:" + "a" * 64, "a long note that can wrap over several lines easily"]]
    widths, wrapped = column_widths(["DIGEST", "NOTE"], rows, 100)
    assert widths == [71, 100 - 71 - 3] and wrapped == [False, True]
    widths, wrapped = column_widths(["DIGEST", "NOTE"], rows, 200)
    assert widths == [71, 51] and wrapped == [False, False]


def test_paragraphs_wrap_with_a_hanging_indent() -> None:
    text = wrap_paragraph("What it showed: " + "word " * 40, 40)
    lines = text.splitlines()
    assert longest(text) <= 40 and len(lines) > 3
    assert lines[0].startswith("What it showed: ") and all(ln.startswith("  ") for ln in lines[1:])
    digest = "sha256:" + "b" * 64
    assert f"  {digest}" in wrap_paragraph(f"see {digest} here", 40).splitlines()  # never cut


def test_values_break_after_commas_but_never_inside_a_word() -> None:
    labels = ",".join(f"containerd.io/gc.ref.content.l.{i}=sha256:{'c' * 64}" for i in range(3))
    lines = wrap_value(labels, 60)
    assert "".join(lines) == labels and len(lines) == 6
    assert lines[:2] == ["containerd.io/gc.ref.content.l.0=", f"sha256:{'c' * 64},"]  # whole
    assert wrap_value("native, overlayfs", 40) == ["native, overlayfs"]


def test_tour_list_fits_and_shows_no_module_names_or_placeholders() -> None:
    for columns in ("80", "100"):
        r = run_cli(["tour", "--list"], env={"COLUMNS": columns})
        assert r.exit_code == 0, r.output
        assert longest(r.stdout) <= int(columns), r.stdout
    assert not re.search(r"\bocix\.[a-z]", r.stdout)
    assert "{" not in r.stdout and "}" not in r.stdout
    assert "ocix kernel --pid PID" in r.stdout  # step 11's filled value, named


@pytest.mark.parametrize("name", explain.topic_names())
def test_explain_fits_80_columns(name: str) -> None:
    r = run_cli(["explain", name, "--no-live"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert longest(r.stdout) <= 80, max(r.stdout.splitlines(), key=len)
    words = " ".join(explain.load(name).text.split())
    assert words in " ".join(r.stdout.split())  # re-flowed, nothing lost


def test_explain_live_marks_fit_80_columns() -> None:
    r = run_cli(["explain", "capabilities"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert longest(r.stdout) <= 80, max(r.stdout.splitlines(), key=len)
    assert "00000000000005fb (9)" in r.stdout


def test_info_fits_80_and_100_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocix.jobs.host import info as hostinfo
    from ocix.jobs.host.daemons import Daemon
    from ocix.kernel.host import CgroupLayout, Lsm, Seccomp

    h = hostinfo.HostInfo(
        "6.1", CgroupLayout("hybrid", "/sys/fs/cgroup/unified", ["cpu", "memory", "pids"],
                            ["hugetlb"]), Seccomp(True, True, ["kill_process", "errno"]),
        Lsm(False, None, False), [],
        [Daemon("containerd", "/tmp/ocix-lab-xyz/containerd.sock", "running", "1.6.20~ds1",
                storage=["native", "overlayfs"], pid=4242),
         Daemon("cri-o", "/var/run/crio/crio.sock", "absent",
                note="no socket at /var/run/crio/crio.sock"),
         Daemon("podman", "/usr/bin/podman (system config)", "not initialised", "4.3.1",
                note="its storage does not exist yet; asking `podman info` would create "
                     "/var/lib/containers/storage")])
    monkeypatch.setattr(hostinfo, "host_info", lambda *a: h)
    for columns in (80, 100):
        r = run_cli(["info"], env={"COLUMNS": str(columns)})
        assert r.exit_code == 0, r.output
        assert longest(r.stdout) <= columns, max(r.stdout.splitlines(), key=len)
        flat = " ".join(r.stdout.split())
        assert "its storage does not exist yet; asking `podman info` would create" in flat
        assert "/tmp/ocix-lab-xyz/containerd.sock" in r.stdout  # whole, on one line


def test_lab_status_fits_80_and_100_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocix.lab import lab as labmod

    st = labmod.LabStatus("/tmp/ocix-lab-xyz", True, [
        labmod.ComponentStatus("registry", 41, True, "http://127.0.0.1:50855", "2.8.2+ds1", ""),
        labmod.ComponentStatus("containerd", 42, True, "/tmp/ocix-lab-xyz/containerd.sock",
                               "1.6.20~ds1 (1.6.20~ds1-1+deb12u3)", "log"),
        labmod.ComponentStatus("dockerd", 43, True, "unix:///tmp/ocix-lab-xyz/docker.sock",
                               "20.10.24+dfsg1 (API 1.41)", "log")],
        ["127.0.0.1:50855/library/busybox:latest"])
    monkeypatch.setattr(labmod, "status", lambda directory=None: st)
    for columns in (80, 100):
        r = run_cli(["lab", "status"], env={"COLUMNS": str(columns)})
        assert r.exit_code == 0, r.output
        assert longest(r.stdout) <= columns, r.stdout
        assert "unix:///tmp/ocix-lab-xyz/docker.sock" in r.stdout
