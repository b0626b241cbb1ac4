"""Pure logic of the store explorer: GC graph, why-chains, df splits, labels, events, mounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from ocix.containerd import containers, content, images, leases, snapshots
from ocix.containerd.events import Event, decode
from ocix.jobs.store import gcgraph
from ocix.jobs.store import why as gcwhy
from ocix.jobs.store.df import objects, per_image
from ocix.jobs.store.dockerlayers import DockerLayers, docker_layers
from ocix.jobs.store.events import describe
from ocix.jobs.store.labels import explain
from ocix.jobs.store.snapshots import mount_command, snapshot_dirs, split_dir
from ocix.oci.descriptor import Descriptor

IDX, MAN, CFG, L0, L1, ORPHAN = (f"sha256:{c * 64}" for c in "abcdef")
C0, C1 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
INDEX_MT = "application/vnd.oci.image.index.v1+json"
ROOT = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"


def _graph(with_second_image: bool = False, with_container: bool = False) -> gcgraph.Graph:
    g = gcgraph.Graph("default")
    g.content = {
        IDX: content.Info(IDX, 300, {"containerd.io/gc.ref.content.m.0": MAN}),
        MAN: content.Info(MAN, 500, {"containerd.io/gc.ref.content.config": CFG,
                                     "containerd.io/gc.ref.content.l.0": L0,
                                     "containerd.io/gc.ref.content.l.1": L1}),
        CFG: content.Info(CFG, 100, {"containerd.io/gc.ref.snapshot.overlayfs": C1}),
        L0: content.Info(L0, 1000, {"containerd.io/uncompressed": "sha256:" + "9" * 64}),
        L1: content.Info(L1, 2000),
        ORPHAN: content.Info(ORPHAN, 7),
    }
    g.snapshots = {f"overlayfs/{C0}": snapshots.Snapshot(C0, "", "committed"),
                   f"overlayfs/{C1}": snapshots.Snapshot(C1, C0, "committed")}
    g.images = {"example.com/app:1": images.Image("example.com/app:1", Descriptor(INDEX_MT, IDX, 300))}
    if with_second_image:  # a second tag on the same manifest: everything shared
        g.images["example.com/app:2"] = images.Image("example.com/app:2", Descriptor(
            "application/vnd.oci.image.manifest.v1+json", MAN, 500))
    if with_container:
        g.containers = {"web": containers.Container("web", "example.com/app:1", "runc", "overlayfs", "web")}
        g.snapshots["overlayfs/web"] = snapshots.Snapshot("web", C1, "active")
    gcgraph.link(g, {})
    return g


def test_label_refs_follow_gc_rules() -> None:
    refs = gcgraph.label_refs({
        "containerd.io/gc.ref.content": "sha256:a",
        "containerd.io/gc.ref.content.l.0": "sha256:b",
        "containerd.io/gc.ref.content/custom": "sha256:c",
        "containerd.io/gc.ref.contentious": "sha256:x",  # no separator: not a reference
        "containerd.io/gc.ref.snapshot.overlayfs/extra": "chain",
        "containerd.io/uncompressed": "sha256:y",
    })
    assert refs == [("containerd.io/gc.ref.content", ("content", "sha256:a")),
                    ("containerd.io/gc.ref.content.l.0", ("content", "sha256:b")),
                    ("containerd.io/gc.ref.content/custom", ("content", "sha256:c")),
                    ("containerd.io/gc.ref.snapshot.overlayfs/extra", ("snapshot", "overlayfs/chain"))]


def test_lease_expiry() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    lease = leases.Lease("l", {gcgraph.EXPIRE_LABEL: "2025-12-31T23:59:59Z"})
    assert gcgraph.lease_expired(lease, now)
    assert not gcgraph.lease_expired(leases.Lease("l", {gcgraph.EXPIRE_LABEL: "2026-01-02T00:00:00Z"}), now)
    assert not gcgraph.lease_expired(leases.Lease("l", {gcgraph.EXPIRE_LABEL: "garbage"}), now)
    assert not gcgraph.lease_expired(leases.Lease("l"), now)


def test_why_a_layer_names_the_image_through_index_and_manifest() -> None:
    g = _graph()
    [chain] = gcwhy.chains_to(g, ("content", L1))
    assert chain.root == "image record"
    assert [(s.role, s.id, s.via) for s in chain.steps] == [
        ("image record", "example.com/app:1", ""),
        ("index", IDX, "target"),
        ("manifest", MAN, "containerd.io/gc.ref.content.m.0"),
        ("layer", L1, "containerd.io/gc.ref.content.l.1"),
    ]


def test_why_a_base_snapshot_goes_through_config_label_and_parent() -> None:
    g = _graph(with_container=True)
    chains = gcwhy.chains_to(g, ("snapshot", f"overlayfs/{C0}"))
    assert [c.steps[0].id for c in chains] == ["example.com/app:1", "web"]
    assert [(s.role, s.via) for s in chains[0].steps[-3:]] == [
        ("config", "containerd.io/gc.ref.content.config"),
        ("committed snapshot", "containerd.io/gc.ref.snapshot.overlayfs"),
        ("committed snapshot", "parent")]
    assert [(s.role, s.via) for s in chains[1].steps] == [
        ("container record", ""), ("active snapshot", "snapshot_key"),
        ("committed snapshot", "parent"), ("committed snapshot", "parent")]


def test_nothing_keeps_an_orphan_and_a_lease_does() -> None:
    g = _graph()
    assert gcwhy.chains_to(g, ("content", ORPHAN)) == []
    g.leases = {"hold": leases.Lease("hold")}
    gcgraph.link(g, {"hold": [leases.LeaseResource(ORPHAN, "content")]})
    [chain] = gcwhy.chains_to(g, ("content", ORPHAN))
    assert (chain.root, chain.steps[0].kind, chain.steps[-1].via) == ("lease", "lease", "lease resource")


def test_flat_lease_keeps_its_resources_but_not_their_labels() -> None:
    g = _graph()
    del g.images["example.com/app:1"]
    g.leases = {"flat": leases.Lease("flat", {gcgraph.FLAT_LABEL: "1"})}
    g.edges.clear()
    g.roots.clear()
    gcgraph.link(g, {"flat": [leases.LeaseResource(MAN, "content"),
                              leases.LeaseResource(C1, "snapshots/overlayfs")]})
    [chain] = gcwhy.chains_to(g, ("content", MAN))
    assert chain.root == "flat lease"
    assert gcwhy.chains_to(g, ("content", L0)) == []  # the manifest's l.0 label is not followed
    [chain] = gcwhy.chains_to(g, ("snapshot", f"overlayfs/{C0}"))  # a parent still is
    assert [s.via for s in chain.steps] == ["", "lease resource", "parent"]
    assert g.reachable(g.roots) == {("lease", "flat"), ("content", MAN), ("snapshot", f"overlayfs/{C1}"),
                                    ("snapshot", f"overlayfs/{C0}")}


def test_a_gc_root_label_keeps_the_object_itself() -> None:
    g = _graph()
    g.content[ORPHAN] = content.Info(ORPHAN, 7, {gcgraph.ROOT_LABEL: "2026-01-01T00:00:00Z"})
    g.edges.clear()
    g.roots.clear()
    gcgraph.link(g, {})
    [chain] = gcwhy.chains_to(g, ("content", ORPHAN))
    assert (chain.root, [s.id for s in chain.steps]) == (f"label {gcgraph.ROOT_LABEL}", [ORPHAN])


def test_expired_lease_is_no_root() -> None:
    g = _graph()
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    g.leases = {"old": leases.Lease("old", {gcgraph.EXPIRE_LABEL: past})}
    gcgraph.link(g, {"old": [leases.LeaseResource(ORPHAN, "content")]})
    assert gcwhy.chains_to(g, ("content", ORPHAN)) == []


def test_resolve_digest_prefix_and_unknown() -> None:
    g = _graph()
    assert gcgraph.resolve(g, "dddddd", "overlayfs") == [("content", L0)]
    assert gcgraph.resolve(g, C0, "overlayfs") == [("snapshot", f"overlayfs/{C0}")]
    with pytest.raises(gcgraph.NotFoundError) as e:
        gcgraph.resolve(g, "nosuch", "overlayfs")
    assert e.value.message == "no content or overlayfs snapshot 'nosuch' in namespace 'default'"


def test_df_unique_and_shared() -> None:
    usage = {f"overlayfs/{C0}": 4096, f"overlayfs/{C1}": 8192}
    [alone] = per_image(_graph(), usage)
    assert (alone.compressed.unique, alone.compressed.shared) == (3900, 0)
    assert (alone.unpacked.unique, alone.frees) == (12288, 3900 + 12288)
    a, b = per_image(_graph(with_second_image=True), usage)
    # app:2 names the manifest directly, so only app:1's index is unique to it.
    assert (a.name, a.compressed.unique, a.compressed.shared, a.frees) == ("example.com/app:1", 300, 3600, 300)
    assert (b.compressed.unique, b.unpacked.shared, b.frees) == (0, 12288, 0)
    # A container on the image keeps its snapshots: removing the image frees only blobs.
    [c] = per_image(_graph(with_container=True), {**usage, "overlayfs/web": 10})
    assert (c.unpacked.shared, c.unpacked.unique, c.frees) == (12288, 0, 3900)


def test_df_objects_mark_what_the_next_gc_frees() -> None:
    objs = {o.id: o for o in objects(_graph(), {})}
    assert objs[ORPHAN].kept is False and objs[ORPHAN].images == []
    assert objs[L0].kept and objs[L0].images == ["example.com/app:1"]


def test_label_explanations() -> None:
    assert explain("containerd.io/gc.ref.content.l.3", L0).keeps == f"content {L0}"
    # ocix counts layers (and manifests) from 1, as `ocix layers` does; the labels from 0.
    assert explain("containerd.io/gc.ref.content.l.3", L0).meaning == (
        f"GC reference: while this blob is kept, so is {L0}, layer 4 of this manifest")
    assert explain("containerd.io/gc.ref.content.l.0", L0).meaning.endswith(
        ", layer 1 (the base) of this manifest")
    assert explain("containerd.io/gc.ref.content.m.0", MAN).meaning.endswith(
        f"so is {MAN}, manifest 1 of this index")
    assert explain("containerd.io/gc.ref.content.l.x", L0).meaning.endswith(", layer x of this manifest")
    snap = explain("containerd.io/gc.ref.snapshot.overlayfs", C1)
    assert snap.keeps == f"snapshot overlayfs/{C1}" and "top chain ID" in snap.meaning
    assert "library/busybox on docker.io" in explain(
        "containerd.io/distribution.source.docker.io", "library/busybox").meaning
    assert explain("containerd.io/uncompressed", "sha256:x").meaning.startswith("the diff ID")
    assert explain("org.example", "v").meaning == "not containerd's: GC ignores it"


def _any(msg: object) -> tuple[str, bytes]:
    return "containerd.events." + type(msg).__name__, msg.SerializeToString()  # type: ignore[attr-defined]


def test_task_exit_decodes_with_status_and_pid() -> None:
    from ocix.containerd.connection import load_stub_module

    task = load_stub_module("events.task_pb2")
    name, payload = decode(*_any(task.TaskExit(container_id="c1", id="c1", pid=42, exit_status=3)))
    assert name == "containerd.events.TaskExit"
    line = describe(Event(None, "default", "/tasks/exit", name, payload))
    assert line.startswith("task exited: container=c1 pid=42 status=3")
    # proto3 drops zero values: a clean exit still says status=0.
    name, payload = decode(*_any(task.TaskExit(container_id="c1", id="c1", pid=7)))
    assert "status=0" in describe(Event(None, "default", "/tasks/exit", name, payload))


def test_image_and_snapshot_events_and_unknown_types() -> None:
    from ocix.containerd.connection import load_stub_module

    img = load_stub_module("events.image_pb2")
    snap = load_stub_module("events.snapshot_pb2")
    raw = img.ImageCreate(name="docker.io/library/busybox:latest").SerializeToString()
    name, payload = decode("types.containerd.io/containerd.services.images.v1.ImageCreate", raw)
    assert describe(Event(None, "", "/images/create", name, payload)) == \
        "image created: name=docker.io/library/busybox:latest"
    name, payload = decode(*_any(snap.SnapshotCommit(key="extract-1 sha256:x", name="sha256:x")))
    assert describe(Event(None, "", "/snapshot/commit", name, payload)) == \
        "snapshot committed: key=extract-1 sha256:x name=sha256:x"
    assert decode("example.Unknown", b"\x08\x01") == ("example.Unknown", {})


def test_mount_commands() -> None:
    overlay = [snapshots.Mount("overlay", "overlay", options=[
        "index=off", f"workdir={ROOT}/snapshots/7/work", f"upperdir={ROOT}/snapshots/7/fs",
        f"lowerdir={ROOT}/snapshots/3/fs:{ROOT}/snapshots/2/fs"])]
    assert mount_command(overlay, "/mnt") == (
        f"mount -t overlay overlay -o index=off,workdir={ROOT}/snapshots/7/work,"
        f"upperdir={ROOT}/snapshots/7/fs,lowerdir={ROOT}/snapshots/3/fs:{ROOT}/snapshots/2/fs /mnt")
    assert snapshot_dirs(overlay) == [f"{ROOT}/snapshots/{i}/fs" for i in (7, 3, 2)]
    bind = [snapshots.Mount("bind", f"{ROOT}/snapshots/2/fs", options=["rw", "rbind"])]
    assert mount_command(bind, "DIR", readonly=True) == f"mount -o rbind,ro {ROOT}/snapshots/2/fs DIR"
    assert split_dir(f"{ROOT}/snapshots/12/fs") == (ROOT, "12")
    assert split_dir("/elsewhere/fs") is None


def test_docker_layers_without_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket to ask (a tcp:// DOCKER_HOST, or a path that does not exist): the defaults."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert docker_layers() == DockerLayers("/var/lib/docker/overlay2", "/var/lib/docker",
                                           "overlay2", "the default (no docker socket found)",
                                           False)
    monkeypatch.delenv("DOCKER_HOST")
    assert docker_layers("/nonexistent/docker.sock").source == "the default (no docker socket found)"



def test_lease_durations() -> None:
    from ocix.cli.store.leases import _duration

    assert [_duration(x) for x in ("90s", "15m", "24h", "7d", "0")] == [90, 900, 86400, 604800, 0]
    with pytest.raises(click.BadParameter):
        _duration("soon")
