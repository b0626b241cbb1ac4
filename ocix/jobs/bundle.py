"""`ocix bundle`: an OCI runtime bundle (config.json + rootfs/) that runc and crun run directly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..containerd import snapshots
from ..containerd.connection import Connection
from ..oci import bundle as bundlefs
from ..oci.spec import RunOptions
from .imagespec import build_spec, check_id, image_view, resolve_image


@dataclass(frozen=True)
class BundleResult:
    directory: str
    config: str
    rootfs: str
    image: str
    args: list[str]


def make_bundle(conn: Connection, ref: str, directory: Path, container_id: str, opts: RunOptions,
                snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
                platform: str | None = None) -> BundleResult:
    """DIR/config.json (the run spec, made standalone) and DIR/rootfs copied out of a View mount."""
    check_id(container_id)
    image = resolve_image(conn, ref, platform)
    rootfs = bundlefs.empty_rootfs(directory)  # before any snapshot or mount is made
    with image_view(conn, image, snapshotter) as mounts:
        spec = build_spec(conn, image, container_id, opts, mounts)
        with bundlefs.mounted(mounts) as root:
            config = bundlefs.write_bundle(directory, bundlefs.bundle_spec(spec, container_id),
                                           root)
    return BundleResult(str(directory), str(config), str(rootfs), image.name,
                        list(spec["process"].get("args") or []))
