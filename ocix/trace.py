"""`--trace`: one stderr line per gRPC or HTTP call, with its timing, credentials redacted."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

_enabled = False
_stream: TextIO | None = None  # None: whatever sys.stderr is when a line is written
_lock = threading.Lock()
_t0 = time.monotonic()
# Called with (kind, what, status) for every call, traced or not (compare records its calls).
_listeners: list[Callable[[str, str, str], None]] = []


def enable(stream: TextIO | None = None) -> None:
    global _enabled, _stream
    _enabled = True
    _stream = stream


def disable() -> None:
    global _enabled
    _enabled = False


def enabled() -> bool:
    return _enabled


# Query parameters that carry secrets: tokens, and the signatures of pre-signed blob redirects
# (S3 X-Amz-*, GCS X-Goog-*, Azure sig, CloudFront Signature/Key-Pair-Id/Policy).
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:password|token|access_token|refresh_token|secret|sig|signature|policy|"
    r"key-pair-id|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential)=)[^&]*")


def redact_url(url: str) -> str:
    """Drop user:password@ and secret query values from a URL."""
    url = re.sub(r"//[^/@\s]+:[^/@\s]+@", "//***@", url)
    return _SECRET_QUERY.sub(r"\1***", url)


@contextmanager
def listening(fn: Callable[[str, str, str], None]) -> Iterator[None]:
    """Call `fn(kind, what, status)` for each call emitted while the block runs."""
    with _lock:
        _listeners.append(fn)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(fn)


def emit(kind: str, what: str, elapsed: float, status: str, extra: str = "") -> None:
    for fn in list(_listeners):
        fn(kind, what, status)
    if not _enabled:
        return
    at = time.monotonic() - _t0
    line = f"[trace +{at:7.3f}s] {kind:4} {what} -> {status} ({elapsed * 1000:.1f} ms)"
    if extra:
        line += f" {extra}"
    with _lock:
        print(line, file=_stream or sys.stderr, flush=True)
