"""Snapshots as parent chains: which image and container each one belongs to, and where it is on disk.

An image's snapshots are named by the chain IDs of its config's diff IDs; a container's is its
`snapshot_key`.  The overlayfs snapshotter keeps snapshot <id> in <root>/snapshots/<id>/fs, and
its mounts name those directories, which is how the directory is found without reading the
snapshotter's database (docs/gc.md).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from contextlib import suppress
from dataclasses import dataclass, field

from ...containerd import containers, images, snapshots
from ...containerd.connection import Connection
from ...errors import OcixError
from ...oci.digest import chain_ids
from ..images.tree import children, manifest_info

SNAPSHOT_REF_LABEL = "containerd.io/snapshot.ref"
_SNAPSHOT_DIR = re.compile(r"^(?P<root>.*)/snapshots/(?P<id>[^/]+)/(?:fs|work)$")


@dataclass
class Node:
    key: str
    parent: str
    kind: str
    chain_id: str  # the containerd.io/snapshot.ref label ("" on containers' snapshots)
    images: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


def image_chains(conn: Connection) -> dict[str, list[str]]:
    """chain ID -> names of the images whose layers stack up to it (every platform present)."""
    out: dict[str, list[str]] = {}
    for img in images.list_images(conn):
        try:
            manifests = children(conn, img.target)
        except OcixError:
            continue
        for m in manifests:
            try:
                info = manifest_info(conn, m)
            except OcixError:
                continue  # a platform that was not pulled
            for chain in chain_ids(info.diff_ids) if info.diff_ids else []:
                names = out.setdefault(chain, [])
                if img.name not in names:
                    names.append(img.name)
    return out


def container_keys(conn: Connection, snapshotter: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in containers.list_containers(conn):
        if c.snapshotter == snapshotter:
            out.setdefault(c.snapshot_key, []).append(c.id)
    return out


def tree(conn: Connection, snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> list[Node]:
    """The forest of snapshots, roots (no parent) first, children sorted by key."""
    chains = image_chains(conn)
    owners = container_keys(conn, snapshotter)
    nodes = {s.name: Node(s.name, s.parent, s.kind, s.labels.get(SNAPSHOT_REF_LABEL, ""),
                          chains.get(s.name, []), owners.get(s.name, []))
             for s in snapshots.list_snapshots(conn, snapshotter)}
    roots: list[Node] = []
    for n in nodes.values():
        parent = nodes.get(n.parent)
        (parent.children if parent else roots).append(n)
    return roots


def require(conn: Connection, key: str, snapshotter: str) -> snapshots.Snapshot:
    """Stat KEY, or one clear NotFoundError."""
    from ...errors import NotFoundError

    try:
        return snapshots.stat(conn, key, snapshotter)
    except NotFoundError:
        raise NotFoundError(f"no {snapshotter} snapshot {key!r} in namespace {conn.namespace!r}",
                            kind="snapshot-unknown") from None


@dataclass(frozen=True)
class MountPlan:
    key: str  # the snapshot whose mounts these are (a new view for a committed snapshot)
    mounts: list[snapshots.Mount]
    command: str  # `mount ...` as a user would type it, with DIR for the target
    view: str = ""  # the View ocix created, "" if none
    lease: str = ""  # the lease keeping that View


def mount_argv(mounts: list[snapshots.Mount], target: str, *, readonly: bool = False) -> list[str]:
    """mount(8)'s argv for one snapshot mount on `target`."""
    if len(mounts) != 1:
        raise OcixError(f"{len(mounts)} mounts: ocix prints a command for exactly one")
    m = mounts[0]
    opts = list(m.options)
    if readonly:
        opts = [o for o in opts if o != "rw"] + ([] if "ro" in opts else ["ro"])
    if m.type == "bind":
        return ["mount", "-o", ",".join(opts), m.source, target]
    return ["mount", "-t", m.type, m.source, "-o", ",".join(opts), target]


def mount_command(mounts: list[snapshots.Mount], target: str = "DIR", *, readonly: bool = False) -> str:
    """The mount(8) command line for one snapshot mount; `target` is put in as given."""

    argv = mount_argv(mounts, target, readonly=readonly)
    return " ".join(shlex.quote(a) for a in argv[:-1]) + " " + target


def snapshot_dirs(mounts: list[snapshots.Mount]) -> list[str]:
    """The snapshot directories the mounts name: upperdir first, then lowerdirs top-down."""
    dirs: list[str] = []
    for m in mounts:
        if m.type == "bind":
            dirs.append(m.source)
            continue
        opts = dict(o.split("=", 1) for o in m.options if "=" in o)
        if "upperdir" in opts:
            dirs.append(opts["upperdir"])
        dirs.extend(d for d in opts.get("lowerdir", "").split(":") if d)
    return dirs


def split_dir(path: str) -> tuple[str, str] | None:
    """(snapshotter root, snapshot id) of an overlayfs snapshot directory, or None."""
    m = _SNAPSHOT_DIR.match(path)
    return (m.group("root"), m.group("id")) if m else None


