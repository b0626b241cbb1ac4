"""snapshots, content, df, why, leases and events against the lab's containerd, for images
pulled by ocix and by ctr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from ocix.containerd import content, leases, snapshots
from ocix.containerd.connection import Connection
from ocix.jobs.images.pull import PullOptions, pull
from ocix.jobs.images.tree import default_manifest
from ocix.lab.state import LabState
from ocix.oci.digest import chain_ids, sha256_digest
from tests.helpers import ctr, run_cli

pytestmark = pytest.mark.integration

BUSYBOX = "docker.io/library/busybox:latest"
LAYERS = "docker.io/library/layers:latest"
OCIX = str(Path(sys.executable).with_name("ocix"))


def _pull(lab: LabState, ns: str, conn: Connection, name: str, by: str) -> None:
    if by == "ocix":
        pull(conn, name, PullOptions(hosts_dir=lab.hosts_dir))
        return
    r = ctr(lab, ns, "images", "pull", "--hosts-dir", lab.hosts_dir, name, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.fixture(params=["ocix", "ctr"])
def pulled(request: pytest.FixtureRequest, lab: LabState, namespace: str,
           nsconn: Connection) -> Iterator[str]:
    """busybox pulled into the test's namespace by ocix or by ctr; yields who pulled it."""
    _pull(lab, namespace, nsconn, BUSYBOX, request.param)
    yield request.param
    for view in [s.name for s in snapshots.list_snapshots(nsconn) if s.kind != "committed"]:
        try:
            snapshots.remove(nsconn, view)
        except Exception as e:  # report, do not hide
            print(f"teardown: could not remove snapshot {view}: {e}")
    for lease in leases.list_leases(nsconn):
        leases.delete(nsconn, lease.id)


def cli(env: dict[str, str], *args: str) -> Result:
    return run_cli(list(args), env=env)


def verdict(out: str) -> str:
    """`why`'s first paragraph, its sentence wrapped to 80 columns: every line fits unless it
    is one word (a digest), and the lines after the first are indented by two."""
    lines = out.split("\n\n")[0].rstrip("\n").splitlines()
    assert all(len(x) <= 80 or " " not in x.strip() for x in lines), lines
    assert all(x.startswith("  ") for x in lines[1:]), lines
    return " ".join(x.strip() for x in lines)


def test_why_names_the_image_until_images_rm_sync(ns_env: dict[str, str], nsconn: Connection,
                                                 pulled: str) -> None:
    from ocix.containerd import images

    m = default_manifest(nsconn, images.get(nsconn, BUSYBOX).target)
    layer = m.layers[0].digest
    r = cli({**ns_env, "COLUMNS": "80"}, "why", layer)
    assert r.exit_code == 0, r.stderr
    assert verdict(r.stdout) == f"layer {layer} is kept by 1 root(s): image {BUSYBOX}."
    [res] = json.loads(cli(ns_env, "why", layer, "--json").stdout)
    [chain] = res["chains"]
    assert chain["steps"][0]["role"] == "image record"
    assert chain["steps"][-1] == {"kind": "content", "id": layer, "role": "layer",
                                  "via": "containerd.io/gc.ref.content.l.0"}
    # The unpacked snapshot is kept through the config's gc.ref.snapshot label.
    top = chain_ids(m.diff_ids)[-1]
    [snap] = json.loads(cli(ns_env, "why", top, "--json").stdout)
    vias = [s["via"] for s in snap["chains"][0]["steps"]]
    assert vias[-2:] == ["containerd.io/gc.ref.content.config", "containerd.io/gc.ref.snapshot.overlayfs"]

    assert cli(ns_env, "images", "rm", "--sync", BUSYBOX).exit_code == 0
    r = cli(ns_env, "why", layer)
    assert r.exit_code == 1
    ns = ns_env["CONTAINERD_NAMESPACE"]
    assert r.stderr.splitlines()[0] == (
        f"Error: no content or overlayfs snapshot '{layer}' in namespace '{ns}'")


