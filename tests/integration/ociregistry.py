"""A tiny registry for tests: the distribution-spec v1.1 pull and push API and the referrers
endpoint, served from (and written into) an OCI image layout by a threaded http.server on
127.0.0.1.  A manifest pushed with a subject is answered with OCI-Subject.

It is written from the spec, independently of ocix's client: referrers are found by scanning
the layout's blobs for manifests whose `subject` names the digest.  `hostile` switches on one
misbehaviour at a time: "endless-catalog", "offhost-link", "huge-referrers", "bad-blob",
"missing-referrer" (the referrers list names a manifest the registry does not have).
Every request is recorded in `requests` ("METHOD path?query").
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class Served:
    host: str
    layout: Path
    requests: list[str] = field(default_factory=list)
    hostile: str = ""
    apply_filter: bool = True
    bad_digest: str = ""  # with hostile="bad-blob": this blob is served with one byte flipped


def _blob(layout: Path, digest: str) -> Path | None:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        return None
    path = layout / "blobs" / "sha256" / hexpart
    return path if path.is_file() else None


def _referrers(layout: Path, digest: str) -> list[dict[str, object]]:
    out = []
    for path in sorted((layout / "blobs" / "sha256").iterdir()):
        data = path.read_bytes()
        if len(data) > 1 << 20 or not data.startswith(b"{"):
            continue
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        sub = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(sub, dict) or sub.get("digest") != digest:
            continue
        entry: dict[str, object] = {"mediaType": doc.get("mediaType"),
                                    "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                                    "size": len(data)}
        at = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
        if at:
            entry["artifactType"] = at
        if doc.get("annotations"):
            entry["annotations"] = doc["annotations"]
        out.append(entry)
    return out


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, doc: object, headers: dict[str, str] | None = None,
                  ctype: str = "application/json") -> None:
            self._send(200, json.dumps(doc).encode(), {"Content-Type": ctype, **(headers or {})})

        def _missing(self) -> None:
            self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}',
                       {"Content-Type": "application/json"})

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(f"{self.command} {self.path}")
            query = parse_qs(url.query)
            parts = url.path.split("/")
            if url.path == "/v2/":
                return self._json({})
            if url.path == "/v2/_catalog":
                return self._catalog(query)
            if len(parts) < 5 or parts[1] != "v2":
                return self._missing()
            kind, ref = parts[-2], parts[-1]
            if kind == "manifests":
                return self._manifest(ref)
            if kind == "blobs":
                return self._blob(ref)
            if kind == "referrers":
                return self._referrers(ref, query)
            if kind == "tags" and ref == "list":
                return self._json({"name": "/".join(parts[2:-2]), "tags": self._tags()})
            return self._missing()

        def _catalog(self, query: dict[str, list[str]]) -> None:
            last = int((query.get("last") or ["0"])[0].removeprefix("r") or 0)
            names = [f"r{last + i + 1:09d}" for i in range(2)]
            link = f"</v2/_catalog?n=2&last={names[-1]}>; rel=\"next\""
            if state.hostile == "offhost-link":
                link = f"<http://other.invalid:1/v2/_catalog?n=2&last={names[-1]}>; rel=\"next\""
            elif state.hostile != "endless-catalog" and last >= 2:
                return self._json({"repositories": names})
            self._json({"repositories": names}, {"Link": link})

        def _tags(self) -> list[str]:
            doc = json.loads((state.layout / "index.json").read_text())
            return sorted({m["annotations"][REF_NAME].rsplit(":", 1)[-1]
                           for m in doc["manifests"] if REF_NAME in (m.get("annotations") or {})})

        def _manifest(self, ref: str) -> None:
            digest = ref
            if ":" not in ref:
                doc = json.loads((state.layout / "index.json").read_text())
                found = [m for m in doc["manifests"]
                         if (m.get("annotations") or {}).get(REF_NAME, "").rsplit(":", 1)[-1] == ref]
                if not found:
                    return self._missing()
                digest = found[0]["digest"]
            path = _blob(state.layout, digest)
            if path is None:
                return self._missing()
            data = path.read_bytes()
            media = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            self._send(200, data, {"Content-Type": media, "Docker-Content-Digest": digest})

        def _blob(self, digest: str) -> None:
            path = _blob(state.layout, digest)
            if path is None:
                return self._missing()
            data = path.read_bytes()
            if state.hostile == "bad-blob" and digest == state.bad_digest:
                data = bytes([data[0] ^ 1]) + data[1:]
            self._send(200, data, {"Content-Type": "application/octet-stream"})

        def _referrers(self, digest: str, query: dict[str, list[str]]) -> None:
            if state.hostile == "huge-referrers":
                entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": digest, "size": 1}
                return self._json({"schemaVersion": 2, "mediaType": INDEX,
                                   "manifests": [entry] * 100_000}, ctype=INDEX)
            entries = _referrers(state.layout, digest)
            if state.hostile == "missing-referrer":
                entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": "sha256:" + "0" * 64, "size": 10,
                                "artifactType": "application/spdx+json"})
            headers = {}
            wanted = (query.get("artifactType") or [""])[0]
            if wanted and state.apply_filter:
                entries = [e for e in entries if e.get("artifactType") == wanted]
                headers["OCI-Filters-Applied"] = "artifactType"
            self._json({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}, headers,
                       ctype=INDEX)

        # -- push (POST + PUT blobs, PUT manifests), answering OCI-Subject like a v1.1 registry
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            self._body()
            url = urlsplit(self.path)
            if not url.path.endswith("/blobs/uploads/"):
                return self._missing()
            self._send(202, b"", {"Location": url.path + f"u{len(state.requests)}"})

        def do_PUT(self) -> None:
            state.requests.append(f"PUT {self.path}")
            url = urlsplit(self.path)
            data = self._body()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            parts = url.path.split("/")
            if "/blobs/uploads/" in url.path:
                if (parse_qs(url.query).get("digest") or [""])[0] != digest:
                    return self._send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                (state.layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
                return self._send(201, b"", {"Docker-Content-Digest": digest})
            if parts[-2] != "manifests":
                return self._missing()
            (state.layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
            doc = json.loads(data)
            ref = parts[-1]
            if ":" not in ref:
                index = json.loads((state.layout / "index.json").read_text())
                name = "/".join(parts[2:-2]) + ":" + ref
                index["manifests"] = [m for m in index["manifests"]
                                      if (m.get("annotations") or {}).get(REF_NAME) != name]
                index["manifests"].append({"mediaType": doc.get("mediaType"), "digest": digest,
                                           "size": len(data), "annotations": {REF_NAME: name}})
                (state.layout / "index.json").write_text(json.dumps(index))
            headers = {"Docker-Content-Digest": digest}
            if isinstance(doc.get("subject"), dict):
                headers["OCI-Subject"] = doc["subject"]["digest"]
            self._send(201, b"", headers)

    return Handler


@contextmanager
def serve(layout: Path, *, hostile: str = "") -> Iterator[Served]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Served("", layout)))
    state = Served(f"127.0.0.1:{server.server_address[1]}", layout, hostile=hostile)
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, name="ociregistry", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
