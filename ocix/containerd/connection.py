"""The gRPC connection to containerd: channel, namespace and lease headers, error mapping.

Every gRPC call ocix makes goes through this class, so errors and `--trace` lines are handled in
one place: `call` (any unary stub on this channel; the CRI client uses it directly),
`unary` (a containerd service, with its headers), `unary_future` (Tasks.Wait sent before
Start), `server_stream` and `bidi_stream` (Content.Read and Content.Write).  The headers are
described in docs/containerd-protocol.md, "Metadata".
"""

from __future__ import annotations

import importlib
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import trace
from ..errors import OcixError, UnreachableError, from_grpc
from ..startup import resume_gc
from .defaults import DEFAULT_ADDRESS as DEFAULT_ADDRESS
from .defaults import DEFAULT_NAMESPACE as DEFAULT_NAMESPACE

MAX_MESSAGE = 16 << 20  # containerd's defaults.DefaultMaxRecvMsgSize

# service key -> (generated stub module under ocix._api.containerd, stub class)
_SERVICES: dict[str, tuple[str, str]] = {
    "version": ("services.version.v1.version_pb2_grpc", "VersionStub"),
    "introspection": ("services.introspection.v1.introspection_pb2_grpc", "IntrospectionStub"),
    "namespaces": ("services.namespaces.v1.namespace_pb2_grpc", "NamespacesStub"),
    "images": ("services.images.v1.images_pb2_grpc", "ImagesStub"),
    "content": ("services.content.v1.content_pb2_grpc", "ContentStub"),
    "snapshots": ("services.snapshots.v1.snapshots_pb2_grpc", "SnapshotsStub"),
    "diff": ("services.diff.v1.diff_pb2_grpc", "DiffStub"),
    "leases": ("services.leases.v1.leases_pb2_grpc", "LeasesStub"),
    "containers": ("services.containers.v1.containers_pb2_grpc", "ContainersStub"),
    "tasks": ("services.tasks.v1.tasks_pb2_grpc", "TasksStub"),
    "events": ("services.events.v1.events_pb2_grpc", "EventsStub"),
}


def socket_path(address: str) -> str:
    return address[len("unix://"):] if address.startswith("unix://") else address


def load_stub_module(rel: str) -> Any:
    try:
        return importlib.import_module("ocix._api.containerd." + rel)
    except ImportError as e:
        raise OcixError(f"the generated containerd stubs are missing ({e.name})",
                        hint="run `make stubs` (or `make setup`) in the ocix checkout") from e


