"""The lab's real images (library/debian:bookworm, library/app:latest): kept in a cache that
is an OCI layout of its own, keyed by what a build depends on, and built when missing.

The key holds the apt sources, the platform, mmdebstrap's version, the epoch and the recipes:
another archive state under the same key keeps the cached image (docs/real-images.md).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ...oci.descriptor import Descriptor
from ...oci.layout import LayoutImage, atomic_write, blob_path, init_layout, locked
from ..state import Progress, quiet
from . import appimage
from .debian import build_debian, extract, recipe

CACHE_ENV = "OCIX_DEBIAN_CACHE"
RECORDS = "ocix-real-images.json"


def cache_dir(lab_root: Path) -> Path:
    """Where real images are kept between seeds: $OCIX_DEBIAN_CACHE, else <lab>/real-images."""
    explicit = os.environ.get(CACHE_ENV)
    return Path(explicit) if explicit else Path(lab_root) / "real-images"


def cached(cache: Path, key: str) -> LayoutImage | None:
    try:
        rec = json.loads((cache / RECORDS).read_text()).get(key)
    except (OSError, ValueError):
        return None
    if not rec:
        return None
    img = LayoutImage(rec["repo"], rec["tag"], Descriptor.from_json(rec["root"]), cache)
    try:
        for d in _blobs(cache, img.root):
            p = blob_path(cache, d.digest)
            if not p.exists() or p.stat().st_size != d.size:
                return None
    except (OSError, ValueError, KeyError):
        return None
    return img


def _blobs(cache: Path, root: Descriptor) -> list[Descriptor]:
    """A manifest and what it references (the real images are single manifests)."""
    doc = json.loads(blob_path(cache, root.digest).read_bytes())
    return [root, Descriptor.from_json(doc["config"])] + [Descriptor.from_json(x)
                                                          for x in doc["layers"]]


def record(cache: Path, key: str, img: LayoutImage) -> None:
    path = cache / RECORDS
    try:
        recs = json.loads(path.read_text())
    except (OSError, ValueError):
        recs = {}
    recs[key] = {"repo": img.repo, "tag": img.tag, "root": img.root.to_json()}
    atomic_write(path, json.dumps(recs, indent=1, sort_keys=True).encode())


def seed_real(lab_root: Path, *, mirror: str | None = None, with_app: bool = True,
              cache: Path | None = None, progress: Progress = quiet) -> list[LayoutImage]:
    """library/debian:bookworm (and library/app:latest on top) from the cache or built now."""
    rc = recipe(mirror)
    cache = Path(cache) if cache else cache_dir(lab_root)
    cache.mkdir(parents=True, exist_ok=True)
    init_layout(cache)
    with locked(cache):
        deb_key, app_key = rc.key("debian"), rc.key("app " + appimage.fingerprint())
        deb = cached(cache, deb_key)
        app = cached(cache, app_key) if with_app else None
        if deb is not None and (app is not None or not with_app):
            progress(f"debian{' and app' if with_app else ''}: cached in {cache}")
            return [deb] + ([app] if app else [])
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
        try:
            if deb is None:
                deb = build_debian(rc, cache, work, progress)
                record(cache, deb_key, deb)
            else:
                progress("unpacking the cached debian layer")
                extract(cache, deb, work / "rootfs")
            if not with_app:
                return [deb]
            app = appimage.build(rc, cache, deb, work / "rootfs", progress)
            record(cache, app_key, app)
            return [deb, app]
        finally:
            shutil.rmtree(work, ignore_errors=True)
