"""An image's final filesystem read from containerd's content store, and files out of it.

Each layer blob streams through Content.Read and is decompressed as it arrives (the same path
as `ocix layers`), or comes from another source of layers (`ocix sbom` reads a registry's).
Only tar headers go into the model (ocix.oci.fs.flatfs), file data is skipped, or hashed with
--content.  One file's data is streamed again from the one layer that wrote it.  Nothing is
mounted or unpacked (docs/imagefs.md).
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from ...errors import NotFoundError, OcixError
from ...oci.descriptor import Descriptor
from ...oci.fs.flatfs import DIR, FlatFS, Node, file_sha256, tar_entries

if TYPE_CHECKING:  # containerd's modules load the gRPC stubs: only the store's functions need them
    from ...containerd.connection import Connection

# the decompressed chunks of one layer blob, from the content store or a registry
LayerOpener = Callable[[Descriptor], Iterable[bytes]]
# told as each layer starts: (its number, how many, its digest)
LayerProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImageLayer:
    layer: int
    digest: str
    created_by: str


@dataclass
class ImageFS:
    image: str
    digest: str  # the image record's target
    manifest: str
    platform: str
    layers: list[ImageLayer]
    fs: FlatFS
    descriptors: list[Descriptor]

    def layer_line(self, n: int) -> str:
        """"layer 3 (RUN rm /x)": how a message names layer n."""
        by = self.layers[n - 1].created_by if 0 < n <= len(self.layers) else ""
        return f"layer {n} ({by})" if by else f"layer {n}"


def load(conn: Connection, name: str, *, platform: str | None = None, content: bool = False,
         on_layer: LayerProgress | None = None) -> ImageFS:
    """Flatten the layers of `name` bottom-up; `content` also hashes every file's data."""
    ifs = _empty(conn, name, platform)
    _flatten(conn, ifs, 0, content, on_layer)
    return ifs


def load_pair(conn: Connection, a: str, b: str, *, platform: str | None = None,
              content: bool = False, on_layer: Callable[[str, int, int, str], None] | None = None
              ) -> tuple[ImageFS, ImageFS]:
    """Both images flattened; the bottom layers they share (the same digests in the same
    order, as when one was built FROM the other or both FROM one base) are read once."""
    x, y = _empty(conn, a, platform), _empty(conn, b, platform)
    shared = 0
    for da, db in zip(x.descriptors, y.descriptors, strict=False):
        if da.digest != db.digest:
            break
        shared += 1

    def report(which: str) -> LayerProgress | None:
        return (lambda n, total, digest: on_layer(which, n, total, digest)) if on_layer else None

    _flatten(conn, x, 0, content, report("A"), stop=shared)
    y.fs = x.fs.copy(shared)
    _flatten(conn, x, shared, content, report("A"))
    _flatten(conn, y, shared, content, report("B"))
    return x, y


def _empty(conn: Connection, name: str, platform: str | None) -> ImageFS:
    from ..store.anatomy import created_by, image_manifest

    record, m = image_manifest(conn, name, platform)
    return empty(record.name, record.target.digest, m.descriptor.digest, m.platform, m.layers,
                 created_by(m.config_doc, len(m.layers)))


def empty(image: str, digest: str, manifest: str, platform: str, layers: list[Descriptor],
          created_by: list[str]) -> ImageFS:
    """A tree with no layer applied yet; `flatten` fills it from any source of layers."""
    return ImageFS(image, digest, manifest, platform,
                   [ImageLayer(i + 1, d.digest, created_by[i]) for i, d in enumerate(layers)],
                   FlatFS(), list(layers))


def store_layers(conn: Connection) -> LayerOpener:
    """Layers from containerd's content store, decompressed as they stream."""
    from .tree import decompressed_blob

    return lambda desc: decompressed_blob(conn, desc)[1]


def _flatten(conn: Connection, ifs: ImageFS, start: int, content: bool,
             on_layer: LayerProgress | None, stop: int | None = None) -> None:
    flatten(ifs, store_layers(conn), start=start, stop=stop, content=content, on_layer=on_layer)


def flatten(ifs: ImageFS, open_layer: LayerOpener, *, start: int = 0, stop: int | None = None,
            content: bool = False, on_layer: LayerProgress | None = None) -> None:
    """Apply layers start+1 .. stop (1-based; default: to the top)."""
    n = len(ifs.descriptors)
    for i, desc in enumerate(ifs.descriptors[start:stop], start):
        if on_layer:
            on_layer(i + 1, n, desc.digest)
        try:
            _apply(open_layer, ifs.fs, desc, content)
        except NotFoundError:
            raise
        except OcixError as e:
            raise OcixError(f"layer {i + 1} ({desc.digest}): {e.message}") from None


