"""`ocix attach` and `ocix artifact pull`: an artifact's files into a registry and back out.

A pull streams each layer into a staging directory beside DIR, hashing as it reads; only when
every file matched its descriptor are they moved into DIR.  A mismatch, a file name that would
leave DIR, or a file that already exists leave nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import OcixError, UsageError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor, json_object
from ...registry.artifact import TITLE, AttachResult
from ...registry.artifact import attach as push_artifact
from ...registry.reference import parse
from .browse import ClientOptions

MAX_FILES = 1000


def attach(ref: str, artifact_type: str, files: list[Path], opts: ClientOptions, *,
           media_type: str = "", annotations: dict[str, str] | None = None) -> AttachResult:
    if not files:
        raise UsageError("attach needs at least one FILE")
    client = opts.client(parse(ref))
    subject = client.resolve().descriptor
    return push_artifact(client, subject, artifact_type, files, media_type=media_type,
                         annotations=annotations)


@dataclass
class PulledFile:
    path: str
    digest: str
    size: int
    media_type: str


@dataclass
class ArtifactPull:
    name: str
    digest: str
    artifact_type: str
    files: list[PulledFile] = field(default_factory=list)


def _file_name(layer: Descriptor) -> str:
    name = layer.annotations.get(TITLE) or layer.digest.replace(":", "-")
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name):
        raise OcixError(f"layer {layer.digest} has the title {name!r}, which is not a plain file "
                        "name: refused", hint="an artifact's titles name files inside DIR")
    return name


def _fetch(client: object, layer: Descriptor, dest: Path) -> None:
    """Stream one blob into `dest`, verifying size and digest as it is read."""
    from ...registry.upload import verified

    def blob() -> Iterator[bytes]:  # the request goes out once `dest` is open
        yield from client.open_blob(layer)  # type: ignore[attr-defined]

    stream = verified(layer, blob())  # an unknown digest algorithm fails before `dest` exists
    with open(dest, "wb") as f:
        for chunk in stream:
            f.write(chunk)


def pull(ref: str, out: Path, opts: ClientOptions) -> ArtifactPull:
    client = opts.client(parse(ref))
    root = client.resolve().descriptor
    if not mt.is_manifest(root.media_type):
        raise OcixError(f"{ref} is a {root.media_type}, not an artifact manifest",
                        kind="artifact-not-manifest")
    doc = json_object(client.fetch_manifest(root), f"manifest {root.digest}")
    layers = [Descriptor.from_json(x) for x in doc.get("layers") or []]
    if len(layers) > MAX_FILES:
        raise OcixError(f"{ref} has {len(layers)} layers, more than {MAX_FILES}: refused")
    names = [_file_name(x) for x in layers]
    if len(set(names)) != len(names):
        raise OcixError(f"{ref} names the same file twice: refused")
    for n in names:
        if (out / n).exists() or (out / n).is_symlink():
            raise OcixError(f"{out / n} exists already", hint="pull into an empty directory")
    at = str(doc.get("artifactType") or (doc.get("config") or {}).get("mediaType", ""))
    result = ArtifactPull(f"{client.ref.host}/{client.ref.repository}", root.digest, at)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ocix-pull-", dir=parent))
    try:
        for layer, name in zip(layers, names, strict=True):
            _fetch(client, layer, staging / name)
        out.mkdir(exist_ok=True)
        for layer, name in zip(layers, names, strict=True):
            os.replace(staging / name, out / name)
            result.files.append(PulledFile(str(out / name), layer.digest, layer.size,
                                           layer.media_type))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
