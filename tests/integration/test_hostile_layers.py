"""Hostile images pushed to the lab registry: `ocix layers` and `ocix validate --check-layers`
flag the same entries, a pull that containerd refuses says which layer and entry and leaves
nothing behind, and a pull that containerd resolves safely writes nothing outside the root."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from ocix.containerd import leases, snapshots
from ocix.containerd.connection import Connection
from ocix.lab.state import LabState
from tests.helpers import run_cli
from tests.hostile import D, F, H, Member, S, push_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

HINT = ("Hint: `ocix pull --no-unpack {ref}` then `ocix layers {ref}` shows every hostile entry "
        "without writing anything")


def assert_nothing_left(nsconn: Connection, ns_env: dict[str, str]) -> None:
    assert leases.list_leases(nsconn) == []
    assert [s.name for s in snapshots.list_snapshots(nsconn) if s.kind == "active"] == []
    r = run_cli(["images", "check"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""


REFUSED: list[tuple[str, list[list[Member]], int, str, str]] = [
    ("whiteout-dotdot", [[("a/", D, ""), ("a/f", F, "")], [("a/.wh...", F, "")]], 2,
     "entry 'a/.wh...': whiteout of '..' deletes the parent of its directory; containerd refuses "
     "it (invalid whiteout name)", "invalid whiteout name: .wh...: invalid archive"),
    ("hardlink-absolute", [[("etc/", D, ""), ("etc/shadow", F, "")], [("h", H, "/etc/shadow")]],
     2, "entry 'h': hardlink to the absolute path /etc/shadow: a naive extractor links the host's "
     "file", "link /etc/shadow /h: no such file or directory"),
    ("hardlink-missing", [[("h", H, "nothing")]], 1,
     "entry 'h': hardlink target nothing does not exist in the tree so far; containerd refuses it",
     "link /nothing /h: no such file or directory"),
    ("symlink-loop", [[("a", S, "b"), ("b", S, "a"), ("a/x", F, "")]], 1,
     "entry 'a/x': an extractor refuses it: more than 40 symlinks in a loop, starting at symlink "
     "/a -> b (layer 1)", "failed to get root path: too many links"),
]


@pytest.mark.parametrize(("repo", "stack", "layer", "entry", "said"), REFUSED,
                         ids=[c[0] for c in REFUSED])
def test_a_refused_unpack_names_the_layer_and_the_entry(
        lab: LabState, ns_env: dict[str, str], nsconn: Connection, tmp_path: Path, repo: str,
        stack: list[list[Member]], layer: int, entry: str, said: str) -> None:
    ref, digests = push_stack(lab.registry, tmp_path, f"hostile/{repo}", stack)
    r = run_cli(["pull", "--quiet", ref], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        f"Error: image {ref}: containerd refused to unpack layer {layer} of {len(stack)} "
        f"({digests[layer - 1]}): {entry} (containerd: {said})", HINT.format(ref=ref)]
    assert_nothing_left(nsconn, ns_env)
    # What the hint says: fetch without unpacking, then read the entries.
    r = run_cli(["pull", "--quiet", "--no-unpack", ref], env=ns_env)
    assert r.exit_code == 0, r.stderr
    r = run_cli(["layers", ref, "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    hostile = json.loads(r.stdout)["hostile"]
    assert f"entry {hostile[-1]['entry']!r}: {hostile[-1]['reason']}" == entry
    assert hostile[-1]["layer"] == layer
    r = run_cli(["validate", "image", ref, "--check-layers", "--json"], env=ns_env)
    assert json.loads(r.stdout)["hostile"] == hostile
    # Unpacking what --no-unpack fetched fails the same way.
    r = run_cli(["pull", "--quiet", ref], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0].startswith(f"Error: image {ref}: containerd refused")
    assert leases.list_leases(nsconn) == []
    assert [s.name for s in snapshots.list_snapshots(nsconn) if s.kind == "active"] == []


def test_writes_through_symlinks_are_flagged_and_stay_inside_for_containerd(
        lab: LabState, ns_env: dict[str, str], nsconn: Connection, tmp_path: Path) -> None:
    outside = f"/tmp/ocix-outside-{uuid.uuid4().hex}"
    up = "../" * (outside.count("/") + 3) + outside.lstrip("/")
    stack: list[list[Member]] = [
        [("a/", D, ""), ("a/dir", S, outside), ("a/up", S, up.rsplit("/", 1)[0])],
        [("a/dir/x", F, ""), ("a/up/" + outside.rsplit("/", 1)[1] + "-y", F, "")],
    ]
    ref, _ = push_stack(lab.registry, tmp_path, "hostile/through-symlinks", stack)
    r = run_cli(["pull", "--quiet", ref], env=ns_env)
    assert r.exit_code == 0, r.stderr  # containerd resolves both inside the snapshot
    assert not os.path.lexists(outside) and not os.path.lexists(outside + "-y")
    r = run_cli(["layers", ref, "--json"], env=ns_env)
    hostile = json.loads(r.stdout)["hostile"]
    target = up.rsplit("/", 1)[0]
    assert hostile == [
        {"entry": "a/up", "layer": 1, "kind": "symlink",
         "reason": f"symlink leaves the root (-> {target})", "via": []},
        {"entry": "a/dir/x", "layer": 2, "kind": "file",
         "reason": f"written through symlink /a/dir -> {outside} (layer 1)",
         "via": [f"/a/dir -> {outside} (layer 1)"]},
        {"entry": stack[1][1][0], "layer": 2, "kind": "file",
         "reason": f"written through symlink /a/up -> {target} (layer 1)",
         "via": [f"/a/up -> {target} (layer 1)"]},
    ]
    r = run_cli(["validate", "ref", ref, "--check-layers", "--json"], env=ns_env)
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["hostile"] == hostile
    r = run_cli(["layers", ref], env=ns_env)
    assert (f"layer 2: hostile file 'a/dir/x': written through symlink /a/dir -> {outside} "
            "(layer 1) (not applied)") in r.stdout.splitlines()
