"""`ocix lab import`: an image someone brings as a file, into the lab registry.

Three shapes are read (docs/real-images.md): an OCI image layout directory, the same packed in
a tar (`oci-archive`, also what `docker save` writes since Docker 25), and the older `docker
save` tar (manifest.json, <id>.json configs, <id>/layer.tar).  Everything is staged as an OCI
layout and validated whole (digests, sizes, media types, documents, diff IDs) before the first
byte is pushed; then every image goes up by digest and only then are the tags put, so a
failure leaves no tag behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...errors import InvalidArgumentError, UsageError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor
from ...oci.layout import REF_NAME, LayoutImage, canonical_json, init_layout, write_blob
from ...registry import reference
from ..state import lab_dir

CONTAINERD_NAME = "io.containerd.image.name"
_BLOB = re.compile(r"^blobs/(sha256|sha512)/[0-9a-f]{64,128}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Imported:
    recorded: str  # the name the archive gave the image ("" if none)
    repo: str  # in the lab registry
    tag: str
    digest: str
    media_type: str
    pull: str  # what to give `ocix pull`

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.tag}"


class BadArchive(InvalidArgumentError):
    """The archive (or layout) is broken: the message names the bad entry."""


# --------------------------------------------------------------------------- reading

def _copy(src: IO[bytes], dest: Path) -> tuple[str, int]:
    """Stream `src` into `dest`; returns its sha256 digest and size."""
    h = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return "sha256:" + h.hexdigest(), size


def _index_entries(layout: Path, where: str) -> list[tuple[str, Descriptor]]:
    try:
        doc = json.loads((layout / "index.json").read_bytes())
        entries = [(str((m.get("annotations") or {}).get(CONTAINERD_NAME)
                        or (m.get("annotations") or {}).get(REF_NAME) or ""),
                    Descriptor.from_json(m)) for m in doc["manifests"]]
    except FileNotFoundError:
        raise BadArchive(f"{where}: index.json is missing") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BadArchive(f"{where}: index.json is not an image index ({e})") from None
    if not entries:
        raise BadArchive(f"{where}: index.json lists no image")
    return entries


def _member(tar: tarfile.TarFile, name: str, where: str) -> IO[bytes]:
    for candidate in (name, "./" + name):
        try:
            f = tar.extractfile(candidate)
        except KeyError:
            continue
        if f is not None:
            return f
    raise BadArchive(f"{where}: {name} is missing from the archive")


def _oci_archive(tar: tarfile.TarFile, staging: Path, where: str) -> None:
    for m in tar:
        name = m.name.removeprefix("./")
        if not m.isfile() or not (name in ("oci-layout", "index.json") or _BLOB.match(name)):
            continue  # docker's manifest.json and repositories, directories
        dest = staging / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(m)
        assert src is not None
        _copy(src, dest)


def _docker_save(tar: tarfile.TarFile, staging: Path, where: str
                 ) -> list[tuple[str, Descriptor]]:
    init_layout(staging)
    try:
        items = json.loads(_member(tar, "manifest.json", where).read())
        if not isinstance(items, list) or not items:
            raise ValueError("not a non-empty list")
    except ValueError as e:
        raise BadArchive(f"{where}: manifest.json is not a docker save manifest ({e})") from None
    out: list[tuple[str, Descriptor]] = []
    for n, item in enumerate(items):
        try:
            cfg_name, layer_names = str(item["Config"]), [str(x) for x in item["Layers"]]
            tags = [str(t) for t in (item.get("RepoTags") or [])]
        except (KeyError, TypeError) as e:
            raise BadArchive(f"{where}: manifest.json entry {n} lacks {e}") from None
        cfg_bytes = _member(tar, cfg_name, where).read()
        cfg_digest = "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
        stem = Path(cfg_name).name.removesuffix(".json")
        if _HEX64.match(stem) and cfg_digest != "sha256:" + stem:
            raise BadArchive(f"{where}: {cfg_name}: its sha256 is {cfg_digest}, its name says "
                             f"sha256:{stem}")
        try:
            diff_ids = json.loads(cfg_bytes)["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise BadArchive(f"{where}: {cfg_name}: not an image config with rootfs.diff_ids"
                             ) from None
        if len(diff_ids) != len(layer_names):
            raise BadArchive(f"{where}: manifest.json entry {n} names {len(layer_names)} layers, "
                             f"{cfg_name} has {len(diff_ids)} diff_ids")
        layers = []
        for i, lname in enumerate(layer_names):
            tmp = staging / "blobs" / "sha256" / f".import.{os.getpid()}.tmp"
            digest, size = _copy(_member(tar, lname, where), tmp)
            if digest != diff_ids[i]:
                tmp.unlink()
                raise BadArchive(f"{where}: {lname}: its sha256 is {digest}, {cfg_name} says "
                                 f"diff_ids[{i}] is {diff_ids[i]}")
            os.replace(tmp, staging / "blobs" / "sha256" / digest.split(":", 1)[1])
            layers.append({"mediaType": mt.OCI_LAYER, "digest": digest, "size": size})
        cfg = write_blob(staging, cfg_bytes, mt.OCI_CONFIG)
        manifest: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                    "config": cfg.to_json(), "layers": layers}
        m = write_blob(staging, canonical_json(manifest), mt.OCI_MANIFEST)
        root = Descriptor(m.media_type, m.digest, m.size)
        out += [(t, root) for t in tags] or [("", root)]
    return out


def read(path: Path, staging: Path) -> tuple[Path, list[tuple[str, Descriptor]]]:
    """The OCI layout holding the images of `path` (staged unless it is one) and, per image,
    its recorded name and root descriptor."""
    where = str(path)
    if path.is_dir():
        if not (path / "oci-layout").exists():
            raise BadArchive(f"{where}: a directory without an oci-layout file is not an OCI "
                             "image layout")
        return path, _index_entries(path, where)
    if not path.exists():
        raise UsageError(f"{where}: no such file or directory")
    try:
        with tarfile.open(path, "r:*") as tar:
            names = {m.removeprefix("./") for m in tar.getnames()}
            if {"oci-layout", "index.json"} <= names:
                _oci_archive(tar, staging, where)
                return staging, _index_entries(staging, where)
            if "manifest.json" in names:
                return staging, _docker_save(tar, staging, where)
    except (tarfile.TarError, EOFError, OSError) as e:
        why = str(e).splitlines()[0].rstrip(":") if str(e) else type(e).__name__
        raise BadArchive(f"{where}: not a readable tar archive ({why})") from None
    raise BadArchive(f"{where}: neither a docker save archive (no manifest.json) nor an "
                     "oci-archive (no oci-layout and index.json)")


def validate(layout: Path, where: str) -> None:
    """Everything the layout's index reaches, checked the way `ocix validate` checks a layout."""
    from ...validate.findings import Severity
    from ...validate.targets import validate_layout

    report = validate_layout(layout)
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    if errors:
        f = errors[0]
        loc = f.location
        if re.match(r"^sha(256|512):[0-9a-f]+$", loc):  # name the archive's entry
            loc = "blobs/" + loc.replace(":", "/", 1)
        at = " ".join(x for x in (loc, f.pointer) if x)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BadArchive(f"{where}: {at}: {f.message}{more}", hint=f.hint)


