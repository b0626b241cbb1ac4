"""Walking an image tree (index -> manifests -> config + layers), wherever its blobs come from.

The walker only needs an opener: `open_blob(descriptor) -> bytes | binary stream`.  The
image-layout directory uses a filesystem opener; containerd's content store and a registry
client plug in the same way.  Layers are streamed: hashed, gunzipped and read as tar in one
pass, so a layer is never held in memory whole.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..errors import InvalidArgumentError, OcixError
from ..oci import mediatypes as mt
from ..oci.descriptor import Descriptor
from ..oci.digest import digest_problem, new_hasher
from ..oci.fs import layerscan
from .document import MAX_DOC_BYTES, DocumentProblem, check_document, parse
from .findings import Finding, Report, Severity, Sink
from .hostile import hostile_findings, hostile_of

BlobOpener = Callable[[Descriptor], "bytes | IO[bytes]"]

S_DIGEST = "image-spec descriptor.md#digests"
S_SIZE = "image-spec descriptor.md#properties"
S_LAYER = "image-spec layer.md#changesets"
S_DIFFID = "image-spec config.md#layer-diffids"
S_LAYOUT = "image-spec image-layout.md#blobs"
CHUNK = 1 << 20
MAX_TREE_DEPTH = 8  # nested indexes deeper than this are refused (and cycles cannot happen)


@dataclass
class _Hashing(io.RawIOBase):
    """A reader that hashes (unless hasher is None) and counts what passes through it."""

    raw: IO[bytes]
    hasher: Any | None
    count: int = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self.raw.read(len(buf))
        n = len(data)
        buf[:n] = data
        if self.hasher is not None:
            self.hasher.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _hasher(digest: str) -> Any | None:
    """A hasher for the digest's algorithm, or None if ocix cannot compute it."""
    try:
        return new_hasher(digest)
    except InvalidArgumentError:
        return None


def _usable(d: Descriptor) -> bool:
    """Only a well-formed digest can name a blob (and a path in a layout)."""
    return digest_problem(d.digest) is None


def _opened(blob: bytes | IO[bytes]) -> IO[bytes]:
    return io.BytesIO(blob) if isinstance(blob, (bytes, bytearray)) else blob


