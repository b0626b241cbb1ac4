"""The OCI image layout on disk: `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.

Reading and writing only; the lab's image builder writes through it and the registry pusher
reads through it.  Writes are atomic (temp file + rename) so a reader never sees half a blob.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OcixError
from . import mediatypes as mt
from .descriptor import Descriptor, Platform
from .digest import sha256_digest

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class LayoutImage:
    """One tagged image in a layout: what a push needs."""

    repo: str
    tag: str
    root: Descriptor  # the manifest, or the index for several platforms
    layout: Path

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def blob_path(layout: Path, digest: str) -> Path:
    algo, hexpart = digest.split(":", 1)
    return Path(layout) / "blobs" / algo / hexpart


def read_blob(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def init_layout(layout: Path) -> None:
    layout = Path(layout)
    try:
        (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (layout, *layout.parents) if p.exists() and not p.is_dir()),
                       layout)
        raise OcixError(f"cannot make an OCI layout in {layout}: {blocker} is a file, not a "
                        "directory") from None
    except OSError as e:
        raise OcixError(f"cannot make an OCI layout in {layout}: {e.strerror or e}") from None
    marker = layout / "oci-layout"
    if not marker.exists():
        atomic_write(marker, canonical_json({"imageLayoutVersion": "1.0.0"}))
    if not (layout / "index.json").exists():
        atomic_write(layout / "index.json", canonical_json(
            {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}))


def write_blob(layout: Path, data: bytes, media_type: str,
               annotations: dict[str, str] | None = None,
               platform: Platform | None = None) -> Descriptor:
    digest = sha256_digest(data)
    path = blob_path(layout, digest)
    if not (path.exists() and path.stat().st_size == len(data)):
        atomic_write(path, data)
    return Descriptor(media_type=media_type, digest=digest, size=len(data),
                      annotations=dict(annotations or {}), platform=platform)


@contextlib.contextmanager
def locked(layout: Path) -> Iterator[None]:
    """One writer per layout at a time: index.json (and a builder's cache) are read-modify-write."""
    with open(Path(layout) / ".ocix-build.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def tag(layout: Path, ref: str, root: Descriptor) -> None:
    """Point ref.name `ref` in the layout's index.json at `root` (replacing an older entry)."""
    path = Path(layout) / "index.json"
    doc = json.loads(path.read_text())
    entries = [m for m in doc.get("manifests", [])
               if (m.get("annotations") or {}).get(REF_NAME) != ref]
    entry = root.to_json()
    entry["annotations"] = {REF_NAME: ref}
    entries.append(entry)
    entries.sort(key=lambda m: (m.get("annotations") or {}).get(REF_NAME, ""))
    doc["manifests"] = entries
    atomic_write(path, json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n")
