"""A readable binary stream over an iterator of byte chunks (gRPC reads, HTTP bodies, layers)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def chunk_stream(chunks: Iterable[bytes]) -> io.BufferedReader:
    """Buffered, so read(n) returns n bytes until the end (tarfile relies on full reads)."""
    return io.BufferedReader(_ChunkReader(iter(chunks)))
