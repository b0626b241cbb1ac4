"""A thin layer over oras-py's Registry: one place for tracing, timeouts and error mapping.

oras's own do_request retries *any* exception five times with growing sleeps (~2 minutes for a
refused connection) and re-sends an already consumed streaming body on its auth retry. This
subclass keeps oras's auth flow (token and basic) but sends each request once, rewinds a
seekable body before the auth retry, and turns failures into ocix errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import oras.provider
import requests

from .. import trace
from ..errors import UnreachableError, from_http

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0  # a registry may hash a 500 MiB blob before it answers the final PUT


class TracedRegistry(oras.provider.Registry):
    """oras.provider.Registry for one registry host, e.g. "127.0.0.1:5000"."""

    def __init__(self, hostname: str, *, insecure: bool = False,
                 tls_verify: bool | str = True) -> None:
        super().__init__(hostname=hostname, insecure=insecure, tls_verify=tls_verify)
        self.hostname: str = hostname
        self._basic_scheme = False  # the registry asked for Basic auth: send it up front
        self.session.hooks["response"].append(_trace_response)

    def url(self, path: str) -> str:
        """Absolute URL for a path such as /v2/library/busybox/manifests/latest."""
        return f"{self.prefix}://{self.hostname}{path}"

    def do_request(
        self,
        url: str,
        method: str = "GET",
        data: Any = None,
        headers: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        headers = dict(headers or {})
        basic = getattr(self.auth, "_basic_auth", None)
        if isinstance(self.auth, oras.auth.TokenAuth) and self.auth.token is not None:
            headers.update(self.auth.get_auth_header())
        elif self._basic_scheme and basic:
            headers["Authorization"] = f"Basic {basic}"
        resp = self._send(method, url, data, headers, json, stream)
        if resp.status_code not in (401, 403):
            return resp
        scheme = resp.headers.get("WWW-Authenticate", "").strip().split(" ", 1)[0].lower()
        if scheme == "basic":
            # oras only knows the bearer flow: it would GET the Basic realm as if it were a URL.
            if not basic or headers.get("Authorization") == f"Basic {basic}":
                return resp  # no (other) credentials to offer: let the caller report the 401
            self._basic_scheme = True
            headers["Authorization"] = f"Basic {basic}"
        else:
            # A refused bearer token was for another scope (pull, not push; another repository)
            # or has expired: oras would offer the same token again, so ask for a fresh one.
            stale = headers.get("Authorization", "").startswith("Bearer ")
            try:
                headers, changed = self.auth.authenticate_request(resp, headers, refresh=stale)
            except (requests.RequestException, ValueError) as e:
                # A realm that is not a URL, an unreachable token server, a non-JSON answer.
                trace.emit("http", f"token for {trace.redact_url(url)}", 0.0, f"failed: {e}")
                return resp
            if not changed:
                return resp  # no credentials to offer: let the caller report the 401
        resp.close()
        _rewind(data)
        return self._send(method, url, data, headers, json, stream)

    def _send(self, method: str, url: str, data: Any, headers: dict[str, str],
              json: dict[str, Any] | None, stream: bool) -> requests.Response:
        start = time.monotonic()
        try:
            return self.session.request(method, url, data=data, json=json, headers=headers,
                                        stream=stream, verify=self._tls_verify,
                                        timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except requests.ConnectionError as e:
            trace.emit("http", f"{method} {trace.redact_url(url)}", time.monotonic() - start,
                       "unreachable")
            reason = _reason(e)
            unknown = "not known" in reason or "name resolution" in reason
            raise UnreachableError(f"cannot reach registry {self.hostname}: {reason}",
                                   hint=None if unknown else "is the registry running?",
                                   kind="registry-host-unknown" if unknown else "unreachable",
                                   retryable=reason not in _FINAL_REASONS) from e
        except requests.Timeout as e:
            trace.emit("http", f"{method} {trace.redact_url(url)}", time.monotonic() - start,
                       "timeout")
            raise UnreachableError(f"registry {self.hostname} did not answer in time "
                                   f"({method} {trace.redact_url(url)})") from e

    def request(self, method: str, path_or_url: str, *, ok: Iterable[int] = (200,),
                what: str = "", **kwargs: Any) -> requests.Response:
        """do_request that raises the mapped ocix error unless the status is in `ok`."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        resp = self.do_request(url, method, **kwargs)
        if resp.status_code not in set(ok):
            raise from_http(resp, what=what)
        return resp


def _trace_response(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
    # A session hook, so oras's own token requests are traced too.
    method = resp.request.method if resp.request is not None else "?"
    trace.emit("http", f"{method} {trace.redact_url(resp.url)}", resp.elapsed.total_seconds(),
               str(resp.status_code))


def _rewind(data: Any) -> None:
    seek = getattr(data, "seek", None)
    if callable(seek):
        seek(0)


# Causes that do not heal within a retry's backoff: fail at once, move to the next mirror.
_FINAL_REASONS = frozenset({"connection refused", "name or service not known", "no route to host",
                            "temporary failure in name resolution"})


def _reason(e: Exception) -> str:
    text = str(e)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Temporary failure in name resolution",
                   "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return text
