"""Our JSON Schemas: loading them offline, the compiled fast path, and located errors.

Where the schemas live: the canonical files are the repository's top-level `schemas/`, found
relative to this package (ocix/validate/ -> ../../schemas), which is what the editable install
uses.  A wheel build would have to copy them to ocix/validate/schemas/ as package data; that
location is the fallback, read through importlib.resources.  Nothing is ever fetched: `$ref`s
resolve through a referencing.Registry (jsonschema) or through a handler over the same
in-memory documents (fastjsonschema) that refuses unknown URIs instead of downloading them.

Fast path: fastjsonschema gives only the verdict.  When it says "valid" we trust it; when it
says "invalid" (or cannot decide) jsonschema's Draft202012Validator produces the located errors,
so the findings are always jsonschema's and identical with or without the fast path.  The
schemas stick to keywords whose meaning is the same in draft 7 (fastjsonschema) and 2020-12,
and the fuzz tests check that fast-valid implies jsonschema-valid.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
import sys
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import OcixError
from .findings import Finding, Severity, pointer

BASE = "https://ocix.example/schemas/"  # .example is reserved: these URIs can never resolve

# kind -> schema file under schemas/
KIND_SCHEMAS: dict[str, str] = {
    "manifest": "image/manifest.schema.json",
    "index": "image/index.schema.json",
    "config": "image/config.schema.json",
    "descriptor": "image/descriptor.schema.json",
    "layout": "image/layout.schema.json",
    "bundle": "runtime/config.schema.json",
}
_FILES = ("image/defs.schema.json", "runtime/defs.schema.json",
          "runtime/config-linux.schema.json", *KIND_SCHEMAS.values())

# A document's schema errors beyond this many are summarised, so a 60 MiB list of wrong
# items cannot make a million findings.
MAX_SCHEMA_FINDINGS = 100


def schema_dir() -> Path:
    here = Path(__file__).resolve().parent
    repo = here.parent.parent / "schemas"
    if (repo / "image" / "manifest.schema.json").is_file():
        return repo
    packaged = resources.files("ocix.validate").joinpath("schemas")
    return Path(str(packaged))


@cache
def load_all() -> dict[str, dict[str, Any]]:
    """Every schema by its $id."""
    root = schema_dir()
    out: dict[str, dict[str, Any]] = {}
    for rel in _FILES:
        try:
            doc = json.loads((root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise OcixError(f"cannot load schema {rel} from {root}: {e}",
                            hint="reinstall ocix: its schemas/ directory is missing or damaged") from e
        out[doc["$id"]] = doc
    return out


def schema_for(kind: str) -> dict[str, Any]:
    return load_all()[BASE + KIND_SCHEMAS[kind]]


def _offline_handler(uri: str) -> dict[str, Any]:
    doc = load_all().get(uri.split("#", 1)[0])
    if doc is None:
        raise OcixError(f"schema {uri} is not one of ocix's schemas (no network is used)")
    return doc


@cache
def fast_validator(kind: str) -> Callable[[Any], Any]:
    """The compiled validator.  Its code object is cached on disk (marshal, keyed by the schemas,
    fastjsonschema's version and the interpreter) because generating and compiling the
    runtime config's validator is slow next to the CLI's time budget (`bench/validate`)."""
    import fastjsonschema

    schema = schema_for(kind)
    # detailed_exceptions stays on: fastjsonschema 2.22 cannot generate `const` without it
    handlers = {"https": _offline_handler, "http": _offline_handler}
    path = _code_cache_path(kind, fastjsonschema.VERSION)
    func_name = "validate_" + re.sub(r"[^a-zA-Z0-9_]", "_", schema["$id"])
    namespace: dict[str, Any] = {}
    try:
        code = None
        if path is not None:
            try:
                code = marshal.loads(path.read_bytes())
            except (OSError, ValueError, EOFError, TypeError):
                code = None
        if code is None:
            source = fastjsonschema.compile_to_code(schema, handlers=handlers, use_default=False)
            code = compile(source, f"<ocix schema {kind}>", "exec")
            if path is not None:
                _write_quietly(path, marshal.dumps(code))
        exec(code, namespace)
        return namespace[func_name]
    except Exception:  # a damaged cache file or a renamed entry point: compile in memory
        return fastjsonschema.compile(schema, handlers=handlers, use_default=False)


def _code_cache_path(kind: str, version: str) -> Path | None:
    if os.environ.get("OCIX_NO_SCHEMA_CACHE") == "1":
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ocix" / "validate" / f"{kind}-{_cache_tag(version)}.marshal"


@cache
def _cache_tag(version: str) -> str:
    """The interpreter (marshal's format is per version) plus a hash of fastjsonschema's
    version and every schema: computed once, not once per kind."""
    schemas = load_all()
    h = hashlib.sha256(version.encode())
    for uri in sorted(schemas):
        h.update(uri.encode())
        h.update(json.dumps(schemas[uri], sort_keys=True).encode())
    return f"{sys.implementation.cache_tag}-{h.hexdigest()[:20]}"


def _write_quietly(path: Path, data: bytes) -> None:
    """Best effort: a read-only home only costs the compile time again next run."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass


def fast_valid(kind: str, doc: Any) -> bool:
    """The compiled verdict. False also when it cannot decide: jsonschema then decides."""
    try:
        fast_validator(kind)(doc)
    except RecursionError:
        return False
    except Exception:  # JsonSchemaValueException, or anything odd the generated code hits
        return False
    return True


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resources(
        (uri, Resource.from_contents(doc, default_specification=DRAFT202012))
        for uri, doc in load_all().items())


@cache
def full_validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_for(kind), registry=_registry())


_HINTS = {
    "type": "change the value to the JSON type the spec names",
    "required": "add the missing property",
    "enum": "use one of the values the spec lists",
    "const": "use the value the spec requires",
    "pattern": "fix the value's syntax",
    "minimum": "use a value within the allowed range",
    "maximum": "use a value within the allowed range",
    "minItems": "add at least one entry",
}


def _short(text: str, n: int = 240) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def schema_findings(kind: str, doc: Any, spec_of: Callable[[str], str], *, fast: bool = True,
                    location: str = "", prefix: str = "") -> list[Finding]:
    """The schema errors of `doc`, located; [] when it conforms."""
    if fast and fast_valid(kind, doc):
        return []
    out: list[Finding] = []
    errors = sorted(_iter_errors(kind, doc), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    for e in errors[:MAX_SCHEMA_FINDINGS]:
        ptr = pointer(*e.absolute_path)
        keyword = str(e.validator)
        out.append(Finding(Severity.ERROR, prefix + ptr, _short(e.message), spec_of(ptr),
                           _HINTS.get(keyword, "make the value match the spec"),
                           f"schema.{keyword}", location))
    if len(errors) > MAX_SCHEMA_FINDINGS:
        out.append(Finding(Severity.ERROR, prefix, f"{len(errors) - MAX_SCHEMA_FINDINGS} more schema "
                           "errors not shown", spec_of(""), "fix the errors above first",
                           "schema.more", location))
    return out


def _iter_errors(kind: str, doc: Any) -> Iterator[Any]:
    return full_validator(kind).iter_errors(doc)
