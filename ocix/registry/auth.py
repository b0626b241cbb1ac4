"""Registry credentials: --user, then ~/.docker/config.json (auths, like docker login writes)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password, not even in a traceback
        return f"Credentials(username={self.username!r}, password='***')"


def parse_user(value: str) -> Credentials:
    """--user USER[:PASSWORD]; a missing password is read from OCIX_PASSWORD."""
    user, sep, password = value.partition(":")
    if not user:
        raise UsageError("--user needs USER[:PASSWORD]")
    if not sep:
        password = os.environ.get("OCIX_PASSWORD", "")
    return Credentials(user, password)


def _config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _keys(host: str) -> list[str]:
    if host == "docker.io":
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [host, f"https://{host}", f"http://{host}"]


def credentials_for(host: str) -> Credentials | None:
    """Static credentials from docker's config.json; credential helpers are not run."""
    try:
        data = json.loads(_config_path().read_text())
    except (OSError, ValueError):
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    for key in _keys(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None
