"""The OCI content descriptor as a dataclass (image-spec descriptor.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Platform:
        return cls(os=str(d.get("os", "")), architecture=str(d.get("architecture", "")),
                   variant=str(d.get("variant", "") or ""), os_version=str(d.get("os.version", "") or ""),
                   os_features=tuple(d.get("os.features", ()) or ()))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            d["variant"] = self.variant
        if self.os_version:
            d["os.version"] = self.os_version
        if self.os_features:
            d["os.features"] = list(self.os_features)
        return d

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Descriptor:
        plat = d.get("platform")
        return cls(media_type=str(d.get("mediaType", "")), digest=str(d.get("digest", "")),
                   size=int(d.get("size", 0)), annotations=dict(d.get("annotations") or {}),
                   platform=Platform.from_json(plat) if isinstance(plat, dict) else None,
                   urls=tuple(d.get("urls") or ()), artifact_type=str(d.get("artifactType", "") or ""))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform:
            d["platform"] = self.platform.to_json()
        if self.urls:
            d["urls"] = list(self.urls)
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """Parse a manifest, index or config: a JSON object, or one clear OcixError naming `what`."""
    from ..errors import OcixError

    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise OcixError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise OcixError(f"{what} is not a JSON object")
    return doc
