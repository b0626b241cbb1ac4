"""The one exception tree of ocix, and the one place gRPC and HTTP failures become it.

Every error carries the server's own message (never swallowed), an optional hint for the
user, and the exit code the CLI should use: 1 for a failed check or command, 2 for bad usage
or a daemon that cannot be reached.  A hint here speaks only of the library's own protocol;
one that names an `ocix` command is chosen by the command line (cli/hints.py) from the
error's class, `kind` and `subject`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc
    import requests


class OcixError(Exception):
    """Root of every error ocix raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None,
                 kind: str | None = None, subject: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code  # gRPC status name or HTTP status, when there is one
        self.kind = kind  # what went wrong, e.g. "unreachable", "lab-down" (cli/hints.py)
        self.subject = subject  # what it is about: the peer, an image name ...

    def __str__(self) -> str:
        return self.message


class UsageError(OcixError):
    exit_code = 2


class UnreachableError(OcixError):
    """A daemon or registry cannot be reached at all.

    `retryable` is False where waiting cannot help (refused connection, unknown host)."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None,
                 kind: str | None = "unreachable", subject: str | None = None,
                 retryable: bool = True) -> None:
        super().__init__(message, hint=hint, code=code, kind=kind, subject=subject)
        self.retryable = retryable


class NotFoundError(OcixError):
    pass


class AlreadyExistsError(OcixError):
    pass


class FailedPreconditionError(OcixError):
    pass


class ConflictError(OcixError):
    """Another client holds the resource (a content ref being written, a lease ...)."""


class InvalidArgumentError(OcixError):
    pass


class DigestMismatchError(OcixError):
    pass


class RegistryError(OcixError):
    """An HTTP failure from a registry, with its status and its error body."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "",
                 hint: str | None = None, kind: str | None = None) -> None:
        super().__init__(message, hint=hint, code=str(status) if status else None, kind=kind)
        self.status = status
        self.body = body


class AuthError(RegistryError):
    pass


# gRPC status name -> exception class.  One table, like python-etcd3's, but keeping details().
_GRPC_CLASSES: dict[str, type[OcixError]] = {
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "FAILED_PRECONDITION": FailedPreconditionError,
    "INVALID_ARGUMENT": InvalidArgumentError,
    # Transport failures are caught before the table; containerd's own UNAVAILABLE means a
    # resource another client holds ("ref ... locked"): retryable, not a dead daemon.
    "UNAVAILABLE": ConflictError,
    "ABORTED": ConflictError,
    "OUT_OF_RANGE": ConflictError,
}


def from_grpc(err: grpc.RpcError, *, peer: str = "containerd", address: str = "",
              what: str = "") -> OcixError:
    """Convert a gRPC error into the matching OcixError, keeping the server's message.

    `peer` names the server in messages ("containerd", "the CRI runtime")."""
    code = err.code() if hasattr(err, "code") else None
    name = getattr(code, "name", "UNKNOWN")
    details = (err.details() if hasattr(err, "details") else None) or str(err)
    prefix = f"{what}: " if what else ""
    if name == "UNAVAILABLE" and _looks_like_connect_failure(details):
        return UnreachableError(f"cannot reach {peer} at {address or 'its socket'}: {details}",
                                subject=peer, code=name)
    if name == "DEADLINE_EXCEEDED":
        return UnreachableError(f"{prefix}{peer} did not answer in time ({details})",
                                hint="is the daemon overloaded or stopped?", subject=peer,
                                code=name)
    return _GRPC_CLASSES.get(name, OcixError)(f"{prefix}{details}", code=name)


def _looks_like_connect_failure(details: str) -> bool:
    """gRPC transport failures, as opposed to containerd's own UNAVAILABLE ("ref ... locked")."""
    d = details.lower()
    return any(s in d for s in ("failed to connect", "connection refused", "no such file",
                                "socket closed", "connect failed", "broken pipe",
                                "connection reset", "connection attempt timed out"))


def from_http(resp: requests.Response, *, what: str = "") -> RegistryError:
    """Convert a failed registry response, keeping the registry's own error text."""
    status = resp.status_code
    body = ""
    try:
        body = resp.text[:2000]
    except Exception:  # a streamed body may be gone already
        body = ""
    detail = _registry_error_text(resp) or resp.reason or "error"
    prefix = f"{what}: " if what else ""
    msg = f"{prefix}{resp.request.method if resp.request else 'GET'} {_redact_url(resp.url)}: {status} {detail}"
    if status in (401, 403):
        return AuthError(msg, status=status, body=body,
                         hint="log in with `docker login` or pass --user USER:PASSWORD")
    if status == 404:
        return RegistryError(msg, status=status, body=body,
                             hint="check the repository name and tag")
    return RegistryError(msg, status=status, body=body)


def _registry_error_text(resp: requests.Response) -> str:
    """The distribution spec's {"errors": [{"code","message"}]} body, flattened."""
    try:
        data = resp.json()
    except Exception:
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = []
    for e in errors:
        if isinstance(e, dict):
            parts.append(" ".join(str(e.get(k)) for k in ("code", "message") if e.get(k)))
    return "; ".join(p for p in parts if p)


def _redact_url(url: str) -> str:
    from .trace import redact_url

    return redact_url(url)


def from_docker(exc: BaseException, *, socket: str = "", what: str = "") -> OcixError:
    """Convert a docker SDK, requests or socket failure, keeping dockerd's own message.

    404 -> NotFoundError, 409 -> ConflictError, no connection -> UnreachableError."""
    prefix = f"docker {what}: " if what else "docker: "
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    if isinstance(status, int):
        explanation = getattr(exc, "explanation", None)
        detail = str(explanation or exc).strip()
        msg = f"{prefix}{status} {detail}"
        if status == 404:
            return NotFoundError(msg, code=str(status))
        if status == 409:
            return ConflictError(msg, code=str(status))
        return OcixError(msg, code=str(status))
    if _cannot_connect(exc):
        where = socket or "its socket"
        return UnreachableError(f"cannot reach dockerd at {where}: {_root_reason(exc)}",
                                subject="dockerd", retryable=False)
    return OcixError(f"{prefix}{exc}")


def _cannot_connect(exc: BaseException) -> bool:
    """A refused or missing socket, or a read timeout, anywhere in the exception's chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (FileNotFoundError, ConnectionError)):
            return True
        name = type(seen).__name__
        if name in ("ConnectionError", "ReadTimeout", "ConnectTimeout", "ProtocolError"):
            return True
        seen = seen.__cause__ or seen.__context__
    return "Connection aborted" in str(exc) or "No such file or directory" in str(exc)


def _root_reason(exc: BaseException) -> str:
    """The innermost OSError's text ("No such file or directory"), else the whole message."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    return str(exc)
