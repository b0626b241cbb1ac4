"""What each containerd label on a blob or snapshot means, in one sentence (docs/gc.md)."""

from __future__ import annotations

from dataclasses import dataclass

from .gcgraph import CONTENT_REF, EXPIRE_LABEL, FLAT_LABEL, ROOT_LABEL, SNAPSHOT_REF

DISTRIBUTION_SOURCE = "containerd.io/distribution.source."
UNCOMPRESSED = "containerd.io/uncompressed"
SNAPSHOT_REF_LABEL = "containerd.io/snapshot.ref"


@dataclass(frozen=True)
class Label:
    key: str
    value: str
    meaning: str
    keeps: str = ""  # "content <digest>" or "snapshot <snapshotter>/<key>" kept alive by it


def _ordinal(index: str, first: str = "") -> str:
    """A label's 0-based index as ocix counts everywhere else: from 1 (docs/layers.md)."""
    if not index.isdigit():
        return index
    n = int(index) + 1
    return f"{n}{first}" if n == 1 else str(n)


def explain(key: str, value: str) -> Label:
    if key.startswith(CONTENT_REF) and (key == CONTENT_REF or key[len(CONTENT_REF)] in "./"):
        rest = key[len(CONTENT_REF) + 1:]
        what = ("manifest " + _ordinal(rest[2:]) + " of this index" if rest.startswith("m.")
                else "the image config of this manifest" if rest == "config"
                else "layer " + _ordinal(rest[2:], " (the base)") + " of this manifest"
                if rest.startswith("l.") else "a blob this one refers to")
        return Label(key, value, f"GC reference: while this blob is kept, so is {value}, "
                                 f"{what}", f"content {value}")
    if key.startswith(SNAPSHOT_REF):
        sn = key[len(SNAPSHOT_REF):].split("/", 1)[0]
        return Label(key, value, f"GC reference: while this blob is kept, so is {sn} snapshot "
                                 f"{value}, the unpacked image (its top chain ID), and through "
                                 f"its parents every layer below", f"snapshot {sn}/{value}")
    if key.startswith(DISTRIBUTION_SOURCE):
        host = key[len(DISTRIBUTION_SOURCE):]
        return Label(key, value, f"where it was pulled from: repositories {value} on {host}; "
                                 f"a push to that registry can mount it instead of uploading")
    if key == UNCOMPRESSED:
        return Label(key, value, "the diff ID: sha256 of this layer once decompressed; set "
                                 "when the layer is unpacked, so the tar need not be hashed again")
    if key == ROOT_LABEL:
        return Label(key, value, "GC root: kept whatever refers to it, until the label is removed")
    if key == EXPIRE_LABEL:
        return Label(key, value, "a lease with this label stops protecting its resources at "
                                 "that time")
    if key == FLAT_LABEL:
        return Label(key, value, "a flat lease keeps only its listed resources, not what they "
                                 "refer to")
    if key == SNAPSHOT_REF_LABEL:
        return Label(key, value, "the chain ID this snapshot was committed as (what layers "
                                 "below and including it hash to)")
    if key.startswith("containerd.io/"):
        return Label(key, value, "a containerd label; GC ignores it")
    return Label(key, value, "not containerd's: GC ignores it")


def explain_all(labels: dict[str, str]) -> list[Label]:
    return [explain(k, v) for k, v in sorted(labels.items())]
