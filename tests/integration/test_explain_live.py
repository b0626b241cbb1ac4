"""`ocix explain` against the running lab: its live marks agree with what the daemons say."""

from __future__ import annotations

import json

import pytest

from ocix.containerd import version
from ocix.containerd.connection import Connection
from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


def test_containerd_mark_shows_the_lab_daemon_and_its_version(
        lab: LabState, lab_env: dict[str, str]) -> None:
    r = run_cli(["explain", "containerd", "--json"], env=lab_env)
    assert r.exit_code == 0, r.stderr
    marks = {p["part"]: p for p in json.loads(r.stdout)["parts"]}
    with Connection(lab.containerd_socket) as conn:
        expected = version.get(conn).version
    m = marks["containerd"]
    assert (m["present"], m["running"], m["version"]) == (True, True, expected)
    assert m["detail"].startswith(f"answers on {lab.containerd_socket}; storage ")
    assert "overlayfs" in m["detail"]


def test_cri_mark_reads_the_cri_version(lab: LabState, lab_env: dict[str, str]) -> None:
    env = {**lab_env, "CONTAINER_RUNTIME_ENDPOINT": f"unix://{lab.containerd_socket}"}
    r = run_cli(["explain", "cri", "--json"], env=env)
    marks = {p["part"]: p for p in json.loads(r.stdout)["parts"]}
    cri = marks["CRI endpoint (containerd cri plugin)"]
    assert cri["running"] is True and cri["version"].endswith("(API v1)")


def test_every_command_of_every_topic_is_in_this_build() -> None:
    r = run_cli(["explain", "--json"])
    for t in json.loads(r.stdout)["topics"]:
        data = json.loads(run_cli(["explain", t["name"], "--json", "--no-live"]).stdout)
        assert [c for c in data["commands"] if not c["available"]] == [], t["name"]
