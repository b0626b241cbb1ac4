"""Validating one JSON document: parse with limits, detect its kind, schema + semantic checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..oci import mediatypes as mt
from .findings import Finding, Report, Severity, Sink
from .image import SPEC_PREFIXES as IMAGE_PREFIXES
from .image import check_config, check_descriptor_doc, check_index, check_layout, check_manifest
from .runtime import SPEC_PREFIXES as RUNTIME_PREFIXES
from .runtime import check_config as check_runtime_config
from .schemas import schema_findings

MAX_DOC_BYTES = 64 << 20  # a bigger "document" is refused with a finding, never read whole
MAX_DEPTH = 64            # real OCI documents nest < 10 levels; deeper is junk or an attack
KINDS = ("manifest", "index", "config", "descriptor", "layout", "bundle")

S_JSON = "image-spec considerations.md#json"

_SEMANTIC: dict[str, Callable[[Sink, Any], None]] = {
    "manifest": check_manifest,
    "index": check_index,
    "config": check_config,
    "descriptor": check_descriptor_doc,
    "layout": check_layout,
}


class DocumentProblem(Exception):
    """A document that cannot be checked at all; carries its one finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _doc_error(message: str, hint: str, rule: str, location: str, spec: str = S_JSON) -> DocumentProblem:
    return DocumentProblem(Finding(Severity.ERROR, "", message, spec, hint, rule, location))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse(data: bytes, location: str = "") -> Any:
    """JSON text -> value, or DocumentProblem with the reason (size, encoding, syntax, nesting)."""
    if len(data) > MAX_DOC_BYTES:
        raise _doc_error(f"document is {len(data)} bytes, over the {MAX_DOC_BYTES >> 20} MiB limit",
                         "OCI documents are small: is this the right file?", "doc.too-large", location)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _doc_error(f"not UTF-8 text (byte {e.start}): binary data?",
                         "OCI documents are UTF-8 JSON", "doc.not-utf8", location) from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _doc_error("document nests too deeply to parse", "flatten the document",
                         "doc.too-deep", location) from None
    except ValueError as e:
        raise _doc_error(f"not valid JSON: {e}", "check the syntax, e.g. with `jq . FILE`",
                         "doc.not-json", location) from None
    if _too_deep(doc):
        raise _doc_error(f"document nests more than {MAX_DEPTH} levels deep",
                         "OCI documents nest a few levels only", "doc.too-deep", location)
    return doc


def _too_deep(doc: Any) -> bool:
    """Iterative depth check, so the checks after it can recurse safely."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def detect(doc: Any) -> str | None:
    """The kind of a parsed document, by mediaType first and then by shape."""
    if not isinstance(doc, dict):
        return None
    media = doc.get("mediaType")
    if isinstance(media, str):
        if mt.is_manifest(media):
            return "manifest"
        if mt.is_index(media):
            return "index"
    if "digest" in doc and "size" in doc and "mediaType" in doc:
        return "descriptor"
    if "manifests" in doc:
        return "index"
    if "config" in doc and "layers" in doc:
        return "manifest"
    if "ociVersion" in doc:
        return "bundle"
    if "imageLayoutVersion" in doc:
        return "layout"
    if "rootfs" in doc or ("architecture" in doc and "os" in doc):
        return "config"
    return None


def spec_of(kind: str) -> Callable[[str], str]:
    table = RUNTIME_PREFIXES if kind == "bundle" else IMAGE_PREFIXES.get(kind, [("", S_JSON)])

    def lookup(ptr: str) -> str:
        for prefix, spec in table:
            if ptr == prefix or ptr.startswith(prefix + "/") or prefix == "":
                return spec
        return S_JSON
    return lookup


def check_document(doc: Any, kind: str, *, fast: bool = True, location: str = "",
                   prefix: str = "", bundle: Path | None = None) -> list[Finding]:
    """Schema findings then semantic findings for a parsed document of a known kind."""
    try:
        out = schema_findings(kind, doc, spec_of(kind), fast=fast, location=location, prefix=prefix)
    except RecursionError:
        return [Finding(Severity.ERROR, prefix, "document nests too deeply to validate", S_JSON,
                        "flatten the document", "doc.too-deep", location)]
    sink = Sink(location, prefix)
    if kind == "bundle":
        check_runtime_config(sink, doc, bundle)
    else:
        _SEMANTIC[kind](sink, doc)
    return out + sink.findings


def validate_document(doc: Any, kind: str | None = None, *, target: str = "-",
                      fast: bool = True, bundle: Path | None = None) -> Report:
    """Validate a parsed document; `kind` None means detect it."""
    found = kind or detect(doc)
    if found is None:
        what = "a JSON object" if isinstance(doc, dict) else f"JSON {type(doc).__name__}"
        return Report("unknown", target, [Finding(
            Severity.ERROR, "", f"cannot tell what kind of OCI document this is ({what})", S_JSON,
            "pass --kind manifest|index|config|descriptor|layout|bundle", "doc.unknown-kind")])
    return Report(found, target, check_document(doc, found, fast=fast, bundle=bundle))


def validate_bytes(data: bytes, kind: str | None = None, *, target: str = "-", fast: bool = True,
                   bundle: Path | None = None) -> Report:
    """Parse and validate; unparseable input is an invalid report, not an exception."""
    try:
        doc = parse(data)
    except DocumentProblem as bad:
        return Report(kind or "unknown", target, [bad.finding])
    return validate_document(doc, kind, target=target, fast=fast, bundle=bundle)
