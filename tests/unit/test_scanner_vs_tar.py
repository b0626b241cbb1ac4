"""The scanner against a real extractor: GNU tar extracting random layer stacks naively, in a
private mount namespace and a chroot on a tmpfs (tests/naive_extract.py).  Whenever something
outside the root changed, the scanner must have called some entry hostile.

Bounded for CI: OCIX_PROPERTY_EXAMPLES examples (60 by default), from the fixed seed
OCIX_PROPERTY_SEED (16 by default; give another to explore).  Stacks that once failed are kept
below as @example cases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, seed, settings

from ocix.oci.fs import layerscan as ls
from tests.hostile import D, F, H, Member, S, make_tar
from tests.layergrammar import property_seed, stacks

HELPER = Path(__file__).resolve().parents[1] / "naive_extract.py"
EXAMPLES = int(os.environ.get("OCIX_PROPERTY_EXAMPLES", "60"))
SEED = property_seed()

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("tar"),
    reason="needs root, unshare and GNU tar (a private mount namespace per extraction)")


def scanner(stack: list[list[Member]]) -> list[ls.Hostile]:
    tree = ls.Tree()
    found: list[ls.Hostile] = []
    for members in stack:
        found += ls.scan_members(ls.tar_members(iter([make_tar(members)])), tree).hostile
    return found


def naive(stack: list[list[Member]]) -> dict[str, list[str]]:
    with tempfile.TemporaryDirectory(prefix="ocix-naive-") as work:
        paths = []
        for i, members in enumerate(stack):
            p = Path(work) / f"{i}.tar"
            p.write_bytes(make_tar(members))
            paths.append(str(p))
        top = Path(work) / "t"
        top.mkdir()
        r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                            str(HELPER), str(top), *paths],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        result: dict[str, list[str]] = json.loads(r.stdout)
        return result


def test_the_harness_sees_an_escape_and_a_clean_stack() -> None:
    assert naive([[("a/", D, ""), ("a/dir", S, "/tmp")], [("a/dir/x", F, "")]])["outside"] == [
        "/tmp/x"]
    assert naive([[("up", S, "../../..")], [("up/s0", F, "")]])["outside"] == ["/s0"]
    assert naive([[("h", H, "/s0")]])["outside"] == ["/s0"]  # its link count went up
    assert naive([[("a/", D, ""), ("a/f", F, "")], [("a/.wh.f", F, ""), ("b", S, "/etc")]]) == {
        "outside": [], "tar": []}


@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stacks)
# The classic escapes, each through another door: a lower layer's absolute symlink, a climbing
# chain in one layer, an absolute hardlink, a whiteout of '..', an opaque dir behind a symlink.
@example([[("a/", D, ""), ("a/dir", S, "/tmp")], [("a/dir/x", F, "")]])
@example([[("b", S, "c"), ("c", S, "../.."), ("b/s1", F, "")]])
@example([[("h", H, "/s0")]])
@example([[(".wh...", F, "")]])
@example([[("o", S, "../..")], [("o/.wh..wh..opq", F, "")]])
def test_whatever_tar_writes_outside_the_scanner_flags(stack: list[list[Member]]) -> None:
    out = naive(stack)["outside"]
    if out:
        assert scanner(stack), f"tar changed {out} outside the root; the scanner saw nothing"