def _apply(open_layer: LayerOpener, fs: FlatFS, desc: Descriptor, content: bool) -> None:
    stream = iter(open_layer(desc))
    current: list[tarfile.TarFile] = []

    def members() -> Iterator[tarfile.TarInfo]:
        for m, tar in tar_entries(stream):
            if not current:
                current.append(tar)
            yield m

    fs.apply_layer(members(), (lambda m: file_sha256(current[0], m)) if content else None)
    for _ in stream:  # read the blob to its end: a truncated blob is an error, not a short tree
        pass


def layer_files(conn: Connection, desc: Descriptor, wanted: set[int]
                ) -> Iterator[tuple[int, Iterator[bytes]]]:
    """(member index, data chunks) of the `wanted` members of one layer, in tar order; the
    chunks must be read before the next pair is asked for.  The layer is streamed once and
    left as soon as the last wanted member is read."""
    return members_data(iter(store_layers(conn)(desc)), desc, wanted)


def members_data(stream: Iterator[bytes], desc: Descriptor, wanted: set[int]
                 ) -> Iterator[tuple[int, Iterator[bytes]]]:
    """`layer_files` over a layer's decompressed stream, from any source."""
    left = set(wanted)
    for i, (m, tar) in enumerate(tar_entries(stream)):
        if i not in left:
            continue
        f = tar.extractfile(m)
        if f is None:
            raise OcixError(f"tar member {m.name!r} has no data")
        yield i, _chunks(f)
        left.discard(i)
        if not left:
            return
    if left:
        raise OcixError(f"layer {desc.digest} ended before member {min(left)}")


def files_data(ifs: ImageFS, open_layer: LayerOpener, nodes: Iterable[Node], *,
               to_end: bool = False) -> Iterator[tuple[Node, Iterator[bytes]]]:
    """The data of regular-file `nodes`: only the layers that wrote them are streamed, each
    once, bottom first.  `to_end` reads each of those blobs to its end even after the last
    file, so a source that checks the digest at the end has checked every byte."""
    wanted: dict[int, dict[int, Node]] = {}
    for node in nodes:
        layer, member = node.source
        if member < 0 or node.size == 0:
            yield node, iter(())
        else:
            wanted.setdefault(layer, {}).setdefault(member, node)
    for layer in sorted(wanted):
        desc = ifs.descriptors[layer - 1]
        stream = iter(open_layer(desc))
        for member, chunks in members_data(stream, desc, set(wanted[layer])):
            yield wanted[layer][member], chunks
        if to_end:
            for _ in stream:
                pass


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while block := f.read(1 << 20):
        yield block


def find(ifs: ImageFS, path: str, *, follow_last: bool = True) -> Node:
    """The node at `path` of the final filesystem, symlinks followed inside the image's root;
    a clear error when it is not there, saying which layer removed it."""
    if not path.startswith("/"):
        path = "/" + path
    where, node = ifs.fs.resolve(path, follow_last=follow_last)
    if node is not None:
        return node
    shown = path if where == path else f"{path} (-> {where})"
    hostile = ifs.fs.hostile_at(where)
    if hostile:
        n, h = hostile
        raise OcixError(f"refusing {shown} in {ifs.image}: {ifs.layer_line(n)} has it as a "
                        f"hostile {h.kind} {h.entry!r}: {h.reason}")
    gone = ifs.fs.why_missing(where)
    if gone is not None:
        by = ifs.layers[gone.layer - 1].created_by
        raise NotFoundError(f"no such file in {ifs.image}: {shown} (deleted in layer "
                            f"{gone.layer} by {by!r}: {gone.how})" if by else
                            f"no such file in {ifs.image}: {shown} (deleted in layer "
                            f"{gone.layer}: {gone.how})")
    raise NotFoundError(f"no such file in {ifs.image}: {shown}",
                        hint=f"list the paths: ocix layers {ifs.image} --files")


def cat(conn: Connection, ifs: ImageFS, path: str) -> Iterator[bytes]:
    """The data of one regular file of the final filesystem, as it streams from its layer."""
    node = find(ifs, path)
    shown = path if path.startswith("/") else "/" + path  # as find() reads it: "" is the root
    if node.kind == DIR:
        raise OcixError(f"{shown} in {ifs.image} is a directory",
                        hint=f"copy it out instead: ocix cp {ifs.image}:{shown} DEST")
    if not node.regular:
        raise OcixError(f"{shown} in {ifs.image} is a {node.kind}, not a file")
    return file_data(conn, ifs, node)


def file_data(conn: Connection, ifs: ImageFS, node: Node) -> Iterator[bytes]:
    """A generator, so the layer's stream stays open while the chunks are read."""
    layer, member = node.source
    if member < 0 or node.size == 0:
        return
    for _, chunks in layer_files(conn, ifs.descriptors[layer - 1], {member}):
        yield from chunks
        return
