"""containerd.services.content.v1.Content: the content store, including the Write stream.

Write is a bidirectional stream: STAT answers the offset already ingested under a ref (the
resume point), WRITE sends data at the current offset, COMMIT checks size and digest.  A blob
that already exists fails the stream with ALREADY_EXISTS, after containerd has added it to the
caller's lease, which is what a pull wants: that counts as success.  The rules are in
docs/containerd-protocol.md, "Content writes".
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf import field_mask_pb2

from ..errors import (
    AlreadyExistsError,
    ConflictError,
    DigestMismatchError,
    FailedPreconditionError,
    NotFoundError,
    OcixError,
)
from ._convert import timestamp
from .connection import Connection, load_stub_module

_pb = load_stub_module("services.content.v1.content_pb2")
STAT, WRITE, COMMIT = 0, 1, 2
CHUNK = 1 << 20  # 1 MiB WRITE chunks were the fastest from Python (docs/containerd-protocol.md)
WINDOW = 4  # WRITE requests in flight per blob: bounds memory to WINDOW MiB per layer


@dataclass(frozen=True)
class Info:
    digest: str
    size: int
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class IngestStatus:
    ref: str
    offset: int
    total: int
    expected: str
    started_at: datetime | None = None
    updated_at: datetime | None = None


def _info(pb: Any) -> Info:
    return Info(pb.digest, pb.size, dict(pb.labels), timestamp(pb.created_at), timestamp(pb.updated_at))


def info(conn: Connection, digest: str) -> Info:
    r = conn.unary("content", "Info", _pb.InfoRequest(digest=digest), what=f"content {digest}")
    return _info(r.info)


def exists(conn: Connection, digest: str) -> bool:
    try:
        info(conn, digest)
        return True
    except NotFoundError:
        return False


def list_content(conn: Connection, filters: list[str] | None = None) -> list[Info]:
    out: list[Info] = []
    for r in conn.server_stream("content", "List", _pb.ListContentRequest(filters=filters or []),
                                what="list content"):
        out.extend(_info(i) for i in r.info)
    return sorted(out, key=lambda i: i.digest)


def update_labels(conn: Connection, digest: str, labels: dict[str, str], *,
                  lease: str | None = None) -> Info:
    """Set (not replace) labels; an empty value removes that label."""
    req = _pb.UpdateRequest(info=_pb.Info(digest=digest, labels=labels),
                            update_mask=field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in labels]))
    r = conn.unary("content", "Update", req, lease=lease, what=f"label {digest}")
    return _info(r.info)


def delete(conn: Connection, digest: str) -> None:
    conn.unary("content", "Delete", _pb.DeleteContentRequest(digest=digest), what=f"remove {digest}")


def read(conn: Connection, digest: str, offset: int = 0, size: int = 0) -> Iterator[bytes]:
    """Stream a blob's bytes (size 0 = to the end)."""
    req = _pb.ReadContentRequest(digest=digest, offset=offset, size=size)
    for r in conn.server_stream("content", "Read", req, what=f"read {digest}"):
        yield r.data


def read_blob(conn: Connection, digest: str, limit: int = 64 << 20) -> bytes:
    """A whole small blob (manifest, index, config), refusing anything over `limit`."""
    out = bytearray()
    for chunk in read(conn, digest):
        out += chunk
        if len(out) > limit:
            raise OcixError(f"blob {digest} is larger than {limit} bytes")
    return bytes(out)


def statuses(conn: Connection, filters: list[str] | None = None) -> list[IngestStatus]:
    r = conn.unary("content", "ListStatuses", _pb.ListStatusesRequest(filters=filters or []),
                   what="list ingests")
    return [IngestStatus(s.ref, s.offset, s.total, s.expected, timestamp(s.started_at),
                         timestamp(s.updated_at)) for s in r.statuses]


def abort(conn: Connection, ref: str) -> None:
    try:
        conn.unary("content", "Abort", _pb.AbortRequest(ref=ref), what=f"abort ingest {ref}")
    except NotFoundError:
        pass


@dataclass(frozen=True)
class WriteResult:
    digest: str
    size: int
    written: int  # bytes sent in this call (0 when the blob already existed)
    resumed_from: int
    existed: bool


