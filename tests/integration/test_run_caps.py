"""--cap-add against this machine's bounding set: ALL works, a cap it cannot grant is named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ocix.containerd import containers, snapshots, tasks
from ocix.containerd.connection import Connection
from ocix.jobs.images.pull import PullOptions, pull
from ocix.kernel.caps import CAP_NAMES, bounding_set
from ocix.lab.state import LabState
from tests.helpers import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def pulled(lab: LabState, ns_env: dict[str, str], nsconn: Connection) -> Iterator[dict[str, str]]:
    pull(nsconn, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
    yield ns_env
    left = [c.id for c in containers.list_containers(nsconn)]
    for c in left:
        tasks.force_remove(nsconn, c)
        snapshots.remove(nsconn, c)
        containers.delete(nsconn, c)
    assert left == [], f"left behind: {left}"


def test_cap_add_all_grants_the_whole_bounding_set(pulled: dict[str, str]) -> None:
    bounding = bounding_set()
    assert bounding is not None
    r = run_cli(["run", "--rm", "--cap-add", "ALL", "busybox", "grep", "CapEff", "/proc/self/status"],
                env=pulled)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout == f"CapEff:\t{bounding & ((1 << len(CAP_NAMES)) - 1):016x}\n"


def test_a_cap_outside_the_bounding_set_is_refused_before_anything_is_created(
        pulled: dict[str, str], nsconn: Connection) -> None:
    bounding = bounding_set()
    assert bounding is not None
    missing = [n for i, n in enumerate(CAP_NAMES) if not bounding >> i & 1]
    if not missing:
        pytest.skip("this machine's bounding set holds every known capability")
    r = run_cli(["run", "--rm", "--name", "capped", "--cap-add", missing[0], "busybox", "true"],
                env=pulled)
    assert r.exit_code == 1
    assert r.stderr == (f"Error: cannot add {missing[0]}: not in this process's bounding set "
                        f"(CapBnd {bounding:016x}), so the runtime cannot grant it\n"
                        "Hint: --cap-add ALL adds every capability that can be granted\n")
    assert containers.list_containers(nsconn) == []
    assert [s.name for s in snapshots.list_snapshots(nsconn) if s.kind == "active"] == []
