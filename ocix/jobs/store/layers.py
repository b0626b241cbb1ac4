"""`ocix layers`: stream each layer blob out of containerd and say what it does to the tree.

Each blob is read with Content.Read, decompressed as the chunks arrive and its tar headers are
classified by ocix.oci.fs.layerscan (docs/layers.md).  Nothing is written anywhere: file data is
skipped as it streams by, so memory stays flat whatever the layer size; only paths are kept
(the lower layers' paths decide "added" against "changed").
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from ...containerd.connection import Connection
from ...errors import NotFoundError, OcixError
from ...oci.descriptor import Descriptor
from ...oci.digest import chain_ids
from ...oci.fs import layerscan
from ..images.imagefs import LayerProgress
from .anatomy import created_by, decompressed_blob, image_manifest


@dataclass(frozen=True)
class LayerReport:
    layer: int  # 1 = the base layer
    digest: str
    media_type: str
    compression: str  # what the blob's first bytes say: gzip, zstd or "" (plain tar)
    diff_id: str
    chain_id: str
    size: int
    uncompressed_size: int  # bytes of the tar stream, counted as it was decompressed
    created_by: str
    entries: int
    added: int
    changed: int
    deleted: int
    opaque: int
    hidden: int
    hostile: list[layerscan.Hostile]
    files: list[layerscan.FileChange] | None


@dataclass(frozen=True)
class LayersReport:
    image: str
    digest: str
    manifest: str
    platform: str
    layers: list[LayerReport]
    hostile: list[layerscan.Hostile]  # every layer's, base layer first: what validate lists


class MemberTap(Protocol):
    """Another model fed the same tar headers as the scan, in the same single pass (the
    report's waste ledger, jobs/images/waste.py)."""

    def add(self, m: tarfile.TarInfo) -> None: ...

    def end_layer(self) -> None: ...


def _tapped(members: Iterator[tarfile.TarInfo], tap: MemberTap) -> Iterator[tarfile.TarInfo]:
    for m in members:
        tap.add(m)
        yield m


class _Counted:
    """Passes chunks through and counts their bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for c in self._chunks:
            self.size += len(c)
            yield c


def scan_blob(conn: Connection, desc: Descriptor, lower: layerscan.Tree, *,
              keep_files: bool, tap: MemberTap | None = None
              ) -> tuple[layerscan.LayerScan, int, str]:
    """(scan, uncompressed size, compression) of one layer blob, applied to `lower`."""
    compression, chunks = decompressed_blob(conn, desc)
    counted = _Counted(chunks)
    stream = iter(counted)
    members = layerscan.tar_members(stream)
    if tap is not None:
        members = _tapped(members, tap)
    scan = layerscan.scan_members(members, lower, keep_files=keep_files)
    for _ in stream:  # the tar's end-of-archive padding still counts toward its size
        pass
    if tap is not None:
        tap.end_layer()
    return scan, counted.size, compression


def scan_image(conn: Connection, name: str, *, platform: str | None = None,
               layer: int | None = None, files: bool = False,
               on_layer: LayerProgress | None = None,
               tap: MemberTap | None = None) -> LayersReport:
    """Scan the layers of `name` bottom-up; report them all, or only `layer` (1 = base).

    The layers below the one asked for are still read: "changed" needs their paths.  `tap`
    sees every tar header of every layer read, then the end of each layer."""
    record, m = image_manifest(conn, name, platform)
    n = len(m.layers)
    if layer is not None and not 1 <= layer <= n:
        span = f"1-{n}" if n > 1 else "1"
        raise NotFoundError(f"image {record.name} has {n} layer{'s' if n != 1 else ''}; "
                            f"there is no layer {layer} (use {span})")
    if len(m.diff_ids) != n:
        raise OcixError(f"image {record.name}: the config lists {len(m.diff_ids)} diff IDs for "
                        f"{n} layers")
    chains = chain_ids(m.diff_ids) if n else []
    lines = created_by(m.config_doc, n)
    tree = layerscan.Tree()
    reports: list[LayerReport] = []
    last = layer if layer is not None else n
    for i, desc in enumerate(m.layers[:last]):
        if on_layer:
            on_layer(i + 1, last, desc.digest)
        wanted = layer is None or layer == i + 1
        try:
            scan, usize, comp = scan_blob(conn, desc, tree, keep_files=files and wanted,
                                          tap=tap)
        except NotFoundError:
            raise
        except OcixError as e:
            raise OcixError(f"layer {i + 1} ({desc.digest}): {e.message}") from None
        if wanted:
            reports.append(LayerReport(
                i + 1, desc.digest, desc.media_type, comp, m.diff_ids[i], chains[i], desc.size,
                usize, lines[i], scan.entries, scan.added, scan.changed, scan.deleted,
                scan.opaque, scan.hidden, scan.hostile, scan.files))
    return LayersReport(record.name, record.target.digest, m.descriptor.digest, m.platform,
                        reports, [h for r in reports for h in r.hostile])
