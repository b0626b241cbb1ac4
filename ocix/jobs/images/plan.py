"""Plan a pull: resolve the reference, read index, manifests and configs, decide what to fetch.

The plan is everything `ocix pull` learns from the registry's small documents before any
layer is downloaded: which manifests (platforms) to take, the blobs to store with the GC labels
they get, the layers to fetch (each once), and which layer chains to unpack.  Nothing here
talks to containerd; jobs/images/pull.py carries the plan out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ...errors import OcixError
from ...oci import mediatypes as mt
from ...oci import platform as plat
from ...oci.descriptor import Descriptor, json_object
from ...oci.digest import chain_ids


class ManifestSource(Protocol):
    """What planning needs from a registry client (registry.client.RegistryClient has it)."""

    def resolve(self) -> Any: ...
    def fetch_manifest(self, desc: Descriptor) -> bytes: ...
    def fetch_blob_bytes(self, desc: Descriptor) -> bytes: ...


@dataclass(frozen=True)
class Document:
    """A small blob stored as read (index, manifest or config) and the labels it is stored with."""

    descriptor: Descriptor
    body: bytes
    kind: str  # index, manifest, config
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerPlan:
    descriptor: Descriptor
    diff_id: str


@dataclass(frozen=True)
class UnpackTarget:
    """One manifest's layer chain to apply into the snapshotter, bottom layer first."""

    layers: list[Descriptor]
    diff_ids: list[str]

    @property
    def chain_id(self) -> str:
        return chain_ids(self.diff_ids)[-1]


@dataclass(frozen=True)
class ManifestPlan:
    manifest: Document
    config: Document
    platform: str
    new_layers: list[LayerPlan]  # the layers no earlier manifest of this pull lists
    size: int  # compressed bytes of manifest, config and all its layers
    unpack: UnpackTarget | None  # None: fetch only


@dataclass(frozen=True)
class PullPlan:
    name: str
    root: Descriptor
    index: Document | None
    manifests: list[ManifestPlan]

    @property
    def layers(self) -> list[LayerPlan]:
        """Every layer to fetch, once, in manifest order."""
        return [layer for m in self.manifests for layer in m.new_layers]

    @property
    def unpack_targets(self) -> list[UnpackTarget]:
        return [m.unpack for m in self.manifests if m.unpack is not None]

    @property
    def platforms(self) -> list[str]:
        return [m.platform for m in self.manifests]

    @property
    def compressed_size(self) -> int:
        return sum(m.size for m in self.manifests)

    @property
    def chain_id(self) -> str:
        """The top chain ID of the last manifest unpacked, or "" when nothing is."""
        targets = self.unpack_targets
        return targets[-1].chain_id if targets else ""


def child_gc_labels(media_type: str, doc: dict[str, Any]) -> dict[str, str]:
    """The gc.ref.content labels the Go client sets on a parent blob (docs/sources.md)."""
    labels: dict[str, str] = {}
    if mt.is_index(media_type):
        for i, m in enumerate(doc.get("manifests") or []):
            labels[f"containerd.io/gc.ref.content.m.{i}"] = m["digest"]
    elif mt.is_manifest(media_type):
        labels["containerd.io/gc.ref.content.config"] = doc["config"]["digest"]
        for i, layer in enumerate(doc.get("layers") or []):
            labels[f"containerd.io/gc.ref.content.l.{i}"] = layer["digest"]
    return labels


def select_manifests(name: str, children: list[Descriptor], matcher: plat.Matcher,
                     all_platforms: bool) -> list[Descriptor]:
    """The index entries to pull: every manifest, or the best match for the platform."""
    manifests = [c for c in children if mt.is_manifest(c.media_type)]
    if all_platforms:
        return manifests
    best = plat.best_manifest(manifests, matcher)
    if best is None:
        have = ", ".join(str(c.platform) for c in manifests if c.platform) or "none"
        raise OcixError(f"{name} has no manifest for {matcher.wanted} (it has: {have})",
                        hint="pick one with --platform, or --all-platforms")
    return [best]


def plan_pull(source: ManifestSource, name: str, matcher: plat.Matcher, *,
              all_platforms: bool = False, unpack: bool = True) -> PullPlan:
    """Resolve `name` through `source` and read what it points at into a PullPlan."""
    root = source.resolve().descriptor
    body = source.fetch_manifest(root)
    index: Document | None = None
    if mt.is_index(root.media_type):
        doc = json_object(body, f"index {root.digest}")
        children = [Descriptor.from_json(m) for m in doc.get("manifests") or []]
        index = Document(root, body, "index", child_gc_labels(root.media_type, doc))
        chosen = select_manifests(name, children, matcher, all_platforms)
    elif mt.is_manifest(root.media_type):
        chosen = [root]
    else:
        raise OcixError(f"{name}: unsupported media type {root.media_type}")

    seen: set[str] = set()
    plans: list[ManifestPlan] = []
    for m in chosen:
        mbody = body if m.digest == root.digest else source.fetch_manifest(m)
        wants_unpack = unpack and (len(chosen) == 1 or matcher.matches(m.platform))
        plans.append(_plan_manifest(source, m, mbody, seen, wants_unpack))
    return PullPlan(name, root, index, plans)


def _plan_manifest(source: ManifestSource, m: Descriptor, body: bytes, seen: set[str],
                   wants_unpack: bool) -> ManifestPlan:
    doc = json_object(body, f"manifest {m.digest}")
    if not isinstance(doc.get("config"), dict) or not isinstance(doc.get("layers"), list):
        raise OcixError(f"manifest {m.digest} has no config or layers")
    config = Descriptor.from_json(doc["config"])
    cbody = source.fetch_blob_bytes(config)
    cdoc = json_object(cbody, f"config {config.digest}")
    layers = [Descriptor.from_json(x) for x in doc["layers"]]
    diff_ids = list((cdoc.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layers):
        raise OcixError(f"config {config.digest} lists {len(diff_ids)} diff IDs for "
                        f"{len(layers)} layers")
    target = UnpackTarget(layers, diff_ids) if wants_unpack and layers else None
    new_layers = []
    for layer, diff_id in zip(layers, diff_ids, strict=True):
        if layer.digest not in seen:
            seen.add(layer.digest)
            new_layers.append(LayerPlan(layer, diff_id))
    return ManifestPlan(
        manifest=Document(m, body, "manifest", child_gc_labels(m.media_type, doc)),
        config=Document(config, cbody, "config", {}),
        platform=plat.of_manifest(m.platform, cdoc),
        new_layers=new_layers,
        size=sum(x.size for x in layers) + config.size + m.size,
        unpack=target)
