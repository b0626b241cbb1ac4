"""`ocix pull`: resolve, fetch into the content store, label for GC, unpack, record the image.

Everything runs under one lease that is deleted at the end, on failure and on Ctrl-C too
(docs/containerd-protocol.md, "GC labels and leases").  Layers download concurrently; the
unpacker applies layer N as soon as it and the layers below it are committed, while later layers
are still downloading.  The image record is written last, so a failed pull never leaves an image
that points at missing content.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..containerd import content, images, leases, snapshots
from ..containerd.connection import Connection
from ..errors import DigestMismatchError, OcixError
from ..oci import mediatypes as mt
from ..oci import platform as plat
from ..oci.descriptor import Descriptor, json_object
from ..oci.digest import chain_ids
from ..registry.auth import Credentials
from ..registry.client import RegistryClient
from ..registry.reference import parse
from . import unpack

EventFn = Callable[["Event"], None]


@dataclass
class PullOptions:
    platform: str | None = None
    all_platforms: bool = False
    snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER
    unpack: bool = True
    max_concurrent_downloads: int = 3
    hosts_dir: str | None = None
    plain_http: bool = False
    credentials: Credentials | None = None


@dataclass(frozen=True)
class Event:
    """Progress of one blob: state is waiting, downloading, exists, downloaded, unpacking, done."""

    digest: str
    kind: str  # index, manifest, config, layer
    state: str
    done: int = 0
    total: int = 0


@dataclass
class LayerResult:
    digest: str
    media_type: str
    size: int
    diff_id: str = ""
    fetch: str = "fetched"  # fetched, exists, resumed
    downloaded: int = 0
    unpacked: str = ""  # applied, present, or "" when not unpacked
    _fetched_at: float = field(default=0.0, repr=False)  # monotonic end of the download; not in --json


@dataclass
class PullResult:
    name: str
    digest: str
    media_type: str
    platforms: list[str] = field(default_factory=list)
    compressed_size: int = 0
    unpacked_size: int = 0
    downloaded: int = 0
    layers: list[LayerResult] = field(default_factory=list)
    fetch_seconds: float = 0.0
    unpack_seconds: float = 0.0
    total_seconds: float = 0.0
    snapshotter: str = ""
    chain_id: str = ""


class Cancelled(OcixError):
    pass


def source_label(host: str) -> str:
    """containerd.io/distribution.source.<host without port> (remotes/docker/handler.go)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return f"containerd.io/distribution.source.{name}"


def _merge_source(existing: str, repo: str) -> str:
    repos = {r for r in existing.split(",") if r} | {repo}
    return ",".join(sorted(repos))


def child_gc_labels(media_type: str, doc: dict[str, Any]) -> dict[str, str]:
    """The gc.ref.content labels the Go client sets on a parent blob (images/mediatypes.go)."""
    labels: dict[str, str] = {}
    if mt.is_index(media_type):
        for i, m in enumerate(doc.get("manifests") or []):
            labels[f"containerd.io/gc.ref.content.m.{i}"] = m["digest"]
    elif mt.is_manifest(media_type):
        labels["containerd.io/gc.ref.content.config"] = doc["config"]["digest"]
        for i, layer in enumerate(doc.get("layers") or []):
            labels[f"containerd.io/gc.ref.content.l.{i}"] = layer["digest"]
    return labels


