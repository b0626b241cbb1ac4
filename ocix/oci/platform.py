"""Platform normalization and matching, as containerd's `platforms` package does it."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from ..errors import NotFoundError, UsageError
from . import mediatypes as mt
from .descriptor import Descriptor, Platform

_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "amd64": "amd64", "i386": "386", "i686": "386",
         "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "armhf": "arm", "armel": "arm", "arm": "arm"}


def normalize(p: Platform) -> Platform:
    os_ = p.os.lower() or "linux"
    arch = _ARCH.get(p.architecture.lower(), p.architecture.lower())
    variant = p.variant.lower()
    if p.architecture.lower() in ("armhf", "armv7l") and not variant:
        variant = "v7"
    if p.architecture.lower() == "armel" and not variant:
        variant = "v6"
    if arch == "arm64" and variant in ("8", "v8"):
        variant = ""
    if arch == "arm" and variant in ("", "7"):
        variant = "v7" if variant in ("", "7") else variant
    if arch == "arm" and variant in ("5", "6", "8"):
        variant = "v" + variant
    return Platform(os_, arch, variant, p.os_version, p.os_features)


def of_manifest(desc: Platform | None, config: dict[str, object]) -> str:
    """The platform an index entry declares, else the one its image config names."""
    if desc is not None:
        return str(desc)
    return "/".join(str(config.get(k) or "") for k in ("os", "architecture", "variant")).strip("/")


def host() -> Platform:
    return normalize(Platform("linux", _platform.machine()))


def parse(spec: str) -> Platform:
    """'linux/arm64/v8', 'arm64', 'linux' -> normalized Platform."""
    parts = spec.strip().split("/")
    if not parts or not all(parts) or len(parts) > 3:
        raise UsageError(f"invalid platform {spec!r}", hint="write os/arch[/variant], e.g. linux/arm64")
    if len(parts) == 1:
        return normalize(Platform("linux", parts[0])) if parts[0] in _ARCH else \
            normalize(Platform(parts[0], host().architecture, host().variant))
    return normalize(Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))


@dataclass(frozen=True)
class Matcher:
    """Ordered compatible platforms; lower rank is better (containerd's Only/Ordered)."""

    wanted: Platform

    def compatible(self) -> list[Platform]:
        w = normalize(self.wanted)
        out = [w]
        if w.architecture == "amd64":
            out.append(Platform(w.os, "386"))
        elif w.architecture == "arm64":
            out += [Platform(w.os, "arm", v) for v in ("v8", "v7", "v6", "v5")]
        elif w.architecture == "arm" and w.variant:
            n = int(w.variant[1:]) if w.variant[1:].isdigit() else 0
            out += [Platform(w.os, "arm", f"v{i}") for i in range(n - 1, 4, -1)]
        return out

    def rank(self, p: Platform | None) -> int | None:
        if p is None:
            return None
        c = normalize(p)
        for i, cand in enumerate(self.compatible()):
            if c.os == cand.os and c.architecture == cand.architecture and \
                    (c.variant == cand.variant or (not cand.variant and i == 0 and not c.variant)):
                return i
        return None

    def matches(self, p: Platform | None) -> bool:
        return self.rank(p) is not None


def best_manifest(entries: list[Descriptor], matcher: Matcher) -> Descriptor | None:
    """The index entry containerd would pick: the best-ranked manifest, the first among equals."""
    ranked = [(r, i, d) for i, d in enumerate(entries)
              if mt.is_manifest(d.media_type) and (r := matcher.rank(d.platform)) is not None]
    return min(ranked)[2] if ranked else None


def refuse_other_platform(name: str, config: dict[str, object], platform: str) -> None:
    """A plain manifest is for the one platform its config names; asking it for another is
    refused, as dockerd refuses it (docs/layers.md, "--platform on a single manifest")."""
    have = Platform(str(config.get("os") or ""), str(config.get("architecture") or ""),
                    str(config.get("variant") or ""))
    if have.os and have.architecture and not Matcher(parse(platform)).matches(have):
        raise NotFoundError(f"image {name} is a single {of_manifest(None, config)} manifest: "
                            f"no manifest for {platform}")
