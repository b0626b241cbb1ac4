"""Unpack layers into a snapshotter, as containerd's unpacker does (docs/sources.md).

Per layer i: chainID = ChainID(diff_ids[:i+1]); if a snapshot named chainID exists, skip;
else Prepare("extract-<nanos>-<rand> <chainID>", parent), Diff.Apply the layer blob onto its
mounts, check the applied digest against diff_ids[i], Commit(chainID), and label the blob
`containerd.io/uncompressed`.  Another client committing the same chain first is fine.
See docs/containerd-protocol.md, "Unpack".
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ...containerd import content, diff, leases, snapshots
from ...containerd.connection import Connection
from ...errors import (
    AlreadyExistsError,
    DigestMismatchError,
    NotFoundError,
    OcixError,
    UnreachableError,
)
from ...oci.descriptor import Descriptor
from ...oci.digest import chain_ids

SNAPSHOT_REF_LABEL = "containerd.io/snapshot.ref"
UNCOMPRESSED_LABEL = "containerd.io/uncompressed"


@dataclass(frozen=True)
class Unpacked:
    chain_id: str
    diff_id: str
    applied: bool  # False when the snapshot already existed
    seconds: float


class ApplyRefused(OcixError):
    """containerd's Diff.Apply failed on the layer itself (not on the connection)."""


def snapshot_gc_label(snapshotter: str) -> str:
    return f"containerd.io/gc.ref.snapshot.{snapshotter}"


def unpack_layer(conn: Connection, layers: list[Descriptor], diff_ids: list[str], i: int, *,
                 snapshotter: str, lease: str | None) -> Unpacked:
    """Unpack layer i; layers before it must be unpacked already."""
    chains = chain_ids(diff_ids[: i + 1])
    chain, parent = chains[i], (chains[i - 1] if i else "")
    start = time.monotonic()
    if lease:
        # A snapshot that exists already may be garbage (a failed pull's, its lease gone) that
        # GC removes at any moment: the lease holds it before we look, so it stays for the
        # layers above it.
        leases.add_resource(conn, lease, chain, f"snapshots/{snapshotter}")
    try:
        snapshots.stat(conn, chain, snapshotter, lease=lease)
        return Unpacked(chain, diff_ids[i], False, 0.0)
    except NotFoundError:
        pass
    labels = {SNAPSHOT_REF_LABEL: chain}
    key = ""
    for _ in range(3):
        key = f"extract-{time.time_ns()}-{os.urandom(6).hex()} {chain}"
        try:
            mounts = snapshots.prepare(conn, key, parent, snapshotter=snapshotter, labels=labels,
                                       lease=lease)
            break
        except AlreadyExistsError:
            try:
                snapshots.stat(conn, chain, snapshotter, lease=lease)
                return Unpacked(chain, diff_ids[i], False, 0.0)
            except NotFoundError:
                continue
    else:
        raise OcixError(f"could not prepare an extraction snapshot for {chain}")
    try:
        try:
            applied = diff.apply(conn, layers[i], mounts, lease=lease)
        except UnreachableError:
            raise
        except OcixError as e:
            if e.code in ("DEADLINE_EXCEEDED", "CANCELLED", "UNAVAILABLE"):
                raise  # the call failed, not the layer
            raise ApplyRefused(e.message, hint=e.hint, code=e.code) from e
        if applied.digest != diff_ids[i]:
            raise DigestMismatchError(
                f"layer {i} ({layers[i].digest}) unpacks to diff ID {applied.digest}, but the image "
                f"config says {diff_ids[i]}")
        try:
            snapshots.commit(conn, chain, key, snapshotter=snapshotter, labels=labels, lease=lease)
        except AlreadyExistsError:
            _remove_quietly(conn, key, snapshotter, lease)
    except BaseException:
        _remove_quietly(conn, key, snapshotter, lease)
        raise
    content.update_labels(conn, layers[i].digest, {UNCOMPRESSED_LABEL: diff_ids[i]}, lease=lease)
    return Unpacked(chain, diff_ids[i], True, time.monotonic() - start)


def _remove_quietly(conn: Connection, key: str, snapshotter: str, lease: str | None) -> None:
    try:
        snapshots.remove(conn, key, snapshotter, lease=lease)
    except OcixError:
        pass


def is_unpacked(conn: Connection, diff_ids: list[str], snapshotter: str) -> bool:
    if not diff_ids:
        return False
    try:
        snapshots.stat(conn, chain_ids(diff_ids)[-1], snapshotter)
        return True
    except NotFoundError:
        return False
