"""A readable binary stream over an iterator of byte chunks (gRPC reads, HTTP bodies, layers)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        # An offset into the current chunk: slicing off what was read would copy the rest of
        # a 1 MiB chunk on every small read (tarfile reads 10 KiB at a time).
        while self._pos >= len(self._buf):
            try:
                self._buf = memoryview(next(self._chunks)).cast("B")
            except StopIteration:
                return 0
            self._pos = 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n


def chunk_stream(chunks: Iterable[bytes]) -> io.BufferedReader:
    """Buffered, so read(n) returns n bytes until the end (tarfile relies on full reads)."""
    return io.BufferedReader(_ChunkReader(iter(chunks)))


def prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """`first` (a chunk read ahead, to sniff or to fail early), then the rest."""
    if first:
        yield first
    yield from rest