class TreeWalker:
    """Walks an image tree from a root descriptor, collecting findings; each blob once."""

    def __init__(self, open_blob: BlobOpener, *, check_layers: bool = True,
                 hostile: bool = False) -> None:
        self.open_blob = open_blob
        self.check_layers = check_layers
        # Entries resolved through each manifest's stack like an extractor (docs/layers.md).
        self.hostile: list[layerscan.Hostile] | None = [] if hostile else None
        self.findings: list[Finding] = []
        self.seen: set[str] = set()
        self.diff_ids: dict[str, str | None] = {}  # layer digest -> its diff ID (None: unread)

    def add(self, severity: Severity, location: str, message: str, spec: str, hint: str,
            rule: str, ptr: str = "") -> None:
        self.findings.append(Finding(severity, ptr, message, spec, hint, rule, location))

    def read_json(self, d: Descriptor, where: str) -> Any | None:
        """Fetch a small blob, verify digest and size, parse it; None (with findings) if not."""
        if not _usable(d):
            return None
        loc = d.digest
        try:
            stream = _opened(self.open_blob(d))
            with stream:
                data = stream.read(MAX_DOC_BYTES + 1)
        except OcixError as e:
            self.add(Severity.ERROR, loc, f"blob referenced by {where} cannot be read: {e.message}",
                     S_LAYOUT, e.hint or "every referenced blob must be present", "tree.blob-missing")
            return None
        except OSError as e:
            self.add(Severity.ERROR, loc, f"blob referenced by {where} cannot be read: {e}",
                     S_LAYOUT, "every referenced blob must be present", "tree.blob-missing")
            return None
        if len(data) > MAX_DOC_BYTES:
            self.add(Severity.ERROR, loc, f"{where} is over {MAX_DOC_BYTES >> 20} MiB", S_SIZE,
                     "is the descriptor's media type right?", "doc.too-large")
            return None
        hasher = _hasher(d.digest)
        if hasher is not None:
            hasher.update(data)
        self._verify(d, where, hasher, len(data))
        try:
            return parse(data, loc)
        except DocumentProblem as bad:
            self.findings.append(bad.finding)
            return None

    def _verify(self, d: Descriptor, where: str, hasher: Any | None, size: int) -> None:
        """`hasher` has seen the whole blob (None: its algorithm cannot be computed)."""
        loc = d.digest
        if hasher is None:
            self.add(Severity.WARNING, loc, f"cannot verify {d.digest.split(':', 1)[0]} digests",
                     S_DIGEST, "use sha256", "tree.digest-unverified")
        elif (actual := f"{hasher.name}:{hasher.hexdigest()}") != d.digest:
            self.add(Severity.ERROR, loc, f"content of {where} hashes to {actual}, "
                     f"not {d.digest}", S_DIGEST, "the blob is corrupt or the descriptor is wrong",
                     "tree.digest-mismatch")
        if size != d.size:
            self.add(Severity.ERROR, loc, f"{where} is {size} bytes but its descriptor says {d.size}",
                     S_SIZE, "set size to the blob's length", "tree.size-mismatch")

    def visit(self, d: Descriptor, where: str, depth: int = 0) -> None:
        if d.digest in self.seen:
            return
        self.seen.add(d.digest)
        if depth > MAX_TREE_DEPTH:
            self.add(Severity.ERROR, d.digest, f"indexes nest more than {MAX_TREE_DEPTH} deep",
                     "image-spec image-index.md", "flatten the index", "tree.too-deep")
            return
        if mt.is_index(d.media_type):
            doc = self.read_json(d, where)
            if doc is None:
                return
            self.findings += check_document(doc, "index", location=d.digest)
            for i, m in enumerate(descriptor_list(doc.get("manifests"))):
                self.visit(m, f"{d.digest}#/manifests/{i}", depth + 1)
        elif mt.is_manifest(d.media_type):
            self.manifest(d, where)
        # Any other media type in an index is an artifact we do not walk (implementations
        # MUST ignore unknown media types), but its blob still has to match its descriptor.
        else:
            self.blob(d, where)

    def manifest(self, d: Descriptor, where: str) -> None:
        doc = self.read_json(d, where)
        if doc is None:
            return
        self.findings += check_document(doc, "manifest", location=d.digest)
        if not isinstance(doc, dict):
            return
        config_d = _descriptor(doc.get("config"))
        layers = descriptor_list(doc.get("layers"))
        config = None
        if config_d is not None:
            if mt.is_config(config_d.media_type):
                config = self.read_json(config_d, f"{d.digest}#/config")
                if config is not None:
                    self.findings += check_document(config, "config", location=config_d.digest)
            else:
                self.blob(config_d, f"{d.digest}#/config")
        diff_ids = None
        if isinstance(config, dict) and isinstance(config.get("rootfs"), dict):
            ids = config["rootfs"].get("diff_ids")
            diff_ids = ids if isinstance(ids, list) else None
            if diff_ids is not None and len(diff_ids) != len(layers):
                self.add(Severity.ERROR, config_d.digest if config_d else d.digest,
                         f"config has {len(diff_ids)} diff_ids but the manifest {d.digest} has "
                         f"{len(layers)} layers", S_DIFFID, "the config and manifest do not belong "
                         "together: rebuild the image", "tree.diff-ids-count", "/rootfs/diff_ids")
        tree = layerscan.Tree() if self.hostile is not None else None
        for i, layer in enumerate(layers):
            where_l = f"{d.digest}#/layers/{i}"
            if mt.is_layer(layer.media_type):
                diff_id = self.layer(layer, where_l, tree)
                want = diff_ids[i] if diff_ids is not None and i < len(diff_ids) else None
                if diff_id and isinstance(want, str) and want.startswith("sha256:") and diff_id != want:
                    self.add(Severity.ERROR, layer.digest, f"layer {i} uncompresses to "
                             f"{diff_id}, but the config's diff_ids[{i}] is {want}",
                             S_DIFFID, "the config does not match its layers: rebuild the image",
                             "tree.diff-id-mismatch", f"/rootfs/diff_ids/{i}")
            else:
                if tree is not None:
                    tree.layers += 1  # not a layer: keeps the numbering of the ones that are
                if layer.digest not in self.seen:
                    self.seen.add(layer.digest)
                    self.blob(layer, where_l)

    def blob(self, d: Descriptor, where: str) -> None:
        """Stream an opaque blob through its hash."""
        if not _usable(d):
            return
        try:
            stream = _opened(self.open_blob(d))
            with stream:
                reader = _Hashing(stream, _hasher(d.digest))
                reader.drain()
        except (OcixError, OSError) as e:
            self._missing(d, where, e)
            return
        self._verify(d, where, reader.hasher, reader.count)

    def _missing(self, d: Descriptor, where: str, e: Exception) -> None:
        msg = e.message if isinstance(e, OcixError) else str(e)
        if d.urls:  # a non-distributable layer may live only at its URLs
            self.add(Severity.WARNING, d.digest, f"blob for {where} is absent ({msg}); it has urls",
                     S_LAYOUT, "fetch it from its urls to check it", "tree.blob-foreign")
        else:
            self.add(Severity.ERROR, d.digest, f"blob referenced by {where} cannot be read: {msg}",
                     S_LAYOUT, "every referenced blob must be present", "tree.blob-missing")

    def layer(self, d: Descriptor, where: str, tree: layerscan.Tree | None = None) -> str | None:
        """Hash a layer blob and check its tar, once per digest; its diff ID, or None.

        With a `tree` its entries are also resolved through the stack below (a second read
        when the blob was read already, for another manifest or lower in the same one)."""
        if not _usable(d):
            if tree is not None:
                tree.layers += 1
            return None
        if d.digest in self.diff_ids:
            if tree is not None:
                self._rescan(d, tree)
            return self.diff_ids[d.digest]
        self.diff_ids[d.digest] = None
        self.seen.add(d.digest)
        try:
            stream = _opened(self.open_blob(d))
        except (OcixError, OSError) as e:
            self._missing(d, where, e)
            return None
        diff_id = None
        with stream:
            outer = _Hashing(stream, _hasher(d.digest))
            compression = mt.layer_compression(d.media_type)
            if compression == "zstd":
                outer.drain()
                self.add(Severity.WARNING, d.digest, f"zstd layer {where} was hashed but its tar "
                         "was not checked (no zstd decoder)", S_LAYER,
                         "install the zstandard package", "tree.layer-zstd")
            elif self.check_layers:
                diff_id = self._scan_tar(d, outer, compression == "gzip", tree)
                tree = None
            outer.drain()
        if tree is not None:
            self._rescan(d, tree)
        self._verify(d, where, outer.hasher, outer.count)
        self.diff_ids[d.digest] = diff_id
        return diff_id

    def _scan_tar(self, d: Descriptor, outer: _Hashing, gzipped: bool,
                  tree: layerscan.Tree | None) -> str | None:
        """Check every tar entry while hashing the uncompressed stream; the diff ID, or None."""
        sink = Sink(d.digest)
        inner_src: IO[bytes] = gzip.GzipFile(fileobj=outer, mode="rb") if gzipped else outer  # type: ignore[assignment]
        diff_hasher = hashlib.sha256()
        inner = _Hashing(inner_src, diff_hasher)
        def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
            for member in tar:
                _check_member(sink, member)
                yield member

        try:
            with tarfile.open(fileobj=inner, mode="r|") as tar:
                if tree is None:
                    for _ in members(tar):
                        pass
                else:
                    self._found(d, layerscan.scan_members(members(tar), tree).hostile)
            inner.drain()
        except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as e:
            kind = "gzip" if gzipped else "tar"
            self.add(Severity.ERROR, d.digest, f"layer is not a readable {kind} stream: {e}",
                     S_LAYER, "re-export the layer", "tree.layer-unreadable")
            self.findings += sink.findings
            return None
        self.findings += sink.findings
        return "sha256:" + diff_hasher.hexdigest()


    def _rescan(self, d: Descriptor, tree: layerscan.Tree) -> None:
        """Resolve the entries of a layer read before (or not readable as tar here)."""
        try:
            stream = _opened(self.open_blob(d))
            with stream:
                found = hostile_of(stream, d.media_type, tree)
        except (OcixError, OSError):
            tree.layers += 1
            return  # reported already when the blob was read
        self._found(d, found)

    def _found(self, d: Descriptor, found: list[layerscan.Hostile]) -> None:
        assert self.hostile is not None
        self.hostile += found
        self.findings += hostile_findings(d.digest, found)


