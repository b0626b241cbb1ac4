"""The scanner against containerd: random layer stacks (tests/layergrammar.py) pushed to the lab
registry and pulled.  Whenever containerd refuses to unpack one, the scanner must have flagged
an entry of the refused layer, the error must name it, and nothing may be left behind.

Bounded for CI: OCIX_PROPERTY_CONTAINERD_EXAMPLES examples (15 by default) from the fixed seed
OCIX_PROPERTY_SEED (16 by default)."""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, seed, settings

from ocix.containerd import leases, snapshots
from ocix.containerd.connection import Connection
from ocix.errors import OcixError
from ocix.jobs.images.pull import PullOptions, pull
from ocix.lab.state import LabState
from tests.hostile import D, F, H, Member, S, push_stack
from tests.layergrammar import property_seed, stacks
from tests.unit.test_scanner_vs_tar import scanner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EXAMPLES = int(os.environ.get("OCIX_PROPERTY_CONTAINERD_EXAMPLES", "15"))
SEED = property_seed()
_count = itertools.count()
REFUSED = re.compile(r"containerd refused to unpack layer (\d+) of \d+ \(sha256:[0-9a-f]{64}\)")


@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(stack=stacks)
@example(stack=[[("a/", D, ""), ("a/.wh...", F, "")]])  # containerd: invalid whiteout name
@example(stack=[[("a", F, "")], [("h", H, "a")]])  # a hardlink across layers
@example(stack=[[("a", S, "b"), ("b", S, "a"), ("a/x", F, "")]])  # too many links
# Found by this test: a directory entry replaced later in its layer (containerd sets directory
# times at the end), and a symlink loop whose name has `..` (containerd clamps it at the root).
@example(stack=[[("a/a", F, ""), ("a/a/", D, ""), ("a", F, "")]])
@example(stack=[[("../a", S, "a")], [("a/a", F, "")]])
def test_whatever_containerd_refuses_the_scanner_flags(
        lab: LabState, nsconn: Connection, stack: list[list[Member]]) -> None:
    with tempfile.TemporaryDirectory() as work:
        ref, _ = push_stack(lab.registry, Path(work), f"property/s{next(_count)}", stack)
    found = scanner(stack)
    try:
        pull(nsconn, ref, PullOptions(hosts_dir=lab.hosts_dir))
    except OcixError as e:
        m = REFUSED.search(e.message)
        assert m, e.message
        layer = int(m.group(1))
        assert [h for h in found if h.layer == layer], \
            f"containerd refused layer {layer}; the scanner saw nothing in it: {e.message}"
        assert ": entry '" in e.message
        assert leases.list_leases(nsconn) == []
        assert [s.name for s in snapshots.list_snapshots(nsconn) if s.kind == "active"] == []