class _Puller:
    def __init__(self, conn: Connection, ref: str, opts: PullOptions, on_event: EventFn | None) -> None:
        self.conn = conn
        self.ref = parse(ref)
        self.opts = opts
        self.emit = on_event or (lambda e: None)
        self.client = RegistryClient(self.ref, hosts_dir=opts.hosts_dir, plain_http=opts.plain_http,
                                     credentials=opts.credentials)
        self.cancel = threading.Event()
        self.lease = ""
        self.source_key = source_label(self.ref.host)
        self.matcher = plat.Matcher(plat.parse(opts.platform) if opts.platform else plat.host())

    # -- small blobs -----------------------------------------------------------------------
    def store_small(self, desc: Descriptor, body: bytes, kind: str,
                    labels: dict[str, str]) -> None:
        self.emit(Event(desc.digest, kind, "downloading", 0, desc.size))
        content.write_blob(self.conn, mt.ref_key(desc.media_type, desc.digest), desc.digest,
                           desc.size, lambda off: [body[off:]], lease=self.lease)
        self.label(desc.digest, labels)
        self.emit(Event(desc.digest, kind, "done", desc.size, desc.size))

    def label(self, digest: str, labels: dict[str, str]) -> None:
        current = content.info(self.conn, digest).labels
        labels = {**labels, self.source_key: _merge_source(current.get(self.source_key, ""),
                                                           self.ref.repository)}
        changed = {k: v for k, v in labels.items() if current.get(k) != v}
        if changed:
            content.update_labels(self.conn, digest, changed, lease=self.lease)

    # -- layers ----------------------------------------------------------------------------
    def fetch_layer(self, desc: Descriptor, result: LayerResult) -> None:
        self.emit(Event(desc.digest, "layer", "downloading", 0, desc.size))

        def source(offset: int) -> Iterator[bytes]:
            for chunk in self.client.open_blob(desc, offset):
                if self.cancel.is_set():
                    raise Cancelled("pull cancelled")
                yield chunk

        def progress(done: int) -> None:
            self.emit(Event(desc.digest, "layer", "downloading", done, desc.size))

        r = content.write_blob(self.conn, mt.ref_key(desc.media_type, desc.digest), desc.digest,
                               desc.size, source, lease=self.lease, on_progress=progress)
        # A blob another namespace holds comes back from STAT as fully ingested (containerd's
        # shared content policy): nothing was downloaded, so it counts as present.
        present = r.existed or r.resumed_from >= desc.size
        result.fetch = "exists" if present else ("resumed" if r.resumed_from else "fetched")
        result.downloaded = r.written
        self.label(desc.digest, {})
        result._fetched_at = time.monotonic()
        self.emit(Event(desc.digest, "layer", "exists" if present else "downloaded",
                        desc.size, desc.size))

    # -- the whole pull --------------------------------------------------------------------
    def run(self) -> PullResult:
        t0 = time.monotonic()
        try:
            with leases.temporary(self.conn, labels={"ocix.io/pull": self.ref.name}) as lease:
                self.lease = lease.id
                try:
                    result = self._pull()
                except BaseException:
                    self.cancel.set()
                    raise
        finally:
            _drop_stale_leases(self.conn)
        result.total_seconds = time.monotonic() - t0
        return result

    def _pull(self) -> PullResult:
        resolved = self.client.resolve()
        root = resolved.descriptor
        result = PullResult(name=self.ref.name, digest=root.digest, media_type=root.media_type,
                            snapshotter=self.opts.snapshotter)
        body = self.client.fetch_manifest(root)
        manifests: list[Descriptor]
        if mt.is_index(root.media_type):
            doc = json_object(body, f"index {root.digest}")
            children = [Descriptor.from_json(m) for m in doc.get("manifests") or []]
            self.store_small(root, body, "index", child_gc_labels(root.media_type, doc))
            manifests = self._select(children)
        elif mt.is_manifest(root.media_type):
            manifests = [root]
        else:
            raise OcixError(f"{self.ref.name}: unsupported media type {root.media_type}")

        unpack_targets: list[tuple[list[Descriptor], list[str]]] = []
        config_labels: list[tuple[str, dict[str, str]]] = []
        seen: set[str] = set()
        all_layers: list[tuple[Descriptor, LayerResult]] = []
        for m in manifests:
            mbody = body if m.digest == root.digest else self.client.fetch_manifest(m)
            mdoc = json_object(mbody, f"manifest {m.digest}")
            if not isinstance(mdoc.get("config"), dict) or not isinstance(mdoc.get("layers"), list):
                raise OcixError(f"manifest {m.digest} has no config or layers")
            self.store_small(m, mbody, "manifest", child_gc_labels(m.media_type, mdoc))
            config = Descriptor.from_json(mdoc["config"])
            cbody = self.client.fetch_blob_bytes(config)
            cdoc = json_object(cbody, f"config {config.digest}")
            layers = [Descriptor.from_json(x) for x in mdoc["layers"]]
            diff_ids = list((cdoc.get("rootfs") or {}).get("diff_ids") or [])
            if len(diff_ids) != len(layers):
                raise OcixError(f"config {config.digest} lists {len(diff_ids)} diff IDs for "
                                f"{len(layers)} layers")
            platform = plat.of_manifest(m.platform, cdoc)
            result.platforms.append(platform)
            gc: dict[str, str] = {}
            wants_unpack = self.opts.unpack and layers and (
                len(manifests) == 1 or self.matcher.matches(m.platform))
            if wants_unpack:
                gc[unpack.snapshot_gc_label(self.opts.snapshotter)] = chain_ids(diff_ids)[-1]
                unpack_targets.append((layers, diff_ids))
                result.chain_id = chain_ids(diff_ids)[-1]
            # The snapshot label goes on only after the unpack succeeded (below).
            self.store_small(config, cbody, "config", {})
            config_labels.append((config.digest, gc))
            for i, layer in enumerate(layers):
                if layer.digest in seen:
                    continue
                seen.add(layer.digest)
                lr = LayerResult(layer.digest, layer.media_type, layer.size, diff_ids[i])
                result.layers.append(lr)
                all_layers.append((layer, lr))
                self.emit(Event(layer.digest, "layer", "waiting", 0, layer.size))
            result.compressed_size += sum(x.size for x in layers) + config.size + m.size

        fetch_start = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=max(1, self.opts.max_concurrent_downloads),
                                  thread_name_prefix="ocix-fetch")
        futures: dict[str, Future[None]] = {}
        try:
            for layer, lr in all_layers:
                futures[layer.digest] = pool.submit(self.fetch_layer, layer, lr)
            by_digest = {lr.digest: lr for _, lr in all_layers}
            for layers, diff_ids in unpack_targets:
                for i, layer in enumerate(layers):
                    futures[layer.digest].result()
                    self.emit(Event(layer.digest, "layer", "unpacking", layer.size, layer.size))
                    u = unpack.unpack_layer(self.conn, layers, diff_ids, i,
                                            snapshotter=self.opts.snapshotter, lease=self.lease)
                    result.unpack_seconds += u.seconds
                    by_digest[layer.digest].unpacked = "applied" if u.applied else "present"
                    self.emit(Event(layer.digest, "layer", "done", layer.size, layer.size))
            for f in futures.values():
                f.result()
        except BaseException:
            self.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if not unpack_targets:
            for layer, _lr in all_layers:
                self.emit(Event(layer.digest, "layer", "done", layer.size, layer.size))
        # Fetch time runs to the last download's end, however the unpack overlapped it.
        result.fetch_seconds = max((lr._fetched_at for lr in result.layers), default=fetch_start) \
            - fetch_start
        result.downloaded = sum(lr.downloaded for lr in result.layers)
        for digest, gc in config_labels:
            if gc:
                self.label(digest, gc)
        if unpack_targets:
            result.unpacked_size = _unpacked_size(self.conn, unpack_targets, self.opts.snapshotter)
        images.put(self.conn, self.ref.name, root, lease=self.lease)
        return result

    def _select(self, children: list[Descriptor]) -> list[Descriptor]:
        manifests = [c for c in children if mt.is_manifest(c.media_type)]
        if self.opts.all_platforms:
            return manifests
        best = plat.best_manifest(manifests, self.matcher)
        if best is None:
            have = ", ".join(str(c.platform) for c in manifests if c.platform) or "none"
            raise OcixError(f"{self.ref.name} has no manifest for {self.matcher.wanted} "
                            f"(it has: {have})", hint="pick one with --platform, or --all-platforms")
        return [best]


def _unpacked_size(conn: Connection, targets: list[tuple[list[Descriptor], list[str]]],
                   snapshotter: str) -> int:
    seen: set[str] = set()
    total = 0
    for _, diff_ids in targets:
        for chain in chain_ids(diff_ids):
            if chain in seen:
                continue
            seen.add(chain)
            try:
                total += snapshots.usage(conn, chain, snapshotter).size
            except OcixError:
                pass
    return total


def _drop_stale_leases(conn: Connection) -> None:
    """Leases of ocix runs that died (SIGKILL, lost daemon) go once a later pull has finished,
    so their partial ingests could be resumed first."""
    try:
        for lease in leases.stale_ocix_leases(conn):
            leases.delete(conn, lease.id)
    except OcixError:
        pass


def pull(conn: Connection, ref: str, opts: PullOptions | None = None,
         on_event: EventFn | None = None) -> PullResult:
    """Pull `ref` into containerd like `ctr images pull`; see the module docstring."""
    opts = opts or PullOptions()
    try:
        return _Puller(conn, ref, opts, on_event).run()
    except DigestMismatchError as e:
        raise DigestMismatchError(f"pull {ref}: {e.message}") from e
