"""What a lab layer is made of: content sources and tar entries (files, dirs, links, whiteouts).

Plain descriptions with a stable fingerprint each, so the builder can cache a layer by what it
says rather than by the bytes it makes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 1 << 20


# --------------------------------------------------------------------------- content sources

class Content(Protocol):
    @property
    def size(self) -> int: ...

    def chunks(self) -> Iterator[bytes]: ...

    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class Data:
    """Literal bytes."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self) -> Iterator[bytes]:
        yield self.data

    def fingerprint(self) -> str:
        return "data:" + hashlib.sha256(self.data).hexdigest()


_host_hashes: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class HostFile:
    """A file copied from this machine (read when the layer is written)."""

    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def fingerprint(self) -> str:
        # By content, not mtime: a reinstalled identical binary must keep its digests.
        st = self.path.stat()
        key = (str(self.path), st.st_size, st.st_mtime_ns)
        if key not in _host_hashes:
            h = hashlib.sha256()
            for chunk in self.chunks():
                h.update(chunk)
            _host_hashes[key] = h.hexdigest()
        return "host:" + _host_hashes[key]


@dataclass(frozen=True)
class RandomBytes:
    """`size` incompressible bytes from random.Random(seed): reproducible, never in memory at once."""

    seed: int
    length: int

    @property
    def size(self) -> int:
        return self.length

    def chunks(self) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        left = self.length
        while left > 0:
            n = min(CHUNK, left)
            yield rng.randbytes(n)
            left -= n

    def fingerprint(self) -> str:
        return f"random:{self.seed}:{self.length}"


# --------------------------------------------------------------------------- layer entries

@dataclass(frozen=True)
class File:
    path: str
    content: Content
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str


@dataclass(frozen=True)
class Hardlink:
    """A hard link to `target`, a regular file of the same layer."""

    path: str
    target: str


@dataclass(frozen=True)
class Whiteout:
    """Deletes `path` (file or whole dir) of the lower layers: written as `dir/.wh.name`."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """Hides everything lower layers put in dir `path`: written as `path/.wh..wh..opq`."""

    path: str
    mode: int = 0o755


Entry = File | Dir | Symlink | Hardlink | Whiteout | Opaque