# --------------------------------------------------------------------------- naming

def names(entries: list[tuple[str, Descriptor]], as_ref: str | None, where: str
          ) -> list[tuple[str, str, str, Descriptor]]:
    """(recorded, repo, tag, root) per image: the archive's names, or the one --as gives."""
    as_tag = bool(as_ref) and ":" in (as_ref or "").rpartition("/")[2]
    if as_ref and as_tag and len(entries) > 1:
        raise UsageError(f"{where} holds {len(entries)} images; --as NAME:TAG names one",
                         hint="give --as NAME (no tag) to keep each image's tag under NAME")
    out = []
    for recorded, root in entries:
        tag = ""
        if recorded and (":" in recorded or "/" in recorded):
            ref = reference.parse(recorded)
            repo, tag = ref.repository, ref.tag
        elif recorded:
            repo, tag = "", recorded  # image-spec's ref.name: often the tag alone
        else:
            repo = ""
        if as_ref:
            ref = reference.parse(as_ref)
            repo = ref.repository
            tag = ref.tag if as_tag else (tag or "latest")
        if not repo:
            what = f"the tag {recorded!r} and no name" if recorded else "no name"
            raise UsageError(f"{where}: image {root.digest} has {what}",
                             hint="give one with --as NAME:TAG")
        out.append((recorded, repo, tag, root))
    return out


def _pull_name(repo: str, tag: str) -> str:
    return f"{repo.removeprefix('library/')}:{tag}" if repo.startswith("library/") else \
        f"{repo}:{tag}"


# --------------------------------------------------------------------------- import

def import_path(directory: str | os.PathLike[str] | None, path: str, *,
                as_ref: str | None = None) -> list[Imported]:
    from ...registry.push import push_then_tag
    from ..lab import running_state

    root = lab_dir(directory)
    state = running_state(root)
    src = Path(path)
    (root / "import").mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="stage-", dir=root / "import"))
    try:
        layout, entries = read(src, staging)
        targets = names(entries, as_ref, str(src))
        validate(layout, str(src))
        images = [LayoutImage(repo, tag, d, layout) for _, repo, tag, d in targets]
        push_then_tag(state.registry, images, insecure=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    out = [Imported(rec, repo, tag, d.digest, d.media_type, _pull_name(repo, tag))
           for rec, repo, tag, d in targets]
    refs = [f"{state.registry}/{i.ref}" for i in out]
    state.images += [r for r in refs if r not in set(state.images)]
    state.save()
    return out
