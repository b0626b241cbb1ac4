"""`ocix bundle`: an OCI runtime bundle (config.json + rootfs/) that runc and crun run directly."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ...containerd import snapshots
from ...containerd.connection import Connection
from ...oci import bundle as bundlefs
from ...oci.spec import RunOptions
from ...runtimes import bundle_commands
from .imagespec import build_spec, check_id, check_run_options, image_view, resolve_image


@dataclass(frozen=True)
class BundleResult:
    directory: str
    config: str
    rootfs: str
    image: str
    args: list[str]
    run_with: list[str]  # command lines that run this bundle on this host (runc, crun)


def make_bundle(conn: Connection, ref: str, directory: Path, container_id: str, opts: RunOptions,
                snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
                platform: str | None = None, *, force: bool = False) -> BundleResult:
    """DIR/config.json (the run spec, made standalone) and DIR/rootfs copied out of a View mount.

    DIR must be new or empty (`force`: any directory without a non-empty rootfs/); it is checked
    before any snapshot or mount is made, and removed again on failure if it was created here.
    """
    check_id(container_id)
    check_run_options(opts)
    image = resolve_image(conn, ref, platform)
    created = bundlefs.prepare_bundle_dir(directory, force=force)
    try:
        with image_view(conn, image, snapshotter) as mounts:
            spec = build_spec(conn, image, container_id, opts, mounts)
            with bundlefs.mounted(mounts) as root:
                config = bundlefs.write_bundle(directory,
                                               bundlefs.bundle_spec(spec, container_id), root)
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    return BundleResult(str(directory), str(config), str(directory / "rootfs"), image.name,
                        list(spec["process"].get("args") or []),
                        bundle_commands(str(directory), container_id))
