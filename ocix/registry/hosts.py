"""Registry hosts configuration, read the way containerd reads a hosts dir (certs.d format).

DIR/<host>/hosts.toml holds `server` and `[host."URL"]` entries with `capabilities`, `ca`,
`skip_verify` and `override_path`.  Mirrors are tried in order, then the server.  Without a
file, the registry itself is used: HTTPS, or plain HTTP for loopback or with --plain-http.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UsageError

DEFAULT_HOSTS_DIR = "/etc/containerd/certs.d"
ALL_CAPS = ("pull", "resolve", "push")


@dataclass(frozen=True)
class Endpoint:
    """One place to talk to: the API root (…/v2) and what it may be used for."""

    scheme: str
    netloc: str
    path: str = "/v2"
    capabilities: tuple[str, ...] = ALL_CAPS
    skip_verify: bool = False
    ca: tuple[str, ...] = ()
    mirror: bool = False

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass(frozen=True)
class HostsConfig:
    host: str
    endpoints: list[Endpoint] = field(default_factory=list)
    source: str = ""  # the hosts.toml read, if any


def is_loopback(host: str) -> bool:
    """host[:port] names this machine (localhost, 127.0.0.0/8, [::1])."""
    if host.startswith("["):
        name = host[1:host.index("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if ":" in host else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_server(host: str) -> str:
    return "registry-1.docker.io" if host == "docker.io" else host


def hosts_dir_from_env(explicit: str | None) -> str:
    return explicit or os.environ.get("OCIX_HOSTS_DIR") or DEFAULT_HOSTS_DIR


def _endpoint(url: str, caps: list[str] | None, skip_verify: bool, ca: object, override_path: bool,
              mirror: bool, source: str) -> Endpoint:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{source}: {url!r} is not an http(s) URL")
    path = parts.path.rstrip("/")
    if not override_path:
        path = path if path.endswith("/v2") else f"{path}/v2"
    if isinstance(ca, str):
        cas: tuple[str, ...] = (ca,)
    elif isinstance(ca, list):
        cas = tuple(str(c) for c in ca)
    else:
        cas = ()
    capabilities = tuple(caps) if caps is not None else ALL_CAPS
    return Endpoint(parts.scheme, parts.netloc, path, capabilities, bool(skip_verify), cas, mirror)


def load(host: str, hosts_dir: str | None = None, *, plain_http: bool = False) -> HostsConfig:
    """The endpoints for `host`, in the order to try them."""
    directory = Path(hosts_dir_from_env(hosts_dir))
    scheme = "http" if plain_http or is_loopback(host) else "https"
    fallback = Endpoint(scheme, default_server(host))
    candidates = [directory / host / "hosts.toml", directory / "_default" / "hosts.toml"]
    for path in candidates:
        try:
            text = path.read_text()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            raise UsageError(f"cannot read {path}: permission denied") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UsageError(f"{path}: invalid TOML: {e}") from None
        endpoints = []
        for url, opts in (data.get("host") or {}).items():
            if not isinstance(opts, dict):
                raise UsageError(f"{path}: [host.{url!r}] must be a table")
            endpoints.append(_endpoint(url, opts.get("capabilities"), opts.get("skip_verify", False),
                                       opts.get("ca"), opts.get("override_path", False), True, str(path)))
        server = data.get("server")
        if server:
            endpoints.append(_endpoint(server, data.get("capabilities"), data.get("skip_verify", False),
                                       data.get("ca"), data.get("override_path", False), False, str(path)))
        elif path.parent.name != "_default":
            endpoints.append(fallback)
        seen: set[str] = set()
        unique = [e for e in endpoints if not (e.base in seen or seen.add(e.base))]  # type: ignore[func-returns-value]
        return HostsConfig(host, unique or [fallback], str(path))
    return HostsConfig(host, [fallback])