def _check_member(sink: Sink, m: tarfile.TarInfo) -> None:
    name = m.name
    where = f"entry {name!r}"
    if name.startswith("/"):
        sink.error("", f"{where} has an absolute path", S_LAYER, "layer entries must be relative "
                   "to the root", "tree.layer.absolute")
    if ".." in name.split("/"):
        sink.error("", f"{where} has a '..' component", S_LAYER, "an extractor could write outside "
                   "the root: rebuild the layer", "tree.layer.dotdot")
    if m.islnk() and _escapes(m.linkname, "/"):
        sink.error("", f"hard link {name!r} points outside the root ({m.linkname!r})", S_LAYER,
                   "hard links must name an entry inside the layer tree", "tree.layer.hardlink-escape")
    if m.issym() and not m.linkname.startswith("/") and _escapes(m.linkname, posixpath.dirname(name)):
        sink.warn("", f"symlink {name!r} climbs above the root ({m.linkname!r})", S_LAYER,
                  "runtimes resolve it inside the root, but naive extractors follow it out",
                  "tree.layer.symlink-escape")
    if m.ischr() or m.isblk():
        sink.warn("", f"{where} is a device node ({m.devmajor}:{m.devminor})", S_LAYER,
                  "device nodes in layers fail in rootless runtimes; create them at run time",
                  "tree.layer.device")


