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

from ...containerd import content, images, leases, snapshots
from ...containerd.connection import Connection
from ...errors import DigestMismatchError, OcixError
from ...oci import mediatypes as mt
from ...oci import platform as plat
from ...oci.descriptor import Descriptor
from ...oci.digest import chain_ids
from ...registry.auth import Credentials
from ...registry.client import RegistryClient, preload_transport
from ...registry.reference import parse
from . import refused, unpack
from .plan import Document, PullPlan, UnpackTarget, child_gc_labels, plan_pull

__all__ = ["Event", "LayerResult", "PullOptions", "PullResult", "child_gc_labels", "pull",
           "source_label"]

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
    """containerd.io/distribution.source.<host without port> (docs/sources.md)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return f"containerd.io/distribution.source.{name}"


def _merge_source(existing: str, repo: str) -> str:
    repos = {r for r in existing.split(",") if r} | {repo}
    return ",".join(sorted(repos))


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
    def store_small(self, doc: Document) -> None:
        desc, body = doc.descriptor, doc.body
        self.emit(Event(desc.digest, doc.kind, "downloading", 0, desc.size))
        content.write_blob(self.conn, mt.ref_key(desc.media_type, desc.digest), desc.digest,
                           desc.size, lambda off: [body[off:]], lease=self.lease)
        self.label(desc.digest, doc.labels)
        self.emit(Event(desc.digest, doc.kind, "done", desc.size, desc.size))

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
        plan = plan_pull(self.client, self.ref.name, self.matcher,
                         all_platforms=self.opts.all_platforms, unpack=self.opts.unpack)
        result = PullResult(name=self.ref.name, digest=plan.root.digest,
                            media_type=plan.root.media_type, platforms=plan.platforms,
                            compressed_size=plan.compressed_size, snapshotter=self.opts.snapshotter,
                            chain_id=plan.chain_id)
        self.store_documents(plan, result)
        self.fetch_and_unpack(plan, result)
        # The snapshot GC label goes on a config only now that its unpack succeeded.
        for m in plan.manifests:
            if m.unpack is not None:
                self.label(m.config.descriptor.digest,
                           {unpack.snapshot_gc_label(self.opts.snapshotter): m.unpack.chain_id})
        if plan.unpack_targets:
            result.unpacked_size = _unpacked_size(self.conn, plan.unpack_targets,
                                                  self.opts.snapshotter)
        images.put(self.conn, self.ref.name, plan.root, lease=self.lease)
        return result

    def store_documents(self, plan: PullPlan, result: PullResult) -> None:
        """Index, manifests and configs into the content store; the layers are announced."""
        if plan.index is not None:
            self.store_small(plan.index)
        for m in plan.manifests:
            self.store_small(m.manifest)
            self.store_small(m.config)
            for layer in m.new_layers:
                d = layer.descriptor
                result.layers.append(LayerResult(d.digest, d.media_type, d.size, layer.diff_id))
                self.emit(Event(d.digest, "layer", "waiting", 0, d.size))

    def fetch_and_unpack(self, plan: PullPlan, result: PullResult) -> None:
        """Download every layer concurrently; apply each chain as its layers arrive."""
        targets = plan.unpack_targets
        fetch_start = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=max(1, self.opts.max_concurrent_downloads),
                                  thread_name_prefix="ocix-fetch")
        futures: dict[str, Future[None]] = {}
        by_digest = {lr.digest: lr for lr in result.layers}
        try:
            for layer in plan.layers:
                d = layer.descriptor
                futures[d.digest] = pool.submit(self.fetch_layer, d, by_digest[d.digest])
            for target in targets:
                for i, d in enumerate(target.layers):
                    futures[d.digest].result()
                    self.emit(Event(d.digest, "layer", "unpacking", d.size, d.size))
                    try:
                        u = unpack.unpack_layer(self.conn, target.layers, target.diff_ids, i,
                                                snapshotter=self.opts.snapshotter,
                                                lease=self.lease)
                    except unpack.ApplyRefused as e:
                        raise refused.refusal(self.conn, self.ref.name, self.ref.name,
                                              target.layers, i, e) from None
                    result.unpack_seconds += u.seconds
                    by_digest[d.digest].unpacked = "applied" if u.applied else "present"
                    self.emit(Event(d.digest, "layer", "done", d.size, d.size))
            for f in futures.values():
                f.result()
        except BaseException:
            self.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if not targets:
            for layer in plan.layers:
                d = layer.descriptor
                self.emit(Event(d.digest, "layer", "done", d.size, d.size))
        # Fetch time runs to the last download's end, however the unpack overlapped it.
        result.fetch_seconds = max((lr._fetched_at for lr in result.layers), default=fetch_start) \
            - fetch_start
        result.downloaded = sum(lr.downloaded for lr in result.layers)


def _unpacked_size(conn: Connection, targets: list[UnpackTarget], snapshotter: str) -> int:
    seen: set[str] = set()
    total = 0
    for target in targets:
        for chain in chain_ids(target.diff_ids):
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
    preload_transport()  # overlaps the oras import with the lease's gRPC round trips
    try:
        return _Puller(conn, ref, opts, on_event).run()
    except DigestMismatchError as e:
        raise DigestMismatchError(f"pull {ref}: {e.message}") from e