@dataclass
class Connection:
    """A containerd client connection bound to one namespace."""

    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    timeout: float | None = 30.0
    peer: str = "containerd"  # the server, as messages name it
    _channel: Any = field(default=None, repr=False)
    _stubs: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, address: str | None = None, namespace: str | None = None) -> Connection:
        return cls(address=address or os.environ.get("CONTAINERD_ADDRESS") or DEFAULT_ADDRESS,
                   namespace=namespace or os.environ.get("CONTAINERD_NAMESPACE") or DEFAULT_NAMESPACE)

    # -- channel -------------------------------------------------------------------------
    def channel(self) -> Any:
        if self._channel is None:
            path = socket_path(self.address)
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                raise UnreachableError(f"{self.peer} socket {path} does not exist",
                                       subject=self.peer) from None
            except PermissionError:
                raise UnreachableError(f"{self.peer} socket {path} is not accessible (permission denied)",
                                       hint="run ocix as root") from None
            if not stat.S_ISSOCK(mode):
                raise UnreachableError(f"{path} is not a unix socket", subject=self.peer)
            import grpc

            resume_gc()
            self._channel = grpc.insecure_channel(
                "unix://" + path,
                options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                         ("grpc.max_send_message_length", MAX_MESSAGE),
                         ("grpc.enable_http_proxy", 0),
                         # A fixed receive window: with BDP probing, a long Content.Read
                         # buffers up to ~50 MiB ahead of the reader (docs/layers.md).
                         ("grpc.http2.bdp_probe", 0)])
        return self._channel

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
            self._stubs.clear()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def in_namespace(self, namespace: str) -> Connection:
        """The same channel, other namespace header."""
        other = Connection(self.address, namespace, self.timeout)
        other._channel = self.channel()
        other._stubs = self._stubs
        return other

    def _stub(self, service: str) -> Any:
        if service not in self._stubs:
            rel, cls = _SERVICES[service]
            self._stubs[service] = getattr(load_stub_module(rel), cls)(self.channel())
        return self._stubs[service]

    def _metadata(self, lease: str | None = None, namespace: str | None = None) -> list[tuple[str, str]]:
        md = [("containerd-namespace", namespace or self.namespace)]
        if lease:
            md.append(("containerd-lease", lease))
        return md

    # -- calls ---------------------------------------------------------------------------
    def unary(self, service: str, method: str, request: Any, *, lease: str | None = None,
              timeout: float | None = -1.0, what: str = "", namespace: str | None = None) -> Any:
        """One unary call to a containerd service, with the namespace (and lease) headers."""
        return self.call(self._stub(service), method, request,
                         label=f"containerd.{service}.{method}",
                         metadata=self._metadata(lease, namespace), timeout=timeout, what=what,
                         extra=f"ns={namespace or self.namespace}" + (f" lease={lease}" if lease else ""))

    def call(self, stub: Any, method: str, request: Any, *, label: str,
             metadata: list[tuple[str, str]] | None = None, timeout: float | None = -1.0,
             what: str = "", extra: str = "") -> Any:
        """One unary call on any stub bound to this channel, e.g. CRI's, which sends no
        namespace header: errors mapped and the --trace line written as `unary` does."""
        start = time.monotonic()
        status = "OK"
        try:
            return getattr(stub, method)(request, metadata=metadata,
                                         timeout=self.timeout if timeout == -1.0 else timeout)
        except Exception as e:
            status = _status_name(e)
            raise self.convert(e, what) from e
        finally:
            trace.emit("grpc", label, time.monotonic() - start, status, extra)

    def server_stream(self, service: str, method: str, request: Any, *, lease: str | None = None,
                      timeout: float | None = None, what: str = "",
                      namespace: str | None = None) -> Iterator[Any]:
        fn = getattr(self._stub(service), method)
        label = f"containerd.{service}.{method}"
        start = time.monotonic()
        status, n = "OK", 0
        try:
            for item in fn(request, metadata=self._metadata(lease, namespace), timeout=timeout):
                n += 1
                yield item
        except Exception as e:
            status = _status_name(e)
            raise self.convert(e, what) from e
        finally:
            trace.emit("grpc", label, time.monotonic() - start, status, f"stream messages={n}")

    def unary_future(self, service: str, method: str, request: Any, *, lease: str | None = None,
                     timeout: float | None = None, what: str = "",
                     namespace: str | None = None) -> CallFuture:
        """Send a unary call without waiting for its answer (e.g. Tasks.Wait before Tasks.Start)."""
        fn = getattr(self._stub(service), method)
        ns = namespace or self.namespace
        future = fn.future(request, metadata=self._metadata(lease, ns), timeout=timeout)
        return CallFuture(self, future, f"containerd.{service}.{method}", what,
                          f"ns={ns}" + (f" lease={lease}" if lease else ""))

    def bidi_stream(self, service: str, method: str, requests: Iterable[Any], *,
                    lease: str | None = None, timeout: float | None = None,
                    what: str = "") -> BidiCall:
        """Open a bidirectional stream: iterating it yields the answers (errors mapped);
        cancel() ends it and emits its trace line."""
        fn = getattr(self._stub(service), method)
        call = fn(iter(requests), metadata=self._metadata(lease), timeout=timeout)
        return BidiCall(self, call, f"containerd.{service}.{method}", what,
                        f"ns={self.namespace}" + (f" lease={lease}" if lease else ""))

    def convert(self, exc: Exception, what: str = "") -> Exception:
        """The OcixError for a grpc error (other exceptions pass through)."""
        if isinstance(exc, OcixError):
            return exc
        import grpc

        if isinstance(exc, grpc.RpcError):
            return from_grpc(exc, peer=self.peer, address=socket_path(self.address), what=what)
        return exc


class _TracedCall:
    """A call in flight that emits its one trace line when it ends, however it ends."""

    def __init__(self, conn: Connection, call: Any, label: str, what: str, detail: str) -> None:
        self._conn = conn
        self._call = call
        self._label = label
        self._what = what
        self._detail = detail
        self._start = time.monotonic()
        self._traced = False

    def _trace(self, status: str, detail: str) -> None:
        if not self._traced:
            self._traced = True
            trace.emit("grpc", self._label, time.monotonic() - self._start, status, detail)


class BidiCall(_TracedCall):
    """A bidirectional stream: answers with errors mapped, one trace line when it ends."""

    def __init__(self, conn: Connection, call: Any, label: str, what: str, detail: str) -> None:
        super().__init__(conn, call, label, what, detail)
        self._answers = 0
        self._status = "OK"

    def __iter__(self) -> BidiCall:
        return self

    def __next__(self) -> Any:
        try:
            answer = next(self._call)
        except StopIteration:
            raise
        except Exception as e:
            self._status = _status_name(e)
            raise self._conn.convert(e, self._what) from e
        self._answers += 1
        return answer

    def cancel(self, note: str = "") -> None:
        """End the stream; `note` goes on the trace line (e.g. bytes sent)."""
        self._call.cancel()
        self._trace(self._status, " ".join(x for x in (self._what, note, f"answers={self._answers}",
                                                       self._detail) if x))


class CallFuture(_TracedCall):
    """A unary call in flight: result() maps its error and emits its trace line, once."""

    def done(self) -> bool:
        return bool(self._call.done())

    def result(self, timeout: float | None = None) -> Any:
        """The answer; TimeoutError if it has not come within `timeout` (the call goes on)."""
        import grpc

        try:
            answer = self._call.result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise TimeoutError(self._what or self._label) from None
        except Exception as e:
            self._trace(_status_name(e), self._detail)
            raise self._conn.convert(e, self._what) from e
        self._trace("OK", self._detail)
        return answer

    def cancel(self) -> None:
        if self._call.cancel():
            self._trace("CANCELLED", self._detail)


def _status_name(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if callable(code):
        try:
            return str(getattr(code(), "name", "ERROR"))
        except Exception:
            return "ERROR"
    return type(exc).__name__
