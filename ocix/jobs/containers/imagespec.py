"""From an image in containerd to a runtime spec: resolve the image, view its rootfs, build.

USER is looked up in the image's /etc/passwd and /etc/group through the snapshot's layer
directories, so nothing is mounted for the common overlayfs case.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from ...containerd import images, leases, snapshots
from ...containerd.connection import Connection
from ...errors import NotFoundError, OcixError, UsageError
from ...kernel import caps
from ...oci import bundle as bundlefs
from ...oci.digest import chain_id
from ...oci.spec import RunOptions, SpecError, check_options, generate, validate_container_id
from ...oci.user import ReadFile, rootfs_reader
from ...registry.reference import parse as parse_reference
from ..images.tree import default_manifest


def new_container_id() -> str:
    return os.urandom(6).hex()


def check_id(container_id: str, what: str = "container id") -> str:
    """containerd's identifier rule, as a usage error (exit 2)."""
    try:
        return validate_container_id(container_id, what)
    except SpecError as e:
        raise UsageError(e.message) from None


def check_run_options(opts: RunOptions) -> None:
    """Refuse options this machine cannot honour, before anything is created: a --cap-add
    outside this process's bounding set, say (docs/vm-limits.md)."""
    check_options(opts, last_cap=caps.cap_last_cap(), bounding=caps.bounding_set())


@dataclass(frozen=True)
class ImageInfo:
    name: str
    config: dict[str, Any]
    chain_id: str


def resolve_image(conn: Connection, ref: str, platform: str | None = None) -> ImageInfo:
    """The image record, its config and its top chain ID; a clear error if it is not pulled."""
    name = parse_reference(ref).name
    try:
        img = images.get(conn, name)
    except NotFoundError:
        raise NotFoundError(f"image {name} is not pulled: run `ocix pull {ref}` first") from None
    try:
        m = default_manifest(conn, img.target, platform)
    except NotFoundError as e:
        raise NotFoundError(f"image {name} is incomplete ({e.message}): run `ocix pull {ref}` "
                            "again") from None
    if not m.diff_ids:
        raise OcixError(f"image {name} has no layers")
    return ImageInfo(name, m.config_doc, chain_id(m.diff_ids))


def stop_signal(config: dict[str, Any]) -> str:
    sig = ((config.get("config") or {}).get("StopSignal") or "SIGTERM") if config else "SIGTERM"
    return str(sig)


@contextmanager
def rootfs_files(mounts: list[snapshots.Mount]) -> Iterator[ReadFile]:
    """Reads files of the rootfs: through the layer directories, or a temporary mount."""
    dirs = bundlefs.layer_dirs(mounts)
    if dirs is not None:
        yield bundlefs.layered_reader(dirs)
        return
    with bundlefs.mounted(mounts) as root:
        yield rootfs_reader(root)


def not_unpacked_error(image: ImageInfo, snapshotter: str, ref: str) -> NotFoundError:
    return NotFoundError(f"image {image.name} is not unpacked into {snapshotter}: run "
                         f"`ocix pull {ref}` first")


@contextmanager
def image_view(conn: Connection, image: ImageInfo,
               snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> Iterator[list[snapshots.Mount]]:
    """A temporary read-only View snapshot of the image (under a lease), removed afterwards."""
    key = f"ocix-view-{os.urandom(6).hex()}"
    with leases.temporary(conn) as lease:
        try:
            mounts = snapshots.view(conn, key, image.chain_id, snapshotter=snapshotter,
                                    lease=lease.id)
        except NotFoundError:
            raise not_unpacked_error(image, snapshotter, image.name) from None
        try:
            yield mounts
        finally:
            with suppress(OcixError):
                snapshots.remove(conn, key, snapshotter)


def build_spec(conn: Connection, image: ImageInfo, container_id: str, opts: RunOptions,
               mounts: list[snapshots.Mount]) -> dict[str, Any]:
    """The run spec, USER looked up in the rootfs those snapshot mounts give."""
    with rootfs_files(mounts) as read:
        return generate(conn.namespace, container_id, image.config, opts, read,
                        last_cap=caps.cap_last_cap(), bounding=caps.bounding_set())


def spec_for(conn: Connection, ref: str, container_id: str, opts: RunOptions,
             snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
             platform: str | None = None) -> dict[str, Any]:
    """What `run` would send, computed from a temporary View (`ocix spec`)."""
    check_id(container_id)
    check_run_options(opts)
    image = resolve_image(conn, ref, platform)
    with image_view(conn, image, snapshotter) as mounts:
        return build_spec(conn, image, container_id, opts, mounts)
