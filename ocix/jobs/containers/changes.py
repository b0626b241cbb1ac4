"""`ocix diff --container`: what a container changed against its image, like `docker diff`.

The container's writable layer is an overlay upperdir: containerd's Snapshots.Mounts names it
for a container of `ocix run` or `ctr run`; dockerd (overlay2 under its own root) reports it
as GraphDriver.Data.UpperDir.  The listing is the one the lab's dockerd (20.10, overlay2)
gives: the two trees are compared path by path (its naive ChangesDirs), so a deleted tree is
one D, an added tree is A for every path in it, a path whose mode, owner, size or mtime
differs is C (a directory's size and mtime do not count), and every directory with a change
inside is C too.  The upperdir holds every path that can differ: a char device 0/0 there is a
deletion, an opaque directory (trusted.overlay.opaque=y) deletes what the lower layers had in
it (docs/imagefs.md).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ...containerd import containers, snapshots
from ...containerd.connection import Connection
from ...errors import NotFoundError, OcixError

ADD, CHANGE, DELETE = "A", "C", "D"
OPAQUE_XATTR = "trusted.overlay.opaque"
CAPS_XATTR = "security.capability"


@dataclass(frozen=True)
class Change:
    change: str  # A, C or D
    path: str


@dataclass(frozen=True)
class ContainerDiff:
    container: str
    source: str  # "containerd" or "docker"
    image: str
    upperdir: str
    lowerdirs: list[str]
    changes: list[Change]


def overlay_dirs(mounts: list[snapshots.Mount]) -> tuple[str, list[str]]:
    """(upperdir, lowerdirs top-down) of an active snapshot's mounts; a snapshot without a
    parent is one bind mount of its own directory."""
    if len(mounts) != 1:
        raise OcixError(f"the snapshot has {len(mounts)} mounts; ocix reads exactly one")
    m = mounts[0]
    if m.type == "bind":
        return m.source, []
    if m.type != "overlay":
        raise OcixError(f"the snapshot is a {m.type} mount; ocix reads overlay upperdirs only")
    opts = dict(o.split("=", 1) for o in m.options if "=" in o)
    if "upperdir" not in opts:
        raise OcixError("the overlay mount has no upperdir: the snapshot is read-only")
    return opts["upperdir"], [d for d in opts.get("lowerdir", "").split(":") if d]


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    """dockerd's sameFsTimeSpec: equal, or equal seconds when one side has no nanoseconds."""
    sa, na = divmod(a.st_mtime_ns, 10**9)
    sb, nb = divmod(b.st_mtime_ns, 10**9)
    return sa == sb and (na == nb or na == 0 or nb == 0)


def _differ(old: os.stat_result, new: os.stat_result) -> bool:
    """dockerd's statDifferent: a directory's size and mtime say nothing."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != \
            (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    return not stat.S_ISDIR(old.st_mode) and (not _same_time(old, new)
                                               or old.st_size != new.st_size)


def _caps(path: str) -> bytes:
    try:
        return os.getxattr(path, CAPS_XATTR, follow_symlinks=False)
    except OSError:
        return b""


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


class _Lower:
    """The image's tree as the container started with it: the lowerdirs merged top-down."""

    def __init__(self, dirs: list[str]) -> None:
        self.dirs = dirs

    def find(self, path: str) -> tuple[str, os.stat_result] | None:
        for d in self.dirs:
            st = _lstat(d + path)
            if st is not None:
                return None if _whiteout(st) else (d + path, st)
            if self._blocked(d, path):
                return None
        return None

    def _blocked(self, d: str, path: str) -> bool:
        """Does layer `d` hide `path` of the layers below: a whiteout, a file or an opaque
        directory on the way?"""
        parent = os.path.dirname(path)
        while parent != "/":
            st = _lstat(d + parent)
            if st is not None:
                return not stat.S_ISDIR(st.st_mode) or _opaque(d + parent)
            parent = os.path.dirname(parent)
        return False

    def children(self, path: str) -> set[str]:
        names: set[str] = set()
        hidden: set[str] = set()
        for d in self.dirs:
            st = _lstat(d + path) if path else _lstat(d)
            if st is None:
                if self._blocked(d, path or "/"):
                    break
                continue
            if not stat.S_ISDIR(st.st_mode):
                break
            for name in os.listdir(d + path):
                if name in hidden or name in names:
                    continue
                if _whiteout(os.lstat(f"{d}{path}/{name}")):
                    hidden.add(name)
                else:
                    names.add(name)
            if path and _opaque(d + path):
                break
        return names


