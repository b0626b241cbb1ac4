"""Every seeded lab image validates, from containerd and from the registry."""

from __future__ import annotations

import json

import pytest

from ocix.containerd.connection import Connection
from ocix.jobs.images.pull import PullOptions, pull
from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration

SEEDED = ["library/busybox:latest", "library/layers:latest", "library/multiarch:latest",
          "library/pause:3.6"]


@pytest.mark.parametrize("repo", SEEDED)
def test_seeded_image_validates_from_the_registry(lab: LabState, repo: str) -> None:
    r = run_cli(["validate", "ref", f"{lab.registry}/{repo}", "--json"])
    assert r.exit_code == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["valid"] is True and report["errors"] == 0


@pytest.mark.parametrize("repo", SEEDED)
def test_seeded_image_validates_from_containerd(lab: LabState, namespace: str, nsconn: Connection,
                                                repo: str) -> None:
    pulled = pull(nsconn, f"{lab.registry}/{repo}", PullOptions(all_platforms=True, unpack=False))
    r = run_cli(["-n", namespace, "validate", "image", pulled.name, "--json"],
                env={"CONTAINERD_ADDRESS": lab.containerd_socket})
    assert r.exit_code == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["valid"] is True


def test_docker_io_name_through_the_mirror(lab: LabState) -> None:
    r = run_cli(["validate", "ref", "busybox", "--hosts-dir", lab.hosts_dir])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout == "image busybox (registry): valid (0 errors, 0 warnings)\n"


def test_missing_image_in_containerd_is_one_line(lab: LabState) -> None:
    r = run_cli(["validate", "image", "nosuch"], env={"CONTAINERD_ADDRESS": lab.containerd_socket})
    assert r.exit_code == 1
    assert r.stderr == ("Error: no image 'nosuch' in namespace 'default'\n"
                        "Hint: `ocix pull nosuch` first, or see `ocix images ls`\n")