def test_why_says_the_next_gc_removes_an_unreferenced_blob(ns_env: dict[str, str],
                                                           nsconn: Connection) -> None:
    data = b"nobody refers to me " + os.urandom(8).hex().encode()
    digest = sha256_digest(data)
    lease = leases.create(nsconn)
    content.write_blob(nsconn, "why-orphan", digest, len(data), lambda off: [data[off:]], lease=lease.id)
    r = cli({**ns_env, "COLUMNS": "80"}, "why", digest)
    assert verdict(r.stdout) == f"blob {digest} is kept by 1 root(s): lease {lease.id}."
    leases.delete(nsconn, lease.id)  # no sync: the blob stays until the next GC
    r = cli({**ns_env, "COLUMNS": "80"}, "why", digest)
    assert (r.exit_code, verdict(r.stdout)) == (0, (
        f"nothing refers to blob {digest}: no image, container, lease or gc.root label reaches "
        "it, so the next garbage collection removes it."))
    assert r.stdout.count("\n") == len(r.stdout.split("\n\n")[0].splitlines())  # nothing more


def test_snapshots_tree_info_and_the_printed_mount_command(
        lab: LabState, ns_env: dict[str, str], nsconn: Connection, namespace: str,
        pulled: str) -> None:
    from ocix.containerd import images

    m = default_manifest(nsconn, images.get(nsconn, BUSYBOX).target)
    top = chain_ids(m.diff_ids)[-1]
    r = ctr(lab, namespace, "containers", "create", BUSYBOX, "explore-c1")
    assert r.returncode == 0, r.stderr
    try:
        tree = json.loads(cli(ns_env, "snapshots", "tree", "--json").stdout)
        [base] = [n for n in tree if n["key"] == top]
        # ctr 1.6 unpacks through Image.Unpack, which sets no containerd.io/snapshot.ref label;
        # the key is the chain ID either way.
        label = top if pulled == "ocix" else ""
        assert (base["kind"], base["chain_id"], base["images"]) == ("committed", label, [BUSYBOX])
        [child] = base["children"]
        assert (child["key"], child["kind"], child["containers"]) == ("explore-c1", "active", ["explore-c1"])

        info = json.loads(cli(ns_env, "snapshots", "info", "explore-c1", "--json").stdout)["info"]
        assert info["directory"].endswith(f"/snapshots/{info['snapshot_id']}/fs")
        assert Path(info["directory"]).is_dir() and info["found_via"] == "its mounts (upperdir)"
        info = json.loads(cli(ns_env, "snapshots", "info", top, "--json").stdout)["info"]
        assert (Path(info["directory"]) / "bin" / "busybox").exists(), info
        assert info["images"] == [BUSYBOX] and info["containers"] == []
    finally:
        ctr(lab, namespace, "containers", "rm", "explore-c1")

    # Committed: a View under a lease; the command runs as printed and shows the image's files.
    res = cli(ns_env, "snapshots", "mounts", top)
    assert res.exit_code == 0, res.stderr
    command = res.stdout.strip()
    assert command.startswith("mount ") and command.endswith(" DIR")
    undo = res.stderr.splitlines()[-1]
    view = undo.split("ocix snapshots rm ")[1].split()[0]
    lease_id = undo.split("ocix leases rm ")[1].split()[0]
    assert snapshots.stat(nsconn, view).kind == "view"
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(["sh", "-c", command[: -len("DIR")] + d], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        try:
            assert (Path(d) / "bin" / "busybox").exists()
        finally:
            subprocess.run(["umount", d], check=True)
    assert cli(ns_env, "snapshots", "rm", view).exit_code == 0
    assert cli(ns_env, "leases", "rm", lease_id).exit_code == 0

    with tempfile.TemporaryDirectory() as d:
        res = cli(ns_env, "snapshots", "mounts", top, "--exec", d, "--json")
        plan = json.loads(res.stdout)
        try:
            assert (Path(d) / "bin" / "busybox").exists()
            assert plan["mounted_on"] == d
        finally:
            subprocess.run(["umount", d], check=True)
            cli(ns_env, "snapshots", "rm", plan["view"])
            cli(ns_env, "leases", "rm", plan["lease"])


def test_a_failed_mount_exec_leaves_no_view_and_no_lease(
        lab: LabState, ns_env: dict[str, str], nsconn: Connection, namespace: str,
        pulled: str, tmp_path: Path) -> None:
    from ocix.containerd import images

    top = chain_ids(default_manifest(nsconn, images.get(nsconn, BUSYBOX).target).diff_ids)[-1]

    def views_and_leases() -> tuple[list[str], list[str]]:
        snaps = ctr(lab, namespace, "snapshots", "ls")
        lease_ids = ctr(lab, namespace, "leases", "ls", "-q")
        assert snaps.returncode == 0 and lease_ids.returncode == 0, snaps.stderr + lease_ids.stderr
        return ([ln.split()[0] for ln in snaps.stdout.splitlines()[1:] if " View" in ln],
                lease_ids.stdout.split())

    # A missing directory is refused before anything is made.
    missing = tmp_path / "not-there"
    r = cli(ns_env, "snapshots", "mounts", top, "--exec", str(missing))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines() == [f"Error: mount point {missing} does not exist",
                                     f"Hint: create it first: mkdir -p {missing}"]
    assert views_and_leases() == ([], [])

    # mount(8) failing after the View exists (as it does without CAP_SYS_ADMIN): both go again.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text("#!/bin/sh\necho 'mount: only root can do that' >&2\nexit 1\n")
    (bin_dir / "mount").chmod(0o755)
    (tmp_path / "mnt").mkdir()
    r = cli({**ns_env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, "snapshots", "mounts", top,
            "--exec", str(tmp_path / "mnt"))
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines() == ["Error: mount failed: mount: only root can do that",
                                     "Hint: mounting needs root (CAP_SYS_ADMIN)"]
    assert views_and_leases() == ([], [])
    assert snapshots.stat(nsconn, top).kind == "committed"  # nothing lost


def test_content_cat_ls_and_labels(lab: LabState, ns_env: dict[str, str], nsconn: Connection,
                                   namespace: str, pulled: str) -> None:
    from ocix.containerd import images

    m = default_manifest(nsconn, images.get(nsconn, BUSYBOX).target)
    layer = m.layers[0].digest
    env = {**os.environ, **ns_env}
    ours = subprocess.run(f"{OCIX} content cat {layer} | tar -tz", shell=True, env=env,
                          capture_output=True, text=True, check=True).stdout
    theirs = subprocess.run(f"ctr -a {lab.containerd_socket} -n {namespace} content get {layer} "
                            "| tar -tz", shell=True, capture_output=True, text=True, check=True).stdout
    assert ours == theirs and "bin/busybox" in ours
    # Short digests: sha256: + 6 hex, or a bare prefix, name the same blob; 4 hex do not.
    hexpart = layer.removeprefix("sha256:")
    for short in (f"sha256:{hexpart[:6]}", hexpart[:12]):
        assert subprocess.run(f"{OCIX} content cat {short} | tar -tz", shell=True, env=env,
                              capture_output=True, text=True, check=True).stdout == theirs
        assert json.loads(cli(ns_env, "content", "info", short, "--json").stdout)["digest"] == layer
    r = cli(ns_env, "content", "cat", f"sha256:{hexpart[:4]}")
    assert (r.exit_code, r.stdout, r.stderr) == (
        1, "", f"Error: 'sha256:{hexpart[:4]}' is not a digest: give all of it, or its first 6 "
               "or more hex characters (sha256: optional)\n")
    why = json.loads(cli(ns_env, "why", f"sha256:{hexpart[:6]}", "--json").stdout)
    assert [(w["kind"], w["id"]) for w in why] == [("content", layer)]

    r = cli(ns_env, "content", "ls", "-q", 'labels."containerd.io/uncompressed"')
    assert r.stdout.split() == [layer]
    labels = json.loads(cli(ns_env, "content", "labels", m.descriptor.digest, "--json").stdout)
    by_key = {x["key"]: x for x in labels}
    assert by_key["containerd.io/gc.ref.content.config"]["keeps"] == f"content {m.config.digest}"
    assert by_key["containerd.io/gc.ref.content.l.0"]["keeps"] == f"content {layer}"
    cfg = {x["key"]: x for x in json.loads(cli(ns_env, "content", "labels", m.config.digest,
                                                "--json").stdout)}
    assert cfg["containerd.io/gc.ref.snapshot.overlayfs"]["keeps"] == \
        f"snapshot overlayfs/{chain_ids(m.diff_ids)[-1]}"
    assert "docker.io" in " ".join(cfg)


def _du(path: str, apparent: bool) -> int:
    args = ["du", "-s", "-B1"] + (["--apparent-size"] if apparent else []) + [path]
    return int(subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()[0])


def test_df_totals_match_du_and_images_split_shared_and_unique(
        lab: LabState, ns_env: dict[str, str], nsconn: Connection, namespace: str,
        pulled: str) -> None:
    from ocix.containerd import images

    _pull(lab, namespace, nsconn, LAYERS, pulled)  # layers is busybox plus three layers
    r = cli(ns_env, "df", "--json")
    assert r.exit_code == 0, r.stderr
    u = json.loads(r.stdout)
    store = u["store"]
    blobs = _du(store["content_root"] + "/blobs", apparent=True)
    snaps = _du(store["snapshot_root"] + "/snapshots", apparent=False)
    assert abs(store["content_bytes"] - blobs) <= 0.05 * blobs, (store, blobs)
    assert abs(store["snapshot_bytes"] - snaps) <= 0.05 * snaps, (store, snaps)

    per = {i["name"]: i for i in u["images"]}
    busybox, layers = per[BUSYBOX], per[LAYERS]
    base = default_manifest(nsconn, images.get(nsconn, BUSYBOX).target).layers[0].size
    assert busybox["compressed"]["shared"] == layers["compressed"]["shared"] >= base
    assert busybox["unpacked"]["unique"] == 0  # its one snapshot is layers' base too
    assert layers["unpacked"]["unique"] > 0 and layers["compressed"]["unique"] > 0
    for i in (busybox, layers):
        assert i["frees"] == i["compressed"]["unique"] + i["unpacked"]["unique"]
    assert "crictl" in u["why_sizes_differ"]


def test_leases_show_their_resources(ns_env: dict[str, str], nsconn: Connection) -> None:
    r = cli(ns_env, "leases", "create", "--id", "explore-lease", "--expire", "1h", "--label", "a=b")
    assert (r.exit_code, r.stdout) == (0, "explore-lease\n")
    data = b"held by a lease " + os.urandom(4).hex().encode()
    digest = sha256_digest(data)
    content.write_blob(nsconn, "lease-blob", digest, len(data), lambda off: [data[off:]],
                       lease="explore-lease")
    [row] = json.loads(cli(ns_env, "leases", "ls", "--json").stdout)
    assert (row["id"], row["labels"]["a"], row["resources"]) == (
        "explore-lease", "b", [{"id": digest, "type": "content"}])
    assert row["expires"] and not row["expired"]
    r = cli(ns_env, "leases", "rm", "--sync", "explore-lease")
    assert (r.exit_code, r.stdout) == (0, "explore-lease\n")
    assert not content.exists(nsconn, digest)
    r = cli(ns_env, "leases", "rm", "explore-lease")
    ns = ns_env["CONTAINERD_NAMESPACE"]
    assert (r.exit_code, r.stderr.splitlines()[0]) == (
        1, f"Error: no lease 'explore-lease' in namespace '{ns}'")


@pytest.mark.parametrize("args, message", [
    (["snapshots", "info", "nosuch"], "Error: no overlayfs snapshot 'nosuch' in namespace '{ns}'"),
    (["snapshots", "mounts", "nosuch"], "Error: no overlayfs snapshot 'nosuch' in namespace '{ns}'"),
    (["content", "cat", "sha256:" + "0" * 64], "Error: no blob sha256:" + "0" * 64 + " in namespace '{ns}'"),
    (["content", "labels", "0123456789"], "Error: no blob 0123456789 in namespace '{ns}'"),
    (["why", "nosuch"], "Error: no content or overlayfs snapshot 'nosuch' in namespace '{ns}'"),
])
def test_unknown_objects_are_one_line_and_exit_1(ns_env: dict[str, str], args: list[str],
                                                 message: str) -> None:
    r = cli(ns_env, *args)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == message.format(ns=ns_env["CONTAINERD_NAMESPACE"])
    assert r.stdout == ""


def test_events_prints_the_task_exit_with_its_status(lab: LabState, ns_env: dict[str, str],
                                                     nsconn: Connection) -> None:
    pull(nsconn, "busybox", PullOptions(hosts_dir=lab.hosts_dir))
    env = {**os.environ, **ns_env}
    watcher = subprocess.Popen([OCIX, "events", "--count", "1", "--filter", 'topic=="/tasks/exit"'],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The subscription starts at some point after Popen: run until the watcher has seen one.
        for _ in range(20):
            r = subprocess.run([OCIX, "run", "--rm", "busybox", "sh", "-c", "exit 3"], env=env,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 3, r.stderr
            try:
                watcher.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    [line] = out.splitlines()
    ns = ns_env["CONTAINERD_NAMESPACE"]
    assert f" {ns} /tasks/exit task exited: container=" in line and " status=3 " in line, line


def test_events_timeout_without_count_ends_quietly(ns_env: dict[str, str]) -> None:
    start = time.monotonic()
    r = cli(ns_env, "events", "--timeout", "0.5", "--filter", 'topic=="/never"')
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert time.monotonic() - start < 10


def test_snapshot_ls_usage_and_content_rm(ns_env: dict[str, str], nsconn: Connection,
                                          pulled: str) -> None:
    from ocix.containerd import images

    m = default_manifest(nsconn, images.get(nsconn, BUSYBOX).target)
    top = chain_ids(m.diff_ids)[-1]
    listed = json.loads(cli(ns_env, "snapshots", "ls", "--json").stdout)
    assert [(s["name"], s["kind"]) for s in listed] == [(top, "committed")]
    [use] = json.loads(cli(ns_env, "snapshots", "usage", top, "--json").stdout)
    assert use["key"] == top and use["size"] == snapshots.usage(nsconn, top).size > m.layers[0].size
    r = cli(ns_env, "content", "rm", "--json", m.layers[0].digest[:17])  # sha256: + 10 hex
    assert json.loads(r.stdout) == {"removed": [m.layers[0].digest]}
    assert not content.exists(nsconn, m.layers[0].digest)
    r = cli(ns_env, "images", "check")
    assert r.exit_code == 1 and "incomplete" in r.stdout


def test_snapshot_info_asks_the_labs_dockerd_where_its_layers_are(
        docker_lab: LabState, ns_env: dict[str, str], pulled: str) -> None:
    out = subprocess.run(["docker", "-H", f"unix://{docker_lab.docker_socket}", "info", "--format",
                          "{{json .}}"], capture_output=True, text=True, check=True).stdout
    truth = json.loads(out)
    top = json.loads(cli(ns_env, "snapshots", "ls", "--json").stdout)[0]["name"]
    r = cli({**ns_env, "DOCKER_HOST": ""}, "snapshots", "info", top, "--json")
    docker = json.loads(r.stdout)["docker"]
    assert docker["source"] == f"dockerd at {docker_lab.docker_socket} (/info)"
    assert docker["directory"] == f"{truth['DockerRootDir']}/{truth['Driver']}"
    text = cli({**ns_env, "DOCKER_HOST": ""}, "snapshots", "info", top).stdout
    assert f"keeps its layers in {truth['DockerRootDir']}/{truth['Driver']}/<id>/diff" in text
    r = cli({**ns_env, "DOCKER_HOST": "tcp://192.0.2.1:2375"}, "snapshots", "info", top, "--json")
    assert json.loads(r.stdout)["docker"]["directory"] == "/var/lib/docker/overlay2"


def test_snapshots_info_and_content_labels_prose_fits_80_columns(
        ns_env: dict[str, str], nsconn: Connection, pulled: str) -> None:
    """Their explaining sentences were single lines of 157 to 226 columns."""
    from ocix.containerd import images

    m = default_manifest(nsconn, images.get(nsconn, BUSYBOX).target)
    env = {**ns_env, "COLUMNS": "80"}
    for args in (["snapshots", "info", chain_ids(m.diff_ids)[-1]],
                 ["content", "labels", m.descriptor.digest]):
        r = cli(env, *args)
        assert r.exit_code == 0, r.stderr
        lines = r.stdout.splitlines()
        # snapshots info: the sentences after its key/value block; labels: each meaning.
        prose = lines[lines.index("") + 1:] if args[0] == "snapshots" else \
            [ln for ln in lines if ln.startswith("    ")]
        assert prose and all(len(ln) <= 80 or " " not in ln.strip() for ln in prose), prose
    r = cli(env, "snapshots", "info", chain_ids(m.diff_ids)[-1])
    assert "that is its answer to `ls /var/lib/docker/overlay2`." in " ".join(r.stdout.split())
