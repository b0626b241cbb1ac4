"""Chain IDs checked against containerd: the snapshots its own unpacker names (`ctr images pull`)
are the chain IDs ocix computes, and an ocix pull afterwards finds them instead of making new
ones (docs/containerd-protocol.md, "Unpack")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ocix.lab.state import LabState
from ocix.oci.digest import chain_ids
from tests.helpers import ctr, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def committed_stack(lab: LabState, namespace: str) -> list[str]:
    """`ctr snapshots ls`: the committed snapshots, bottom first, following the PARENT column."""
    out = ctr(lab, namespace, "snapshots", "ls")
    assert out.returncode == 0, out.stderr
    parent_of: dict[str, str] = {}
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[-1] == "Committed":
            parent_of[fields[0]] = fields[1] if len(fields) == 3 else ""
    child_of = {parent: key for key, parent in parent_of.items()}
    stack, top = [], ""
    while top in child_of:
        top = child_of[top]
        stack.append(top)
    assert len(stack) == len(parent_of), out.stdout  # one straight stack, nothing else
    return stack


def ctr_blob(lab: LabState, namespace: str, digest: str) -> Any:
    """A JSON blob as `ctr content get` reads it from containerd's content store."""
    out = ctr(lab, namespace, "content", "get", digest)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_chain_ids_are_the_snapshots_containerd_unpacks(lab: LabState, namespace: str,
                                                        ns_env: dict[str, str]) -> None:
    ref = f"{lab.registry}/library/layers:latest"
    pulled = ctr(lab, namespace, "images", "pull", "--hosts-dir", lab.hosts_dir, ref)
    assert pulled.returncode == 0, pulled.stderr
    (row,) = [line.split() for line in ctr(lab, namespace, "images", "ls").stdout.splitlines()
              if line.startswith(ref + " ")]
    manifest = ctr_blob(lab, namespace, row[2])
    diff_ids = ctr_blob(lab, namespace, manifest["config"]["digest"])["rootfs"]["diff_ids"]
    assert len(diff_ids) == 4

    containerd_stack = committed_stack(lab, namespace)
    assert chain_ids(diff_ids) == containerd_stack

    # ocix pulls the same image: every layer's snapshot is found under the name containerd gave
    # it, so no new snapshot appears, and the top chain ID it reports is containerd's.
    r = run_cli(["pull", ref, "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert [layer["unpacked"] for layer in result["layers"]] == ["present"] * 4
    assert result["chain_id"] == containerd_stack[-1]
    assert committed_stack(lab, namespace) == containerd_stack
