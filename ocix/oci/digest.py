"""Digests (image-spec descriptor.md "Digests") and chain IDs (config.md "Layer ChainID")."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence

from ..errors import InvalidArgumentError, OcixError

# algorithm := component ([+._-] component)*, component := [a-z0-9]+; encoded := [a-zA-Z0-9=_-]+
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_REGISTERED = {"sha256": re.compile(r"^[a-f0-9]{64}$"), "sha512": re.compile(r"^[a-f0-9]{128}$")}


def digest_problem(digest: str) -> str | None:
    """Why `digest` is not a valid digest, or None if it is."""
    if not isinstance(digest, str):
        return "a digest must be a string"
    if not DIGEST_RE.fullmatch(digest):
        return f"{digest!r} is not of the form algorithm:encoded"
    algo, encoded = digest.split(":", 1)
    rule = _REGISTERED.get(algo)
    if rule is not None and not rule.fullmatch(encoded):
        want = 64 if algo == "sha256" else 128
        return f"{algo} digests are {want} lowercase hex characters, got {len(encoded)} in {digest!r}"
    return None


def check_digest(digest: str) -> str:
    problem = digest_problem(digest)
    if problem:
        raise InvalidArgumentError(f"invalid digest: {problem}")
    return digest


MIN_PREFIX = 6  # hex characters an abbreviated digest needs
_HEX = frozenset("0123456789abcdef")


def digest_prefix(ref: str) -> tuple[str, str] | None:
    """(algorithm, lowercase hex) when REF abbreviates a digest: a registered algorithm, `:`
    and 6+ hex characters, or 6+ bare hex characters (algorithm ""); None otherwise."""
    algo, sep, encoded = ref.rpartition(":")
    if sep and algo not in _REGISTERED:
        return None
    encoded = encoded.lower()
    if len(encoded) < MIN_PREFIX or not set(encoded) <= _HEX:
        return None
    return algo, encoded


def resolve_digest(ref: str, candidates: Callable[[], Iterable[str]],
                   what: str = "blobs") -> str | None:
    """The digest a command's DIGEST argument names; the one rule every such command uses.

    A valid full digest is returned as it is (`candidates` is not called).  An abbreviation
    (`sha256:c545a5`, `c545a5`: see digest_prefix) names the one candidate that starts with
    it; None when no candidate does.  InvalidArgumentError when REF is neither; an OcixError
    (exit 1) counting the candidates when more than one matches."""
    if digest_problem(ref) is None:
        return ref
    parsed = digest_prefix(ref)
    if parsed is None:
        raise InvalidArgumentError(
            f"{ref!r} is not a digest: give all of it, or its first {MIN_PREFIX} or more hex "
            "characters (sha256: optional)")
    algo, hexpart = parsed
    found = sorted({d for d in candidates()
                    if d.partition(":")[2].startswith(hexpart)
                    and (not algo or d.startswith(algo + ":"))})
    if len(found) > 1:
        raise OcixError(f"{ref!r} is ambiguous: {len(found)} {what} start with it",
                        hint="give more of the digest")
    return found[0] if found else None


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def new_hasher(digest: str) -> hashlib._Hash:
    algo = digest.split(":", 1)[0]
    if algo not in _REGISTERED:
        raise InvalidArgumentError(f"unsupported digest algorithm {algo!r}")
    return hashlib.new(algo)


def chain_id(diff_ids: Sequence[str]) -> str:
    """ChainID(L0) = DiffID(L0); ChainID(L0|...|Ln) = sha256(ChainID(n-1) + " " + DiffID(Ln))."""
    if not diff_ids:
        raise InvalidArgumentError("a chain ID needs at least one diff ID")
    current = diff_ids[0]
    for diff in diff_ids[1:]:
        current = "sha256:" + hashlib.sha256(f"{current} {diff}".encode()).hexdigest()
    return current


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID after each layer: chain_ids(d)[i] == chain_id(d[:i+1])."""
    out: list[str] = []
    for i, diff in enumerate(diff_ids):
        out.append(diff if i == 0 else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out