class _Writer:
    """One Content.Write stream.

    grpc wants an iterator of requests; a queue feeds it, so a caller can put() several WRITEs
    before it recv()s their answers (pipelining), or send() one and wait, as STAT and COMMIT do.
    """

    def __init__(self, conn: Connection, ref: str, *, lease: str | None = None,
                 timeout: float | None = None) -> None:
        self.conn = conn
        self.ref = ref
        self._q: queue.Queue[Any] = queue.Queue()
        self._call = conn.bidi_stream("content", "Write", iter(self._q.get, None), lease=lease,
                                      timeout=timeout, what=f"write {ref}")
        self._closed = False

    def send(self, **fields: Any) -> Any:
        self.put(**fields)
        return self.recv()

    def put(self, **fields: Any) -> None:
        """Queue one request without waiting for its answer (pipelined WRITEs)."""
        self._q.put(_pb.WriteContentRequest(ref=self.ref, **fields))

    def recv(self) -> Any:
        """The answer to the oldest request not answered yet."""
        try:
            return next(self._call)
        except StopIteration:
            raise OcixError(f"content write {self.ref}: stream closed by containerd") from None
        except OcixError:
            # A "ref ... locked" UNAVAILABLE arrives as ConflictError (another writer).
            self.close()
            raise

    def close(self, note: str = "") -> None:
        if not self._closed:
            self._closed = True
            self._q.put(None)
            self._call.cancel(note)


def write_blob(conn: Connection, ref: str, expected: str, total: int, source: Any, *,
               lease: str | None = None, labels: dict[str, str] | None = None,
               on_progress: Any = None, lock_wait: float = 600.0) -> WriteResult:
    """Ingest a blob under `ref`, resuming a partial ingest.

    `source(offset)` returns an iterable of byte chunks starting at that offset.
    containerd checks size and digest at COMMIT; a mismatch aborts the ingest, so nothing bad
    is committed and a retry starts from zero.
    """
    deadline = time.monotonic() + lock_wait
    delay = 0.05
    while True:
        try:
            return _write_once(conn, ref, expected, total, source, lease, labels, on_progress)
        except AlreadyExistsError:
            return WriteResult(expected, total, 0, 0, True)
        except ConflictError as e:
            # Another client holds this ref ("ref ... locked"): wait for it, like the Go client.
            if time.monotonic() > deadline:
                raise ConflictError(f"{ref} stayed locked by another writer: {e.message}") from e
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _write_once(conn: Connection, ref: str, expected: str, total: int, source: Any,
                lease: str | None, labels: dict[str, str] | None, on_progress: Any) -> WriteResult:
    w = _Writer(conn, ref, lease=lease)
    written = 0
    try:
        st = w.send(action=STAT, total=total, expected=expected)
        offset = resumed = st.offset if st.offset <= total else 0
        if on_progress:
            on_progress(offset)
        if offset < total:
            # Up to WINDOW WRITEs in flight: the registry is read while containerd writes,
            # instead of one round trip per chunk.  Offsets are ours to compute; containerd
            # refuses any that does not follow its own (OUT_OF_RANGE).
            pending = 0
            for chunk in _rechunk(source(offset)):
                if offset + len(chunk) > total:
                    raise DigestMismatchError(f"blob {expected}: the registry sent more than the "
                                              f"{total} bytes its descriptor declares")
                w.put(action=WRITE, offset=offset, data=chunk)
                offset += len(chunk)
                written += len(chunk)
                pending += 1
                if pending >= WINDOW:
                    r = w.recv()
                    pending -= 1
                    if on_progress:
                        on_progress(r.offset)
            while pending:
                r = w.recv()
                pending -= 1
                if on_progress:
                    on_progress(r.offset)
            if written and r.offset != offset:
                raise OcixError(f"content write {ref}: containerd is at offset {r.offset}, "
                                f"ocix sent up to {offset}")
        if offset != total:
            raise DigestMismatchError(f"blob {expected}: received {offset} of {total} bytes")
        # containerd hashes the whole ingest (re-reading a resumed one) and refuses a mismatch.
        try:
            r = w.send(action=COMMIT, total=total, offset=offset, expected=expected,
                       labels=labels or {})
        except FailedPreconditionError as e:
            raise DigestMismatchError(f"blob {expected}: containerd refused the content: {e.message}") from e
        return WriteResult(expected, total, written, resumed, False)
    except DigestMismatchError:
        w.close(f"sent={written}")
        abort(conn, ref)  # drop the bad bytes so a retry starts clean
        raise
    finally:
        w.close(f"sent={written}")


def _rechunk(chunks: Iterable[bytes], size: int = CHUNK) -> Iterator[bytes]:
    buf = bytearray()
    for c in chunks:
        if not buf and len(c) == size:
            yield c
            continue
        buf += c
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)

