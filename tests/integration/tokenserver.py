"""A tiny bearer-token server for registry auth tests, after the distribution token spec.

`GET /token?service=S&scope=repository:NAME:ACTIONS` (scope may repeat) answers
`{"token", "access_token", "expires_in", "issued_at"}` with an RS256 JWT whose header carries
`x5c`: the base64 DER of a self-signed certificate for the signing key. A `docker-registry`
configured with `auth.token.rootcertbundle` = `cert_path` trusts it.

Policy: each user in `users` (Basic auth) gets pull and push on every repository; an anonymous
request gets pull on the repositories in `public` and nothing elsewhere (a token with no access,
as the spec says: the registry then answers 401); wrong credentials get 401 and no token.
What was granted is the intersection of what was asked and what is allowed.

Loopback only, one daemon thread; stop() shuts it down.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenRequest:
    """One request the server answered, for tests to assert on."""

    account: str  # "" for anonymous, the claimed user name for failed logins too
    scopes: tuple[str, ...]
    status: int
    access: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (repository, actions) granted


@dataclass
class TokenServer:
    service: str
    issuer: str
    users: Mapping[str, str]
    public: frozenset[str]
    directory: Path
    ttl: int = 300
    requests: list[TokenRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # every token handed out

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocix test token signer")])
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name)
                .public_key(self._key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(self._key, hashes.SHA256()))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cert_path = self.directory / "token-signer.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def realm(self) -> str:
        return f"http://{self.address}/token"

    def start(self) -> TokenServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="tokenserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    # -- policy and tokens -----------------------------------------------------------------
    def grant(self, account: str, scopes: Iterable[str]) -> list[dict[str, Any]]:
        access: list[dict[str, Any]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if kind != "repository" or not repo:
                continue
            public = repo in self.public
            allowed = {"pull", "push"} if account else ({"pull"} if public else set())
            wanted = [a for a in actions.split(",") if a]
            granted = [a for a in dict.fromkeys(wanted) if a in allowed]
            if granted:
                access.append({"type": "repository", "name": repo, "actions": granted})
        return access

    def token(self, account: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": self.issuer, "sub": account, "aud": self.service,
                  "exp": now + self.ttl, "nbf": now - 1, "iat": now,
                  "jti": secrets.token_hex(16), "access": access}
        signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode())
                                 for part in (header, claims))
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        if parts.path != "/token":
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}
        query = parse_qs(parts.query)
        scopes = tuple(s for value in query.get("scope", []) for s in value.split(" ") if s)
        if query.get("service", [""])[0] != self.service:
            self._log(TokenRequest("", scopes, 400))
            return 400, {"errors": [{"code": "DENIED", "message": "unknown service"}]}
        account = ""
        if authorization:
            user, password = _basic(authorization)
            if user is None or self.users.get(user) != password:
                self._log(TokenRequest(user or "?", scopes, 401))
                return 401, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "invalid username or password"}]}
            account = user
        access = self.grant(account, scopes)
        token = self.token(account, access)
        with self._lock:
            self.issued.append(token)
        self._log(TokenRequest(account, scopes, 200,
                               tuple((a["name"], tuple(a["actions"])) for a in access)))
        issued_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"token": token, "access_token": token, "expires_in": self.ttl,
                     "issued_at": issued_at}

    def _log(self, req: TokenRequest) -> None:
        with self._lock:
            self.requests.append(req)


def _basic(authorization: str) -> tuple[str | None, str]:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return (user, password) if sep else (None, "")


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, body = server.answer(self.path, self.headers.get("Authorization", ""))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", f'Basic realm="{server.service}"')
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
            pass

    return Handler
