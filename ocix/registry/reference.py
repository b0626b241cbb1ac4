"""Image references, normalized the way docker and containerd do (docker/reference "normalize")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError
from ..oci.digest import digest_problem

DOCKER_HUB = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_HOST_RE = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The full normalized name containerd stores, e.g. docker.io/library/alpine:3.18."""
        out = f"{self.host}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def object(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag

    def familiar(self) -> str:
        """docker's short form: alpine:3.18 for docker.io/library/alpine:3.18."""
        repo = self.repository
        if self.host == DOCKER_HUB:
            repo = repo.removeprefix("library/")
            base = repo
        else:
            base = f"{self.host}/{repo}"
        return base + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def _looks_like_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost" or part.startswith("[")


def parse(ref: str) -> Reference:
    """Normalize `alpine:3.18` to docker.io/library/alpine:3.18; digests are kept and checked."""
    text = ref.strip()
    if not text:
        raise UsageError("empty image reference")
    if any(c.isspace() for c in text) or "://" in text:
        raise UsageError(f"invalid reference {ref!r}: no scheme or spaces allowed",
                         hint="write it like alpine:3.18 or registry.example.com/team/app@sha256:…")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
        problem = digest_problem(digest)
        if problem:
            raise UsageError(f"invalid reference {ref!r}: {problem}")
    first, _, rest = text.partition("/")
    if rest and _looks_like_host(first):
        host, remainder = first, rest
    else:
        host, remainder = DOCKER_HUB, text
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    if not _HOST_RE.match(host):
        raise UsageError(f"invalid reference {ref!r}: bad registry host {host!r}")
    tag = ""
    slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG_RE.match(tag):
            raise UsageError(f"invalid reference {ref!r}: bad tag {tag!r}")
    if host == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    if not _PATH_RE.match(remainder):
        hint = "repository names are lowercase" if remainder.lower() != remainder else None
        raise UsageError(f"invalid reference {ref!r}: bad repository name {remainder!r}", hint=hint)
    if not tag and not digest:
        tag = "latest"
    return Reference(host=host, repository=remainder, tag=tag, digest=digest)
