"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the REAL lab registry.

Tests pull `127.0.0.1:<proxy port>/library/...` (loopback, so plain HTTP) and add rules:

    with FaultProxy(lab.registry) as proxy:
        proxy.add(r"/blobs/", status=503, times=2)          # two 503s, then pass through
        proxy.add(r"/manifests/", body=b"not json")         # replace the body, keep the status
        proxy.add(r"/blobs/sha256:ab", corrupt=True)        # flip one byte, same length
        proxy.add(r"/blobs/", throttle=4 << 20)             # 4 MiB/s per response

The first matching rule that still has `times` left applies; a request no rule matches is
forwarded unchanged.  Every request is recorded (method, path, Range header, status, bytes
sent) so a test can assert what went over the wire.  A request is recorded when its answer
ends, which for a client killed mid-body is when the proxy notices the dead socket: call
`wait_idle()` before clearing `seen`, so that such a late record cannot land afterwards.  The
server runs in daemon threads, every loop is bounded, and `stop()` (or leaving the `with`)
shuts it down.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 << 10
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade", "host"})


@dataclass
class Rule:
    path: str  # regex searched in the request path
    method: str | None = None  # e.g. "GET"; None = any
    status: int | None = None  # answer this status without asking the registry
    body: bytes | None = None  # replace the body (with `status`, or the registry's status)
    headers: dict[str, str] = field(default_factory=dict)  # extra/replaced response headers
    corrupt: bool = False  # flip a byte in the middle of the registry's body
    throttle: int | None = None  # bytes per second for this response's body
    cut_after: int | None = None  # close the connection after this many body bytes
    times: int | None = None  # apply to the first N matching requests only
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    range: str
    status: int
    sent: int  # body bytes sent to the client
    rule: int  # index of the rule applied, -1 for none


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream  # host:port of the real registry (plain HTTP)
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._progress = 0  # body bytes sent in total, updated while streaming
        self._open = 0  # client connections being served

    # -- control --------------------------------------------------------------------------
    @property
    def address(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, path: str, **kw: Any) -> Rule:
        rule = Rule(path, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def requests(self, pattern: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if re.search(pattern, s.path)]

    def bytes_sent(self, pattern: str = "") -> int:
        return sum(s.sent for s in self.requests(pattern))

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no client connection is open, so every request made so far is recorded."""
        deadline = time.monotonic() + timeout
        while self.open_connections:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.open_connections} proxy connection(s) still open "
                                     f"after {timeout:g}s")
            time.sleep(0.02)

    @property
    def progress(self) -> int:
        """Body bytes sent so far, including responses still streaming."""
        return self._progress

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler ----------------------------------------------------------------
    def _pick(self, method: str, path: str) -> tuple[int, Rule | None]:
        with self._lock:
            for i, rule in enumerate(self.rules):
                if rule.matches(method, path):
                    rule.hits += 1
                    return i, rule
        return -1, None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _count_connection(self, delta: int) -> None:
        with self._lock:
            self._open += delta

    def _add_progress(self, n: int) -> None:
        with self._lock:
            self._progress += n


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up (killed, cancelled, cut) is part of the tests


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"  # keep-alive, like the registry; every answer has a length

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        """Serve the connection's requests, counted as open until the client is gone."""
        self.owner._count_connection(1)
        try:
            super().handle()
        finally:
            self.owner._count_connection(-1)

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        index, rule = self.owner._pick(self.command, self.path)
        rng = self.headers.get("Range", "")
        if rule is not None and rule.status is not None:
            body = rule.body if rule.body is not None else b""
            self._answer(rule.status, {"Content-Type": "application/json", **rule.headers}, body)
            self.owner._record(Seen(self.command, self.path, rng, rule.status, len(body), index))
            return
        status, sent = self._forward(rule)
        self.owner._record(Seen(self.command, self.path, rng, status, sent, index))

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, rule: Rule | None) -> tuple[int, int]:
        host, _, port = self.owner.upstream.rpartition(":")
        up = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            fwd["Host"] = self.owner.upstream
            up.request(self.command, self.path, headers=fwd)
            resp = up.getresponse()
            headers = {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP}
            if rule is not None:
                headers.update(rule.headers)
            if rule is not None and rule.body is not None:
                resp.read()
                self._answer(resp.status, headers, rule.body)
                return resp.status, len(rule.body)
            length = resp.getheader("Content-Length")
            if length is None or self.command == "HEAD":
                body = resp.read()
                self._answer(resp.status, headers, body)
                return resp.status, len(body) if self.command != "HEAD" else 0
            return resp.status, self._stream(resp, int(length), headers, rule)
        finally:
            up.close()

    def _stream(self, resp: http.client.HTTPResponse, length: int, headers: dict[str, str],
                rule: Rule | None) -> int:
        self.send_response(resp.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        flip_at = length // 2 if rule is not None and rule.corrupt else -1
        rate = rule.throttle if rule is not None else None
        cut = rule.cut_after if rule is not None else None
        start = time.monotonic()
        sent = 0
        while sent < length:
            chunk = resp.read(min(CHUNK, length - sent))
            if not chunk:
                break
            if cut is not None and sent + len(chunk) > cut:
                chunk = chunk[: max(0, cut - sent)]
            if 0 <= flip_at - sent < len(chunk):
                i = flip_at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            try:
                self.wfile.write(chunk)
            except OSError:  # the client went away (killed, cancelled)
                break
            sent += len(chunk)
            self.owner._add_progress(len(chunk))
            if cut is not None and sent >= cut:
                self.close_connection = True
                break
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(min(ahead, 5.0))
        if sent < length:
            self.close_connection = True
        return sent
