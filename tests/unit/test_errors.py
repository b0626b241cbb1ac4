"""gRPC and HTTP failures become OcixError subclasses in one place, keeping the server's text."""

from __future__ import annotations

import grpc
import pytest
import requests

from ocix.cli.hints import hint_for
from ocix.errors import (
    AlreadyExistsError,
    AuthError,
    ConflictError,
    FailedPreconditionError,
    NotFoundError,
    OcixError,
    RegistryError,
    UnreachableError,
    from_grpc,
    from_http,
)
from tests.fakes import FakeRpcError


def test_grpc_codes_map_and_keep_details() -> None:
    e = from_grpc(FakeRpcError(grpc.StatusCode.NOT_FOUND, "image \"x\": not found"), what="image x")
    assert isinstance(e, NotFoundError) and e.message == 'image x: image "x": not found'
    assert e.code == "NOT_FOUND" and e.exit_code == 1
    assert isinstance(from_grpc(FakeRpcError(grpc.StatusCode.ALREADY_EXISTS, "exists")), AlreadyExistsError)
    assert isinstance(from_grpc(FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "x")),
                      FailedPreconditionError)
    busy = from_grpc(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "ref layer-x locked for 1s"))
    assert isinstance(busy, ConflictError)
    assert type(from_grpc(FakeRpcError(grpc.StatusCode.INTERNAL, "boom"))) is OcixError


def test_grpc_connect_failure_is_unreachable_exit_2() -> None:
    e = from_grpc(FakeRpcError(grpc.StatusCode.UNAVAILABLE,
                               "failed to connect to all addresses; last error: UNKNOWN"),
                  address="/run/x.sock")
    assert isinstance(e, UnreachableError) and e.exit_code == 2
    assert e.message.startswith("cannot reach containerd at /run/x.sock: failed to connect")
    hint = hint_for(e)  # the command line's: the library's error names no ocix command
    assert e.hint is None and hint and "ocix lab up" in hint


def _response(status: int, body: bytes, url: str = "http://r/v2/x/manifests/latest") -> requests.Response:
    r = requests.Response()
    r.status_code, r._content, r.url, r.reason = status, body, url, "Reason"
    r.request = requests.Request("GET", url).prepare()
    return r


def test_http_errors_keep_the_registry_error_body() -> None:
    e = from_http(_response(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'),
                  what="resolve x")
    assert isinstance(e, RegistryError) and e.status == 404
    assert e.message == "resolve x: GET http://r/v2/x/manifests/latest: 404 MANIFEST_UNKNOWN manifest unknown"
    auth = from_http(_response(401, b"", url="http://user:secret@r/v2/"))
    assert isinstance(auth, AuthError) and "secret" not in auth.message
    assert auth.hint == "log in with `docker login` or pass --user USER:PASSWORD"


def test_trace_redacts_credentials_and_signed_urls() -> None:
    from ocix.trace import redact_url

    assert redact_url("https://u:p@r.io/v2/") == "https://***@r.io/v2/"
    assert redact_url("https://s3/x?X-Amz-Credential=AK%2F1&X-Amz-Signature=abc&keep=1") == \
        "https://s3/x?X-Amz-Credential=***&X-Amz-Signature=***&keep=1"
    assert redact_url("https://blob/x?sv=1&sig=SECRET") == "https://blob/x?sv=1&sig=***"
    assert redact_url("https://auth/token?service=s&access_token=t") == \
        "https://auth/token?service=s&access_token=***"


def test_trace_lines_go_to_the_current_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from ocix import trace

    trace.enable()
    try:
        trace.emit("grpc", "containerd.version.Version", 0.0012, "OK")
    finally:
        trace.disable()
    err = capsys.readouterr().err
    assert "grpc containerd.version.Version -> OK (1.2 ms)" in err


def test_containerd_unavailable_for_a_locked_ref_is_a_conflict_not_unreachable() -> None:
    e = from_grpc(FakeRpcError(grpc.StatusCode.UNAVAILABLE,
                               "ref default/1/layer-sha256:ab locked for 1.2s (since ...): unavailable"))
    assert isinstance(e, ConflictError) and e.exit_code == 1
