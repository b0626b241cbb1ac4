"""The Docker Engine API over its unix socket: plain HTTP/1.1, what `docker` itself sends."""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import urlencode

from .. import trace
from ..errors import NotFoundError, OcixError, UnreachableError

API_VERSION = "v1.41"  # docker 20.10


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class DockerAPI:
    def __init__(self, socket_path: str, timeout: float = 60.0) -> None:
        self.socket_path = socket_path.removeprefix("unix://")
        self.timeout = timeout

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: Any = None, timeout: float | None = None) -> tuple[int, bytes]:
        url = f"/{API_VERSION}{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        conn = _UnixConnection(self.socket_path, timeout or self.timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        start = time.monotonic()
        status = "ERR"
        try:
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            status = str(resp.status)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise UnreachableError(f"cannot reach dockerd at {self.socket_path}: {e.strerror}",
                                   hint="start the lab with `ocix lab up --with-docker`") from e
        except OSError as e:
            raise UnreachableError(f"dockerd at {self.socket_path}: {e}") from e
        finally:
            conn.close()
            trace.emit("http", f"{method} docker:{url}", time.monotonic() - start, status)
        if resp.status >= 400:
            message = _docker_message(payload)
            cls = NotFoundError if resp.status == 404 else OcixError
            raise cls(f"docker {method} {path}: {resp.status} {message}", code=str(resp.status))
        return resp.status, payload

    def get_json(self, path: str, **query: Any) -> Any:
        _, payload = self.request("GET", path, query=query or None)
        return json.loads(payload) if payload else None

    def post_json(self, path: str, body: Any = None, **query: Any) -> Any:
        _, payload = self.request("POST", path, query=query or None, body=body)
        try:
            return json.loads(payload) if payload else None
        except ValueError:
            return payload.decode(errors="replace")


def _docker_message(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("message", "")) or payload.decode(errors="replace")
    except (ValueError, AttributeError):
        return payload.decode(errors="replace").strip()