def overlay_changes(upper: str, lowers: list[str]) -> list[Change]:
    """The changes of an overlay upperdir against its lowerdirs, as `docker diff` lists them
    (dockerd's naive ChangesDirs compared the two trees; the upperdir holds every path that
    can differ)."""
    out: list[Change] = []
    _scan(upper, _Lower(lowers), "", True, out)
    return sorted(out, key=lambda c: c.path.split("/"))


def _scan(upper: str, lower: _Lower, rel: str, in_lower: bool, out: list[Change]) -> None:
    here = upper + rel
    names = sorted(os.listdir(here))
    for name in names:
        path = f"{rel}/{name}"
        st = os.lstat(upper + path)
        old = lower.find(path) if in_lower else None
        if _whiteout(st):
            if old is not None:
                out.append(Change(DELETE, path))
            continue
        if old is None:
            out.append(Change(ADD, path))
            if stat.S_ISDIR(st.st_mode):
                _scan(upper, lower, path, False, out)
            continue
        old_path, old_st = old
        changed = _differ(old_st, st) or (not stat.S_ISDIR(st.st_mode)
                                          and _caps(old_path) != _caps(upper + path))
        at = len(out)
        if changed:
            out.append(Change(CHANGE, path))
        if stat.S_ISDIR(st.st_mode):
            _scan(upper, lower, path, stat.S_ISDIR(old_st.st_mode), out)
            if len(out) > at and not changed:  # a directory with changes inside is changed
                out.insert(at, Change(CHANGE, path))
    if rel and in_lower and _opaque(here):  # the lower contents it hides are deleted
        out.extend(Change(DELETE, f"{rel}/{n}") for n in sorted(lower.children(rel) - set(names)))


def container_diff(conn: Connection, name: str, docker_socket: str | None = None
                   ) -> ContainerDiff:
    """A containerd container's changes, or (when containerd has no snapshot for it) the
    changes of the dockerd container of that name or ID."""
    record: containers.Container | None
    try:
        record = containers.get(conn, name)
    except NotFoundError:
        record = None
    if record is not None and record.snapshot_key:
        snapshotter = record.snapshotter or snapshots.DEFAULT_SNAPSHOTTER
        try:
            mounts = snapshots.mounts(conn, record.snapshot_key, snapshotter)
        except NotFoundError:
            raise NotFoundError(f"container {name}: its snapshot {record.snapshot_key} is gone",
                                hint="the container has no rootfs to compare") from None
        upper, lowers = overlay_dirs(mounts)
        if mounts[0].type == "bind" and snapshots.stat(conn, record.snapshot_key,
                                                       snapshotter).parent:
            raise OcixError(f"container {name}: snapshotter {snapshotter} keeps a full copy of "
                            "the rootfs, not an overlay upperdir",
                            hint="ocix reads containers of the overlayfs snapshotter")
        return ContainerDiff(record.id, "containerd", record.image, upper, lowers,
                             overlay_changes(upper, lowers))
    return _docker_diff(conn, name, docker_socket, found=record is not None)


def _docker_diff(conn: Connection, name: str, socket: str | None, *, found: bool
                 ) -> ContainerDiff:
    from ...dockerapi.client import DockerClient, socket_from_env

    url = socket_from_env(socket)
    path = url.removeprefix("unix://")
    if not found and url.startswith("unix://") and not os.path.exists(path):
        raise NotFoundError(f"no container {name!r} in namespace {conn.namespace!r}",
                            kind="container-unknown")
    with DockerClient(url) as client:
        try:
            data = client.call(f"GET /containers/{name}/json", client.api.inspect_container, name)
        except NotFoundError:
            raise NotFoundError(f"no container {name!r} in namespace {conn.namespace!r} nor in "
                                f"dockerd at {url}",
                                kind="container-unknown-anywhere"
                                ) from None
    driver = data.get("GraphDriver") or {}
    facts = driver.get("Data") or {}
    upper = str(facts.get("UpperDir") or "")
    if not upper:
        raise OcixError(f"docker container {name}: its storage driver {driver.get('Name')!r} "
                        "names no UpperDir", hint="ocix reads overlay2 containers only")
    lowers = [d for d in str(facts.get("LowerDir") or "").split(":") if d]
    image = str((data.get("Config") or {}).get("Image") or data.get("Image") or "")
    return ContainerDiff(str(data.get("Id") or name), "docker", image, upper, lowers,
                         overlay_changes(upper, lowers))