def _escapes(target: str, base: str) -> bool:
    """Does `target`, taken relative to `base` in the layer, climb above the root?"""
    parts = [p for p in base.split("/") if p not in ("", ".")] if not target.startswith("/") else []
    depth = len(parts)
    for p in target.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            depth -= 1
            if depth < 0:
                return True
        else:
            depth += 1
    return False


def _descriptor(value: Any) -> Descriptor | None:
    if not isinstance(value, dict):
        return None
    media, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media, str) or not isinstance(digest, str) or \
            not isinstance(size, int) or isinstance(size, bool):
        return None  # the schema has reported it
    urls = value.get("urls")
    return Descriptor(media_type=media, digest=digest, size=size,
                      urls=tuple(u for u in urls if isinstance(u, str)) if isinstance(urls, list) else ())


def descriptor_list(value: Any) -> list[Descriptor]:
    """The well-formed descriptors of a JSON list (others are reported by the schema check)."""
    if not isinstance(value, list):
        return []
    return [d for d in (_descriptor(v) for v in value) if d is not None]


def validate_image_tree(open_blob: BlobOpener, root: Descriptor, *, target: str = "",
                        kind: str = "image", check_layers: bool = True,
                        hostile: bool = False) -> Report:
    """Validate everything reachable from `root`: digests, sizes, documents, layer tars; with
    `hostile`, every layer entry resolved through its stack as `ocix layers` does."""
    w = TreeWalker(open_blob, check_layers=check_layers, hostile=hostile)
    w.visit(root, target or root.digest)
    return Report(kind, target or root.digest, w.findings, hostile=w.hostile)
