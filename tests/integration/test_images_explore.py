"""`ocix images inspect|history|diff` on the lab's busybox and layers images (they share the
busybox layer), pulled by ocix and by ctr, checked against the recipe and containerd itself."""

from __future__ import annotations

import gzip
import json

import pytest

from ocix.containerd import content, snapshots
from ocix.containerd.connection import Connection
from ocix.lab.images import recipes
from ocix.lab.state import LabState
from ocix.oci.digest import chain_ids
from ocix.oci.platform import host
from tests.helpers import ctr, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def pull(lab: LabState, ns_env: dict[str, str], namespace: str, by: str, repo: str,
         *extra: str) -> str:
    ref = f"{lab.registry}/library/{repo}:latest"
    if by == "ocix":
        r = run_cli(["pull", "--quiet", *extra, ref], env=ns_env)
        assert r.exit_code == 0, r.stderr
    else:
        p = ctr(lab, namespace, "images", "pull", "--hosts-dir", lab.hosts_dir, ref, timeout=120)
        assert p.returncode == 0, p.stderr
    return ref


def cli_json(args: list[str], env: dict[str, str]) -> object:
    r = run_cli([*args, "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def manifest_and_config(conn: Connection, ref: str) -> tuple[dict, dict]:
    from ocix.containerd import images

    target = images.get(conn, ref).target
    manifest = json.loads(content.read_blob(conn, target.digest))
    return manifest, json.loads(content.read_blob(conn, manifest["config"]["digest"]))


@pytest.mark.parametrize("by", ["ocix", "ctr"])
def test_inspect_layers_image(lab: LabState, ns_env: dict[str, str], namespace: str,
                              nsconn: Connection, by: str) -> None:
    ref = pull(lab, ns_env, namespace, by, "layers")
    info = cli_json(["images", "inspect", ref], ns_env)
    assert isinstance(info, dict)
    manifest, config = manifest_and_config(nsconn, ref)
    spec = recipes.layers().images[0]
    chains = chain_ids(config["rootfs"]["diff_ids"])
    assert info["name"] == ref
    assert info["platform"] == f"linux/{host().architecture}"
    assert info["config"] == manifest["config"]["digest"]
    assert [x["layer"] for x in info["layers"]] == [1, 2, 3, 4]
    assert [x["digest"] for x in info["layers"]] == [x["digest"] for x in manifest["layers"]]
    assert [x["size"] for x in info["layers"]] == [x["size"] for x in manifest["layers"]]
    assert [x["diff_id"] for x in info["layers"]] == config["rootfs"]["diff_ids"]
    assert [x["chain_id"] for x in info["layers"]] == chains
    assert [x["snapshot"] for x in info["layers"]] == chains
    for x in info["layers"]:
        assert x["unpacked"] is True
        assert x["uncompressed_from"] == "snapshot usage"
        assert x["uncompressed_size"] == snapshots.usage(nsconn, x["chain_id"]).size
        assert x["media_type"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert [x["created_by"] for x in info["layers"]] == [x.created_by for x in spec.layers]
    assert [(h["created_by"], h["layer"], h["empty_layer"]) for h in info["history"]] == [
        (x.created_by, i, False) for i, x in enumerate(spec.layers, 1)]
    assert info["env"] == [recipes.PATH_ENV]
    assert (info["entrypoint"], info["cmd"], info["user"], info["working_dir"]) == (
        None, ["sh"], "", "")
    assert info["labels"] == {recipes.EXPECT_LABEL: json.dumps(recipes.LAYERS_EXPECT,
                                                               sort_keys=True)}


def test_inspect_streams_what_is_not_unpacked(lab: LabState, ns_env: dict[str, str],
                                              namespace: str, nsconn: Connection) -> None:
    ref = pull(lab, ns_env, namespace, "ocix", "layers", "--no-unpack")
    info = cli_json(["images", "inspect", ref], ns_env)
    assert isinstance(info, dict)
    for x in info["layers"]:
        assert (x["unpacked"], x["uncompressed_from"]) == (False, "tar stream")
        assert x["uncompressed_size"] == len(gzip.decompress(content.read_blob(nsconn,
                                                                               x["digest"])))
    r = run_cli(["images", "inspect", ref], env=ns_env)
    assert r.exit_code == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert ["Platform", f"linux/{host().architecture}"] in lines
    assert sum(1 for x in lines if x[-3:-1] == ["tar", "stream"]) == 4, r.stdout


@pytest.mark.parametrize("by", ["ocix", "ctr"])
def test_history_reads_like_docker_history(lab: LabState, ns_env: dict[str, str], namespace: str,
                                           nsconn: Connection, by: str) -> None:
    ref = pull(lab, ns_env, namespace, by, "layers")
    history = cli_json(["images", "history", ref], ns_env)
    assert isinstance(history, list)
    manifest, _ = manifest_and_config(nsconn, ref)
    spec = recipes.layers().images[0]
    assert [h["created_by"] for h in history] == [x.created_by for x in reversed(spec.layers)]
    assert [h["layer"] for h in history] == [4, 3, 2, 1]
    assert [h["digest"] for h in history] == [x["digest"] for x in reversed(manifest["layers"])]
    assert [h["size"] for h in history] == [x["size"] for x in reversed(manifest["layers"])]
    assert all(h["created"] == "2024-01-01T00:00:00Z" for h in history)
    assert all(isinstance(h["unpacked_size"], int) and h["unpacked_size"] > 0 for h in history)
    r = run_cli(["images", "history", ref], env=ns_env)
    assert r.stdout.splitlines()[0].split() == ["CREATED", "CREATED", "BY", "SIZE", "UNPACKED",
                                                "LAYER"]


@pytest.mark.parametrize("by", ["ocix", "ctr"])
def test_diff_busybox_and_layers_share_the_busybox_layer(lab: LabState, ns_env: dict[str, str],
                                                         namespace: str, nsconn: Connection,
                                                         by: str) -> None:
    a = pull(lab, ns_env, namespace, by, "busybox")
    b = pull(lab, ns_env, namespace, by, "layers")
    ma, ca = manifest_and_config(nsconn, a)
    mb, cb = manifest_and_config(nsconn, b)
    d = cli_json(["images", "diff", a, b], ns_env)
    assert isinstance(d, dict)
    (base,) = ma["layers"]
    assert mb["layers"][0]["digest"] == base["digest"]
    assert [(x["digest"], x["in_a"], x["in_b"]) for x in d["layers"]] == [
        (base["digest"], 1, 1)] + [(x["digest"], None, i) for i, x in enumerate(mb["layers"][1:], 2)]
    assert (d["a"], d["b"], d["shared"], d["shared_bytes"], d["only_a_bytes"]) == (
        a, b, 1, base["size"], 0)
    assert d["only_b_bytes"] == sum(x["size"] for x in mb["layers"][1:])
    assert chain_ids(ca["rootfs"]["diff_ids"])[0] == chain_ids(cb["rootfs"]["diff_ids"])[0]
    assert d["shared_snapshots"] == 1
    r = run_cli(["images", "diff", a, b], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert "Snapshots  1 shared (equal chain IDs from the base up)" in r.stdout.splitlines()
    # The other way round: the same layer is shared, the rest is only in A now.
    d2 = cli_json(["images", "diff", b, a], ns_env)
    assert isinstance(d2, dict)
    assert (d2["shared"], d2["only_b_bytes"], d2["only_a_bytes"]) == (1, 0, d["only_b_bytes"])


@pytest.mark.parametrize("args", [["images", "inspect", "nope"], ["images", "history", "nope"],
                                  ["images", "diff", "nope", "{ref}"],
                                  ["images", "diff", "{ref}", "nope"]])
def test_unknown_image_is_one_line_exit_1(lab: LabState, ns_env: dict[str, str], namespace: str,
                                          args: list[str]) -> None:
    ref = pull(lab, ns_env, namespace, "ocix", "busybox")
    r = run_cli([a.format(ref=ref) for a in args], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [f"Error: no image 'nope' in namespace '{namespace}'",
                                     "Hint: `ocix pull nope` first, or see `ocix images ls`"]
    assert r.stdout == ""


def test_platform_not_pulled_is_one_line_exit_1(lab: LabState, ns_env: dict[str, str],
                                                namespace: str) -> None:
    ref = pull(lab, ns_env, namespace, "ocix", "multiarch")
    other = "arm64" if host().architecture != "arm64" else "amd64"
    r = run_cli(["images", "inspect", ref, "--platform", f"linux/{other}"], env=ns_env)
    assert r.exit_code == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"Error: image {ref}: the manifest for linux/{other} (sha256:")
    assert first.endswith(") or its config is not in the content store")
    r = run_cli(["images", "inspect", ref, "--platform", "linux/s390x"], env=ns_env)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0].startswith("Error: no manifest for linux/s390x in sha256:")


@pytest.mark.parametrize("args", [["images", "inspect", "{ref}"], ["layers", "{ref}"],
                                  ["cat", "{ref}", "/etc/passwd"]])
def test_other_platform_of_a_single_manifest_is_refused(lab: LabState, ns_env: dict[str, str],
                                                        namespace: str, args: list[str]) -> None:
    """busybox is one manifest, built for this host: ocix showed its layers under any
    --platform; dockerd refuses that (docs/layers.md)."""
    ref = pull(lab, ns_env, namespace, "ocix", "busybox")
    mine = f"linux/{host().architecture}"
    r = run_cli([a.format(ref=ref) for a in args] + ["--platform", "linux/s390x"], env=ns_env)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines() == [
        f"Error: image {ref} is a single {mine} manifest: no manifest for linux/s390x"]
    r = run_cli([a.format(ref=ref) for a in args] + ["--platform", mine], env=ns_env)
    assert r.exit_code == 0
