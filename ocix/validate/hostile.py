"""Hostile layer entries as validation findings (docs/layers.md, "Hostile entries").

The verdicts are ocix.oci.fs.layerscan's, the same ones `ocix layers` shows, so that
`ocix validate ... --check-layers` and `ocix layers` agree entry for entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from ..oci import mediatypes as mt
from ..oci.fs import layerscan
from .findings import Finding, Severity

S_LAYER = "image-spec layer.md#changesets"
CHUNK = 1 << 20


def hostile_of(stream: IO[bytes], media_type: str, tree: layerscan.Tree) -> list[layerscan.Hostile]:
    """Scan one layer blob (gzip, zstd or plain, told by its first bytes) into `tree`."""
    first = stream.read(CHUNK)
    compression = layerscan.sniff_compression(first, mt.layer_compression(media_type))
    data = layerscan.decompress(_chunks(first, stream), compression)
    return layerscan.scan_members(layerscan.tar_members(data), tree).hostile


def _chunks(first: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    block = first
    while block:
        yield block
        block = stream.read(CHUNK)


def hostile_findings(digest: str, found: list[layerscan.Hostile]) -> list[Finding]:
    return [Finding(Severity.WARNING, "", f"layer {h.layer} {h.kind} {h.entry!r} is hostile: "
                    f"{h.reason}", S_LAYER, "an extractor that resolves names naively could touch "
                    "files outside the root, or containerd refuses the layer; `ocix layers "
                    "IMAGE` lists the same entries", "tree.layer.hostile", digest)
            for h in found]
