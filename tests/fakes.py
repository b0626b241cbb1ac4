"""Fakes shared by unit tests (import as `from tests.fakes import FakeRpcError`)."""

from __future__ import annotations

import grpc


class FakeRpcError(grpc.RpcError):
    """What a grpc stub raises: a status code and its details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details
