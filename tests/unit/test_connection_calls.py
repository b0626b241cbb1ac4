"""Tasks.Wait (a future) and Content.Write (a bidi stream) map errors and trace like unary calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from ocix import trace
from ocix.containerd import tasks
from ocix.containerd.connection import Connection
from ocix.errors import ConflictError, NotFoundError
from tests.fakes import FakeRpcError


class FakeFuture:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.cancelled = False

    def done(self) -> bool:
        return self.outcome is not None

    def result(self, timeout: float | None = None) -> Any:
        if self.outcome is None:
            raise grpc.FutureTimeoutError()
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class FakeMethod:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.metadata: Any = None

    def future(self, request: Any, metadata: Any, timeout: float | None) -> FakeFuture:
        self.metadata = metadata
        return FakeFuture(self.outcome)


class WaitAnswer:
    exit_status = 7


def _conn(service: str, **methods: Any) -> Connection:
    conn = Connection("/nonexistent.sock", "ns1")
    conn._stubs[service] = type("FakeStub", (), methods)()
    return conn


@pytest.fixture
def traced(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    trace.enable()
    yield capsys
    trace.disable()


def test_wait_handle_answers_through_the_connection(traced: pytest.CaptureFixture[str]) -> None:
    method = FakeMethod(WaitAnswer())
    h = tasks.wait_async(_conn("tasks", Wait=method), "c1")
    assert method.metadata == [("containerd-namespace", "ns1")]
    assert h.done() and h.result().exit_status == 7
    err = traced.readouterr().err
    assert "grpc containerd.tasks.Wait -> OK" in err and err.count("\n") == 1


def test_wait_handle_maps_grpc_errors(traced: pytest.CaptureFixture[str]) -> None:
    h = tasks.wait_async(_conn("tasks", Wait=FakeMethod(
        FakeRpcError(grpc.StatusCode.NOT_FOUND, "task c1 not found"))), "c1")
    with pytest.raises(NotFoundError) as e:
        h.result()
    assert e.value.message == "wait for task c1: task c1 not found"
    assert "grpc containerd.tasks.Wait -> NOT_FOUND" in traced.readouterr().err


def test_wait_handle_timeout_is_timeouterror_and_cancel_traces_once(
        traced: pytest.CaptureFixture[str]) -> None:
    method = FakeMethod(None)  # never answers
    h = tasks.wait_async(_conn("tasks", Wait=method), "c1")
    with pytest.raises(TimeoutError):
        h.result(timeout=0.01)
    assert not h.done()
    h.cancel()
    h.cancel()
    assert traced.readouterr().err.count("grpc containerd.tasks.Wait -> CANCELLED") == 1


class FakeStream:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = iter(answers)
        self.cancelled = 0

    def __iter__(self) -> FakeStream:
        return self

    def __next__(self) -> Any:
        a = next(self.answers)
        if isinstance(a, Exception):
            raise a
        return a

    def cancel(self) -> None:
        self.cancelled += 1


def test_bidi_stream_maps_errors_and_traces_when_it_ends(
        traced: pytest.CaptureFixture[str]) -> None:
    stream = FakeStream(["first", FakeRpcError(grpc.StatusCode.UNAVAILABLE,
                                               "ref ns1/1/layer-sha256:ab locked: unavailable")])
    conn = _conn("content", Write=staticmethod(lambda requests, metadata, timeout: stream))
    call = conn.bidi_stream("content", "Write", [], lease="l1", what="write layer-sha256:ab")
    assert next(call) == "first"
    with pytest.raises(ConflictError) as e:
        next(call)
    assert e.value.message.startswith("write layer-sha256:ab: ref ns1/1/layer-sha256:ab locked")
    call.cancel("sent=3")
    call.cancel()
    assert stream.cancelled == 2
    err = traced.readouterr().err
    assert err.count("grpc containerd.content.Write -> UNAVAILABLE") == 1
    assert "write layer-sha256:ab sent=3 answers=1 ns=ns1 lease=l1" in err
