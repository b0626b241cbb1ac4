"""Why containerd refused to unpack a layer: the layer, and the entry found by scanning it.

containerd's Diff.Apply answers with the extractor's own error, full of paths under a temporary
mount.  After such a failure the layers up to the refused one are read back from the content
store and scanned (ocix.oci.fs.layerscan, nothing is written) to name the hostile entry
(docs/layers.md, "When containerd refuses a layer").
"""

from __future__ import annotations

import posixpath
import re

from ...containerd.connection import Connection
from ...errors import OcixError
from ...oci.descriptor import Descriptor
from ...oci.fs import layerscan
from .tree import decompressed_blob

# The directory containerd extracts into: a temporary mount, or an overlayfs upper directory.
_MOUNT = re.compile(r"\S*?(?:/tmpmounts/containerd-mount\d+|/snapshots/\d+/fs)(?=[/:\s]|$)")
_PREFIX = re.compile(r"^apply sha256:[0-9a-f]{64}: (?:mount callback failed on [^:]*: )?")


def containerd_said(message: str) -> str:
    """containerd's error without the digest prefix and with paths relative to the layer root:
    "link /nothing /h: no such file or directory"."""
    return _MOUNT.sub("", _PREFIX.sub("", message)) or message


def hostile_entries(conn: Connection, layers: list[Descriptor], i: int) -> list[layerscan.Hostile]:
    """The hostile entries of layer i (0-based), resolved through the layers below it."""
    tree = layerscan.Tree()
    found: list[layerscan.Hostile] = []
    for desc in layers[: i + 1]:
        _, chunks = decompressed_blob(conn, desc)
        found = layerscan.scan_members(layerscan.tar_members(chunks), tree).hostile
    return found


def _culprit(found: list[layerscan.Hostile], said: str) -> layerscan.Hostile | None:
    """The entry containerd's message names, else the first one containerd refuses, else the
    first hostile entry of the layer."""
    for h in found:
        base = posixpath.basename(h.entry.rstrip("/"))
        if base and (f"/{base}:" in said or f": {base}:" in said or said.startswith(f"{base}:")):
            return h
    return next((h for h in found if "refuses" in h.reason), found[0] if found else None)


def refusal(conn: Connection, image: str, ref: str, layers: list[Descriptor], i: int,
            err: OcixError) -> OcixError:
    """The error for containerd refusing layer i (0-based) of `image`."""
    said = containerd_said(err.message)
    desc = layers[i]
    where = f"image {image}: containerd refused to unpack layer {i + 1} of {len(layers)} " \
            f"({desc.digest})"
    try:
        culprit = _culprit(hostile_entries(conn, layers, i), said)
    except OcixError:
        culprit = None
    entry = f": entry {culprit.entry!r}: {culprit.reason}" if culprit else ""
    return OcixError(f"{where}{entry} (containerd: {said})", kind="layer-refused", subject=ref)
