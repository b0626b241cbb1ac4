"""Create and remove a container: its snapshot, its record and (on removal) its task.

What `ctr run` does before the task exists, and what `ctr containers rm` does after: on a
failure nothing made here is left behind (docs/containerd-protocol.md, "Containers and tasks").
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from ...containerd import containers, leases, snapshots, tasks
from ...containerd.connection import Connection
from ...errors import AlreadyExistsError, NotFoundError, OcixError
from ...oci.spec import RunOptions
from ...oci.specjson import spec_bytes
from ...runtimes import runtime_binary
from .imagespec import (
    ImageInfo,
    build_spec,
    check_run_options,
    not_unpacked_error,
    resolve_image,
    stop_signal,
)


@dataclass
class RunRequest:
    image: str
    options: RunOptions = field(default_factory=RunOptions)
    container_id: str | None = None
    rm: bool = False
    detach: bool = False
    interactive: bool = False
    log_file: str | None = None
    runtime: str = "runc"
    snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER
    platform: str | None = None


@dataclass(frozen=True)
class RunResult:
    container_id: str
    pid: int
    exit_status: int | None  # None when detached


def in_use_error(container_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"container name {container_id!r} is already in use: remove it with "
                              f"`ocix containers rm {container_id}` or choose another --name")


# -- the container record -----------------------------------------------------------------------
def create_container(conn: Connection, req: RunRequest, container_id: str) -> tuple[
        ImageInfo, list[snapshots.Mount], dict[str, Any]]:
    """Prepare the snapshot, build the spec, create the container (the rootfs mounts returned).

    On failure nothing created here is left behind.
    """
    binary = runtime_binary(req.runtime)
    check_run_options(req.options)
    image = resolve_image(conn, req.image, req.platform)
    prepared = False
    with leases.temporary(conn) as lease:
        try:
            try:
                mounts = snapshots.prepare(conn, container_id, image.chain_id,
                                           snapshotter=req.snapshotter, lease=lease.id)
            except AlreadyExistsError:
                raise in_use_error(container_id) from None
            except NotFoundError:
                raise not_unpacked_error(image, req.snapshotter, req.image) from None
            prepared = True
            spec = build_spec(conn, image, container_id, req.options, mounts)
            try:
                containers.create(conn, container_id, image=image.name, spec_json=spec_bytes(spec),
                                  snapshot_key=container_id, snapshotter=req.snapshotter,
                                  runtime_binary=binary,
                                  labels={containers.STOP_SIGNAL_LABEL: stop_signal(image.config)},
                                  lease=lease.id)
            except AlreadyExistsError:
                raise in_use_error(container_id) from None
        except BaseException:
            if prepared:
                with suppress(OcixError):
                    snapshots.remove(conn, container_id, req.snapshotter)
            raise
    return image, mounts, spec


def remove_container(conn: Connection, container_id: str, *, force: bool = False) -> None:
    """Task (if any; running needs force), snapshot, record: what `ctr c rm` does."""
    c = containers.get(conn, container_id)
    try:
        t = tasks.get(conn, container_id)
    except NotFoundError:
        t = None
    if t is not None:
        remove_task(conn, container_id, force=force, task=t)
    if c.snapshot_key:
        with suppress(NotFoundError):
            snapshots.remove(conn, c.snapshot_key, c.snapshotter or snapshots.DEFAULT_SNAPSHOTTER)
    containers.delete(conn, container_id)


def cleanup_after_run(conn: Connection, container_id: str, snapshotter: str, *, task: bool,
             rm: bool) -> None:
    if task:
        with suppress(OcixError):
            tasks.force_remove(conn, container_id)
    if rm:
        with suppress(OcixError):
            snapshots.remove(conn, container_id, snapshotter)
        with suppress(OcixError):
            containers.delete(conn, container_id)


def remove_task(conn: Connection, container_id: str, *, force: bool = False,
                task: tasks.Task | None = None) -> None:
    """Delete a task; a running or paused one only with `force` (SIGKILL first)."""
    t = task or tasks.get(conn, container_id)
    if t.status not in ("stopped", "created") and not force:
        raise OcixError(f"container {container_id} has a {t.status} task: stop it first or "
                        "use --force")
    tasks.force_remove(conn, container_id, task=t)
