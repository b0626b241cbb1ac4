"""What a validation says: findings and the report that carries them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"      # a spec MUST is broken: the document is invalid
    WARNING = "warning"  # a SHOULD, or a known runtime pitfall: still valid

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, order=True)
class Finding:
    severity: Severity
    pointer: str  # RFC 6901 JSON pointer into the document ("" is the whole document)
    message: str
    spec: str     # e.g. "runtime-spec config.md#process"
    hint: str
    rule: str     # stable id, e.g. "runtime.process.cwd-absolute" or "schema.type"
    location: str = ""  # which file or blob, when a report covers several

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity.value, "pointer": self.pointer, "message": self.message,
                "spec": self.spec, "hint": self.hint, "rule": self.rule, "location": self.location}


@dataclass
class Report:
    kind: str    # manifest, index, config, descriptor, layout, bundle, image, unknown
    target: str
    findings: list[Finding] = field(default_factory=list)
    hostile: list[Any] | None = None  # layerscan.Hostile entries, when they were looked for

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    @property
    def valid(self) -> bool:
        return self.errors == 0

    @property
    def verdict(self) -> str:
        return "valid" if self.valid else "invalid"

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "kind": self.kind, "valid": self.valid,
                "errors": self.errors, "warnings": self.warnings,
                "findings": [f.to_json() for f in self.findings],
                **({} if self.hostile is None else
                   {"hostile": [{**asdict(h), "via": list(h.via)} for h in self.hostile]})}


def pointer(*parts: str | int) -> str:
    """Build an RFC 6901 pointer, escaping ~ and / in keys."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Sink:
    """Collects findings for one document, with the location and pointer prefix it is under."""

    def __init__(self, location: str = "", prefix: str = "") -> None:
        self.findings: list[Finding] = []
        self.location = location
        self.prefix = prefix

    def error(self, ptr: str, message: str, spec: str, hint: str, rule: str) -> None:
        self.findings.append(Finding(Severity.ERROR, self.prefix + ptr, message, spec, hint, rule,
                                     self.location))

    def warn(self, ptr: str, message: str, spec: str, hint: str, rule: str) -> None:
        self.findings.append(Finding(Severity.WARNING, self.prefix + ptr, message, spec, hint, rule,
                                     self.location))
