"""`--trace`: one stderr line per gRPC or HTTP call, with its timing, credentials redacted."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_enabled = False
_stream: TextIO | None = None  # None: whatever sys.stderr is when a line is written
_lock = threading.Lock()
_t0 = time.monotonic()

_SECRET_KEYS = re.compile(r"(?i)(authorization|password|token|access_token|refresh_token|secret)")


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


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if _SECRET_KEYS.search(k) else v) for k, v in headers.items()}


def emit(kind: str, what: str, elapsed: float, status: str, extra: str = "") -> None:
    if not _enabled:
        return
    at = time.monotonic() - _t0
    line = f"[trace +{at:7.3f}s] {kind:4} {what} -> {status} ({elapsed * 1000:.1f} ms)"
    if extra:
        line += f" {extra}"
    with _lock:
        print(line, file=_stream or sys.stderr, flush=True)


@contextmanager
def span(kind: str, what: str) -> Iterator[dict[str, str]]:
    """Time a call; the body may set result['status'] and result['extra']."""
    result: dict[str, str] = {"status": "OK", "extra": ""}
    start = time.monotonic()
    try:
        yield result
    except BaseException as e:
        if result["status"] == "OK":
            result["status"] = type(e).__name__
        raise
    finally:
        emit(kind, what, time.monotonic() - start, result["status"], result["extra"])