def plan_mounts(conn: Connection, key: str, snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
                target: str = "DIR") -> MountPlan:
    """Mounts of an active or view snapshot; for a committed one, a new View under a lease
    (kept until the user removes it: it is what makes the printed command valid)."""

    from ...containerd import leases

    snap = require(conn, key, snapshotter)
    if snap.kind != "committed":
        mounts = snapshots.mounts(conn, key, snapshotter)
        return MountPlan(key, mounts, mount_command(mounts, target, readonly=snap.kind == "view"))
    view = f"ocix-view-{os.urandom(6).hex()}"
    lease = leases.create(conn, f"ocix-lease-{view}", labels={"ocix.io/view": view}, owned=False)
    try:
        mounts = snapshots.view(conn, view, key, snapshotter=snapshotter, lease=lease.id)
    except BaseException:
        leases.delete(conn, lease.id)
        raise
    return MountPlan(view, mounts, mount_command(mounts, target, readonly=True), view, lease.id)


def mount_snapshot(conn: Connection, key: str, directory: str,
                   snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> MountPlan:
    """Mount snapshot KEY read-only on `directory` (plan_mounts, then mount(8)).

    The directory is checked before anything is made; when the mount fails, the View and lease
    made for a committed snapshot are removed again: nothing is lost and nothing is left."""

    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise OcixError(f"mount point {directory} {what}",
                        hint=f"create it first: mkdir -p {shlex.quote(directory)}")
    plan = plan_mounts(conn, key, snapshotter, shlex.quote(directory))
    try:
        r = subprocess.run(mount_argv(plan.mounts, directory, readonly=True), capture_output=True,
                           text=True, check=False, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise OcixError(f"mount failed: {(r.stderr or r.stdout).strip()}",
                            hint="mounting needs root (CAP_SYS_ADMIN)")
    except BaseException as e:
        left = remove_view(conn, plan, snapshotter)
        if left and isinstance(e, OcixError):
            e.hint = "; ".join([*([e.hint] if e.hint else []), f"could not remove {', '.join(left)}"])
        raise
    return plan


def remove_view(conn: Connection, plan: MountPlan, snapshotter: str) -> list[str]:
    """Remove the View and lease plan_mounts made (nothing for an active snapshot); returns
    what could not be removed."""
    from ...containerd import leases
    from ...errors import NotFoundError

    if not plan.view:
        return []
    left = []
    for what, undo in ((f"view {plan.view}", lambda: snapshots.remove(conn, plan.view, snapshotter)),
                       (f"lease {plan.lease}", lambda: leases.delete(conn, plan.lease))):
        try:
            undo()
        except NotFoundError:
            pass
        except OcixError as err:
            left.append(f"{what}: {err.message}")
    return left


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot: snapshots.Snapshot
    snapshotter: str
    usage: snapshots.Usage
    directory: str  # its own directory on disk ("" if the mounts do not name it)
    snapshot_id: str
    snapshotter_root: str
    found_via: str  # how the directory was learnt
    images: list[str]
    containers: list[str]


def info(conn: Connection, key: str, snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> SnapshotInfo:
    """Stat, usage and the on-disk directory.  An active snapshot's directory is its mounts'
    upperdir.  A committed snapshot has no mounts of its own: a child's mounts list it as a
    lowerdir when one exists; otherwise a View is opened and removed at once."""
    snap = require(conn, key, snapshotter)
    use = snapshots.usage(conn, key, snapshotter)
    directory, via = "", ""
    if snap.kind == "active":
        dirs = snapshot_dirs(snapshots.mounts(conn, key, snapshotter))
        directory, via = (dirs[0] if dirs else ""), "its mounts (upperdir)"
    elif snap.kind == "committed":
        directory, via = _committed_dir(conn, key, snapshotter)
    elif snap.kind == "view":
        via = "a view has no directory of its own; its mounts show its parents'"
    root_id = split_dir(directory) if directory else None
    chains = image_chains(conn)
    owners = container_keys(conn, snapshotter)
    return SnapshotInfo(snap, snapshotter, use, directory, root_id[1] if root_id else "",
                        root_id[0] if root_id else "", via, chains.get(key, []), owners.get(key, []))


def _committed_dir(conn: Connection, key: str, snapshotter: str) -> tuple[str, str]:

    from ...containerd import leases

    # A snapshot stacked on it names its directory: an active child's first lowerdir (after its
    # own upperdir), a view's first directory.
    for s in snapshots.list_snapshots(conn, snapshotter, [f'parent=="{key}"']):
        if s.kind in ("active", "view"):
            dirs = snapshot_dirs(snapshots.mounts(conn, s.name, snapshotter))
            lowers = dirs[1:] if s.kind == "active" else dirs
            if lowers:
                return lowers[0], f"the mounts of {s.kind} snapshot {s.name}"
    view = f"ocix-info-{os.urandom(6).hex()}"
    with leases.temporary(conn) as lease:
        try:
            dirs = snapshot_dirs(snapshots.view(conn, view, key, snapshotter=snapshotter,
                                                lease=lease.id))
        finally:
            with suppress(OcixError):
                snapshots.remove(conn, view, snapshotter)
    return (dirs[0] if dirs else ""), "a View opened and removed at once (its first lowerdir)"
