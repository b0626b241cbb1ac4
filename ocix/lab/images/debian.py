"""library/debian:bookworm for the lab: a minbase rootfs that mmdebstrap bootstraps from the
Debian archive this machine's apt uses, shaped like the official image (docs/real-images.md).

SOURCE_DATE_EPOCH is the lab's EPOCH: mmdebstrap then leaves no build-time traces (machine-id,
logs, apt lists and cache), and the lab's layer writer puts that same time on every entry, so
two builds from the same archive state give the same layer digest.  Built images live in a
cache (an OCI layout) keyed by the build's inputs: the second seed only pushes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import programs
from ...errors import FailedPreconditionError, OcixError, UnreachableError
from ...oci import mediatypes as mt
from ...oci.descriptor import Descriptor, Platform
from ...oci.layout import LayoutImage, blob_path, canonical_json, read_blob, tag, write_blob
from ...oci.platform import host as host_platform
from ..state import Progress, quiet
from .layers import EPOCH, BuiltLayer, LayerSpec, write_layer
from .rootfs import changes, walk

SUITE = "bookworm"
# Bump when the recipe (debian's or app's) changes: cached images are then built again.
RECIPE_VERSION = "2"  # 2: a hardlink's header has its target's mode and owner
MIRROR_ENV = "OCIX_DEBIAN_MIRROR"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --------------------------------------------------------------------------- apt sources

def _deb822(text: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    out.append((uri, suite, fields.get("components", "").split()))
    return out


def _one_line(text: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            out.append((words[1], words[2], words[3:]))
    return out


def apt_sources(etc: Path = Path("/etc/apt"), suite: str = SUITE) -> list[str]:
    """The one-line sources of `suite`, `suite`-updates and `suite`-security, main component,
    that this machine's apt uses (sources.list and sources.list.d/*.list, *.sources)."""
    found: list[tuple[str, str, list[str]]] = []
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*"))]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            found += _deb822(text)
        elif f.suffix == ".list" or f.name == "sources.list":
            found += _one_line(text)
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    lines = [f"deb {uri} {s} main" for uri, s, comps in found if s in wanted and "main" in comps]
    return list(dict.fromkeys(lines))


def sources(mirror: str | None = None) -> list[str]:
    """The apt sources a build uses: `mirror` (or $OCIX_DEBIAN_MIRROR) for the suite alone,
    else this machine's."""
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        return [f"deb {mirror} {SUITE} main"]
    found = apt_sources()
    if not found:
        raise FailedPreconditionError(f"no apt source for Debian {SUITE} main in /etc/apt",
                                      kind="debian-no-source")
    return found


# --------------------------------------------------------------------------- recipe

@dataclass(frozen=True)
class Recipe:
    sources: tuple[str, ...]
    platform: Platform
    mmdebstrap: str  # its version line: another mmdebstrap may write another tree

    def key(self, name: str) -> str:
        h = hashlib.sha256(canonical_json([name, RECIPE_VERSION, list(self.sources),
                                           self.platform.to_json(), self.mmdebstrap, EPOCH]))
        return "sha256:" + h.hexdigest()


def recipe(mirror: str | None = None) -> Recipe:
    if not shutil.which("mmdebstrap"):
        raise FailedPreconditionError("mmdebstrap is not installed", hint="run `make setup`")
    version = programs.version_line(["mmdebstrap", "--version"], timeout=30)
    return Recipe(tuple(sources(mirror)), host_platform(), version)


# --------------------------------------------------------------------------- images

def assemble(layout: Path, repo: str, tag_name: str, platform: Platform,
             layers: list[BuiltLayer], history: list[dict[str, Any]],
             config: dict[str, Any], created: str) -> LayoutImage:
    """Config, manifest and tag for `layers` (history may hold empty_layer steps too)."""
    doc: dict[str, Any] = {
        "architecture": platform.architecture, "os": platform.os, "config": config,
        "created": created, "history": history,
        "rootfs": {"type": "layers", "diff_ids": [x.diff_id for x in layers]}}
    if platform.variant:
        doc["variant"] = platform.variant
    cfg = write_blob(layout, canonical_json(doc), mt.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": cfg.to_json(),
                "layers": [x.descriptor.to_json() for x in layers]}
    m = write_blob(layout, canonical_json(manifest), mt.OCI_MANIFEST)
    root = Descriptor(m.media_type, m.digest, m.size)
    tag(layout, f"{repo}:{tag_name}", root)
    return LayoutImage(repo, tag_name, root, layout)


def debian_history(rc: Recipe) -> list[dict[str, Any]]:
    # The official image's one history entry, its shape and created_by as debuerreotype writes
    # them; the comment names what really built this one.
    arch = rc.platform.architecture
    return [{"created": rfc3339(EPOCH),
             "created_by": f"# debian.sh --arch '{arch}' out/ '{SUITE}' '@{EPOCH}'",
             "comment": rc.mmdebstrap}]


def bootstrap(rc: Recipe, target: Path, progress: Progress = quiet) -> None:
    """mmdebstrap a minbase tree into `target` (a dir that must not exist)."""
    progress(f"bootstrapping Debian {SUITE} (minbase) from {rc.sources[0].split()[1]}")
    argv = ["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", "--format=directory",
            # the runtime provides these two in every container (as for the official image)
            '--customize-hook=rm -f "$1"/etc/resolv.conf "$1"/etc/hostname',
            SUITE, str(target), *rc.sources]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH), "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env)
    except subprocess.TimeoutExpired:
        raise OcixError("mmdebstrap did not finish in 30 minutes") from None
    if proc.returncode == 0:
        return
    errors = [x for x in (proc.stderr + proc.stdout).splitlines() if x.startswith("E:")]
    tried = ", ".join(s.split(" ", 1)[1] for s in rc.sources)
    if any("apt-get update" in e or "download" in e.lower() for e in errors):
        raise UnreachableError(
            f"cannot bootstrap Debian {SUITE}: the archive at {tried} is unreachable; "
            "offline, bring an image as a file with `ocix lab import PATH`",
            kind="debian-archive-unreachable", retryable=False)
    raise OcixError(f"mmdebstrap failed (exit {proc.returncode}) with {tried}: "
                    + (errors[0] if errors else (proc.stderr.strip().splitlines() or ["?"])[-1]))


def build_debian(rc: Recipe, cache: Path, work: Path, progress: Progress = quiet
                 ) -> LayoutImage:
    """Bootstrap into `work/rootfs` (left there for a build on top) and write the image."""
    rootfs = work / "rootfs"
    bootstrap(rc, rootfs, progress)
    progress("writing the debian layer")
    layer = write_layer(cache, LayerSpec(tuple(changes(rootfs, {}, walk(rootfs))),
                                         created_by="debian"))
    config = {"Env": [PATH_ENV], "Cmd": ["bash"]}
    return assemble(cache, "library/debian", SUITE, rc.platform, [layer], debian_history(rc),
                    config, rfc3339(EPOCH))


def extract(cache: Path, img: LayoutImage, target: Path) -> None:
    """Unpack a one-layer image's layer into `target` (for building on top of a cached base)."""
    manifest = json.loads(read_blob(cache, img.root.digest))
    target.mkdir(parents=True)
    for layer in manifest["layers"]:
        blob = blob_path(cache, layer["digest"])
        subprocess.run(["tar", "-xzpf", str(blob), "--numeric-owner", "-C", str(target)],
                       check=True, capture_output=True, timeout=600)
