"""`ocix copy SRC DST [--referrers]`: an image or a whole index between registries and OCI
layout directories (`oci:DIR[:TAG]`), byte for byte, so every digest stays the same.

Manifests are verified when read; blobs are hashed as they stream and only written (to the
registry, or renamed into the layout) once they match.  With --referrers the tree of artifacts
that refer to the image comes along: to a registry with the API the manifests alone do it,
otherwise the subject's fallback tag index is updated; in a layout they are listed in
index.json (image-layout.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...errors import OcixError, UsageError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor, json_object
from ...oci.layout import REF_NAME, blob_path, init_layout, locked
from ...oci.layout import tag as tag_layout
from ...registry.artifact import add_to_fallback_index, put_manifest
from ...registry.client import MAX_MANIFEST, RegistryClient, verify_bytes
from ...registry.reference import parse
from ...registry.referrers import list_referrers
from ...registry.upload import blob_exists, spool_verified, upload_verified
from .browse import ClientOptions

READ = 1 << 20
MAX_DEPTH = 8


class Source(Protocol):
    name: str
    def root(self) -> Descriptor: ...
    def manifest(self, desc: Descriptor) -> bytes: ...
    def blob(self, desc: Descriptor) -> Iterator[bytes]: ...
    def referrers(self, digest: str) -> list[Descriptor]: ...


class Dest(Protocol):
    name: str
    def has_blob(self, desc: Descriptor) -> bool: ...
    def put_blob(self, desc: Descriptor, chunks: Iterator[bytes]) -> None: ...
    def put_manifest(self, desc: Descriptor, body: bytes, tag: str = "") -> None: ...
    def add_referrer(self, subject: str, desc: Descriptor, body: bytes) -> None: ...


@dataclass
class CopyResult:
    source: str
    destination: str
    digest: str
    media_type: str
    manifests: int = 0
    blobs_copied: int = 0
    blobs_present: int = 0
    bytes_copied: int = 0
    referrers: list[str] = field(default_factory=list)


def _layout_spec(text: str) -> tuple[Path, str]:
    """oci:DIR[:TAG]; TAG is a ref.name, which may hold ':' and '/' (library/busybox:latest)."""
    path, _, tag = text.removeprefix("oci:").partition(":")
    if not path:
        raise UsageError(f"{text!r}: write a layout as oci:DIR[:TAG]")
    return Path(path), tag


class RegistrySource:
    def __init__(self, ref: str, opts: ClientOptions) -> None:
        self.client = opts.client(parse(ref))
        self.name = self.client.ref.name

    def root(self) -> Descriptor:
        return self.client.resolve().descriptor

    def manifest(self, desc: Descriptor) -> bytes:
        return self.client.fetch_manifest(desc)

    def blob(self, desc: Descriptor) -> Iterator[bytes]:
        return self.client.open_blob(desc)

    def referrers(self, digest: str) -> list[Descriptor]:
        return list_referrers(self.client, digest).descriptors


class LayoutSource:
    def __init__(self, spec: str) -> None:
        self.dir, self.tag = _layout_spec(spec)
        self.name = f"oci:{self.dir}" + (f":{self.tag}" if self.tag else "")
        try:
            self.index = json.loads((self.dir / "index.json").read_bytes())
        except (OSError, ValueError) as e:
            raise OcixError(f"{self.dir} is not an OCI layout: {e}") from None

    def _entries(self) -> list[Descriptor]:
        return [Descriptor.from_json(m) for m in self.index.get("manifests") or []]

    def root(self) -> Descriptor:
        entries = self._entries()
        if self.tag:
            found = [e for e in entries if e.annotations.get(REF_NAME) == self.tag] or \
                [e for e in entries if e.annotations.get(REF_NAME, "").rsplit(":", 1)[-1] == self.tag]
        else:
            found = [e for e in entries if REF_NAME in e.annotations] or entries
        if len(found) != 1:
            raise UsageError(f"{self.name} names {len(found)} images",
                             hint="add :TAG (one of its org.opencontainers.image.ref.name values)")
        self.tag = self.tag or found[0].annotations.get(REF_NAME, "")
        return Descriptor(found[0].media_type, found[0].digest, found[0].size)

    def manifest(self, desc: Descriptor) -> bytes:
        body = blob_path(self.dir, desc.digest).read_bytes()[:MAX_MANIFEST + 1]
        verify_bytes(body, desc)
        return body

    def blob(self, desc: Descriptor) -> Iterator[bytes]:
        try:
            with open(blob_path(self.dir, desc.digest), "rb") as f:
                while chunk := f.read(READ):
                    yield chunk
        except FileNotFoundError:
            raise OcixError(f"blob {desc.digest} is missing from {self.dir}") from None

    def referrers(self, digest: str) -> list[Descriptor]:
        out = []
        for e in self._entries():
            if not mt.is_manifest(e.media_type) and not mt.is_index(e.media_type):
                continue
            doc = json_object(self.manifest(e), f"manifest {e.digest}")
            sub = doc.get("subject")
            if isinstance(sub, dict) and sub.get("digest") == digest:
                out.append(e)
        return out


class RegistryDest:
    def __init__(self, ref: str, opts: ClientOptions) -> None:
        self.client: RegistryClient = opts.client(parse(ref))
        self.ep = self.client.endpoints("push")[0]
        self.name = self.client.ref.name
        self.tag = self.client.ref.tag

    def has_blob(self, desc: Descriptor) -> bool:
        return blob_exists(self.client, self.ep, desc)

    def put_blob(self, desc: Descriptor, chunks: Iterator[bytes]) -> None:
        upload_verified(self.client, self.ep, desc, chunks)

    def put_manifest(self, desc: Descriptor, body: bytes, tag: str = "") -> None:
        resp = put_manifest(self.client, self.ep, tag or desc.digest, body, desc.media_type)
        self.last_subject = resp.headers.get("OCI-Subject", "")

    def add_referrer(self, subject: str, desc: Descriptor, body: bytes) -> None:
        self.put_manifest(desc, body)
        if self.last_subject != subject:
            add_to_fallback_index(self.client, subject, desc)


class LayoutDest:
    def __init__(self, spec: str, default_tag: str) -> None:
        self.dir, tag = _layout_spec(spec)
        self.tag = tag or default_tag
        self.name = f"oci:{self.dir}:{self.tag}"
        init_layout(self.dir)

    def has_blob(self, desc: Descriptor) -> bool:
        path = blob_path(self.dir, desc.digest)
        return path.is_file() and path.stat().st_size == desc.size

    def put_blob(self, desc: Descriptor, chunks: Iterator[bytes]) -> None:
        path = blob_path(self.dir, desc.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        with spool_verified(desc, chunks) as body:
            fd, tmp = tempfile.mkstemp(prefix=".ocix-copy-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := body.read(READ):
                        out.write(chunk)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise

    def put_manifest(self, desc: Descriptor, body: bytes, tag: str = "") -> None:
        if not self.has_blob(desc):
            self.put_blob(desc, iter([body]))
        if tag:
            with locked(self.dir):
                tag_layout(self.dir, tag, desc)

    def add_referrer(self, subject: str, desc: Descriptor, body: bytes) -> None:
        self.put_manifest(desc, body)
        with locked(self.dir):
            path = self.dir / "index.json"
            doc = json.loads(path.read_text())
            if not any(m.get("digest") == desc.digest for m in doc.get("manifests", [])):
                doc.setdefault("manifests", []).append(desc.to_json())
                tmp = path.with_name(f".index.json.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
                os.replace(tmp, path)


class _Copier:
    def __init__(self, src: Source, dst: Dest, result: CopyResult,
                 progress: Callable[[str, Descriptor], None] | None) -> None:
        self.src, self.dst, self.result = src, dst, result
        self.done: set[str] = set()
        self.progress = progress or (lambda what, d: None)

    def blob(self, desc: Descriptor) -> None:
        if desc.digest in self.done:
            return
        self.done.add(desc.digest)
        if self.dst.has_blob(desc):
            self.result.blobs_present += 1
            return
        self.progress("blob", desc)
        self.dst.put_blob(desc, self.src.blob(desc))
        self.result.blobs_copied += 1
        self.result.bytes_copied += desc.size

    def tree(self, desc: Descriptor, depth: int = 0) -> bytes:
        """Copy everything under `desc` (children first), then return its body (not pushed)."""
        if depth > MAX_DEPTH:
            raise OcixError(f"indexes nest deeper than {MAX_DEPTH} levels: refused")
        body = self.src.manifest(desc)
        doc = json_object(body, f"manifest {desc.digest}")
        if mt.is_index(desc.media_type) or "manifests" in doc:
            for m in doc.get("manifests") or []:
                child = Descriptor.from_json(m)
                cbody = self.tree(child, depth + 1)
                self.manifest(child, cbody)
        else:
            for d in [doc.get("config"), *(doc.get("layers") or [])]:
                if isinstance(d, dict):
                    self.blob(Descriptor.from_json(d))
        return body

    def manifest(self, desc: Descriptor, body: bytes, tag: str = "") -> None:
        if desc.digest in self.done and not tag:
            return
        self.done.add(desc.digest)
        self.dst.put_manifest(desc, body, tag)
        self.result.manifests += 1

    def referrers(self, digest: str, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise OcixError(f"referrers nest deeper than {MAX_DEPTH} levels: stopped")
        for d in self.src.referrers(digest):
            if d.digest in self.done:
                continue
            self.progress("referrer", d)
            body = self.tree(d)
            self.done.add(d.digest)
            self.dst.add_referrer(digest, d, body)
            self.result.manifests += 1
            self.result.referrers.append(d.digest)
            self.referrers(d.digest, depth + 1)


def copy(src: str, dst: str, opts: ClientOptions, *, referrers: bool = False,
         progress: Callable[[str, Descriptor], None] | None = None) -> CopyResult:
    """Copy SRC to DST; `progress(what, descriptor)` is called before each blob and referrer."""
    source: Any = LayoutSource(src) if src.startswith("oci:") else RegistrySource(src, opts)
    root = source.root()
    default_tag = (source.tag if isinstance(source, LayoutSource) else source.client.ref.tag) \
        or "latest"
    dest: Any = LayoutDest(dst, default_tag) if dst.startswith("oci:") else RegistryDest(dst, opts)
    tag = dest.tag or default_tag
    if not dst.startswith("oci:") and dest.client.ref.digest:
        if dest.client.ref.digest != root.digest:
            raise UsageError(f"{dst} pins {dest.client.ref.digest}, but {src} is {root.digest}")
        tag = ""
    result = CopyResult(source.name, dest.name, root.digest, root.media_type)
    copier = _Copier(source, dest, result, progress)
    body = copier.tree(root)
    copier.manifest(root, body, "")
    if tag:
        dest.put_manifest(root, body, tag)
    if referrers:
        copier.referrers(root.digest)
        if mt.is_index(root.media_type):  # and those of each manifest the index lists
            for m in json_object(body, f"index {root.digest}").get("manifests") or []:
                child = Descriptor.from_json(m)
                if mt.is_manifest(child.media_type):
                    copier.referrers(child.digest)
    return result
