"""`ocix sbom`: the packages of an image in a registry, read from its layers, as CycloneDX.

Nothing is run or extracted.  Each layer streams from the registry (hashed as it is read),
through the decompressor, as a forward-only tar; only a few paths are kept: dpkg's status file,
apk's installed database, a busybox binary (for its version) and the links to it (its
applets).  Whiteouts and opaque directories of later layers apply as they do in the final
filesystem (docs/layers.md), so what is read is what the container would see.  This is a small
reader of its own, restricted to those paths (docs/registry.md, "SBOM").
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ...errors import DigestMismatchError, OcixError
from ...oci import mediatypes as mt
from ...oci import platform as plat
from ...oci.descriptor import Descriptor, json_object
from ...oci.layerscan import OPAQUE_MARKER, WHITEOUT_PREFIX, clean, decompress, hostile_reason
from ...oci.layerscan import sniff_compression as sniff
from ...oci.streams import chunk_stream
from ...registry.reference import parse
from .browse import ClientOptions

DPKG = "/var/lib/dpkg/status"
APK = "/lib/apk/db/installed"
BUSYBOX = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox")
MAX_DB = 64 << 20
_BANNER = re.compile(rb"BusyBox v(\d[0-9A-Za-z.+~:-]*)")


@dataclass
class Package:
    name: str
    version: str
    kind: str  # deb, apk, busybox
    arch: str = ""
    source: str = ""
    applets: int = 0


@dataclass
class SbomResult:
    name: str
    digest: str  # of the manifest read
    platform: str
    packages: list[Package] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    document: str = ""  # the CycloneDX JSON


def _hashed(chunks: Iterator[bytes], desc: Descriptor, sink: dict[str, int]) -> Iterator[bytes]:
    hasher = hashlib.new(desc.digest.split(":", 1)[0])
    n = 0
    for c in chunks:
        n += len(c)
        hasher.update(c)
        yield c
    sink["n"] = n
    actual = f"{desc.digest.split(':', 1)[0]}:{hasher.hexdigest()}"
    if actual != desc.digest:
        raise DigestMismatchError(f"layer {desc.digest} has digest {actual}: refused")


def _busybox_version(f: Any) -> str:
    tail = b""
    while block := f.read(1 << 20):
        m = _BANNER.search(tail + block)
        if m:
            return m.group(1).decode()
        tail = block[-64:]
    return ""


def _layer(chunks: Iterator[bytes], desc: Descriptor, state: dict[str, tuple[str, Any]]) -> None:
    """Apply one layer's relevant entries to `state` (path -> ("file", value) | ("link", target))."""
    sink: dict[str, int] = {}
    raw = _hashed(chunks, desc, sink)
    first = next(raw, b"")
    stream = decompress(_prepend(first, raw), sniff(first[:4], mt.layer_compression(desc.media_type)))
    changes: dict[str, tuple[str, Any] | None] = {}
    gone: list[str] = []
    opaque: list[str] = []
    try:
        with tarfile.open(fileobj=chunk_stream(stream), mode="r|") as tar:
            while (m := tar.next()) is not None:
                tar.members.clear()  # type: ignore[attr-defined]  # not in typeshed
                if hostile_reason(m):
                    continue
                path = clean(m.name)
                parent, base = posixpath.split(path)
                if base == OPAQUE_MARKER:
                    opaque.append(parent)
                elif base.startswith(WHITEOUT_PREFIX):
                    gone.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
                elif m.isfile() and path in (DPKG, APK) and m.size <= MAX_DB:
                    f = tar.extractfile(m)
                    changes[path] = ("file", f.read() if f else b"")
                elif m.isfile() and path in BUSYBOX:
                    f = tar.extractfile(m)
                    changes[path] = ("file", _busybox_version(f) if f else "")
                elif m.issym() and posixpath.basename(m.linkname) == "busybox":
                    changes[path] = ("link", _resolve_link(path, m.linkname))
                elif m.islnk() and posixpath.basename(m.linkname) == "busybox":
                    changes[path] = ("link", clean(m.linkname))  # hard links name root paths
                else:
                    changes[path] = None
    except (tarfile.TarError, EOFError) as e:
        raise OcixError(f"layer {desc.digest} is not a valid tar stream: {e}") from None
    for _ in raw:  # the rest (tar padding): the digest covers every byte
        pass
    for p in list(state):
        if any(p == g or p.startswith(g + "/") for g in gone) or \
                any(p.startswith(o.rstrip("/") + "/") for o in opaque):
            del state[p]
    for p, v in changes.items():
        if v is None:
            state.pop(p, None)
        else:
            state[p] = v


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """deb822-style stanzas (dpkg status, and apk's KEY:value lines) as dicts."""
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                yield current
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        yield current


def dpkg_packages(data: bytes) -> list[Package]:
    out = []
    for p in paragraphs(data.decode("utf-8", "replace")):
        state = p.get("Status", "").split()
        if "Package" not in p or (len(state) == 3 and state[2] == "not-installed"):
            continue
        out.append(Package(p["Package"], p.get("Version", ""), "deb", p.get("Architecture", ""),
                           p.get("Source", "").split(" ")[0]))
    return out


def apk_packages(data: bytes) -> list[Package]:
    return [Package(p["P"], p.get("V", ""), "apk", p.get("A", ""), p.get("o", ""))
            for p in paragraphs(data.decode("utf-8", "replace")) if "P" in p]


def _resolve_link(path: str, target: str) -> str:
    return posixpath.normpath(target if target.startswith("/") else
                              posixpath.join(posixpath.dirname(path), target))


def packages_of(state: dict[str, tuple[str, Any]]) -> tuple[list[Package], list[str]]:
    pkgs: list[Package] = []
    dbs = []
    if DPKG in state:
        pkgs += dpkg_packages(state[DPKG][1])
        dbs.append(DPKG)
    if APK in state:
        pkgs += apk_packages(state[APK][1])
        dbs.append(APK)
    binaries = [p for p in BUSYBOX if p in state and state[p][0] == "file"]
    if binaries and not any(p.name == "busybox" for p in pkgs):
        applets = sum(1 for kind, target in state.values() if kind == "link" and target in binaries)
        pkgs.append(Package("busybox", state[binaries[0]][1], "busybox", applets=applets))
        dbs.append(binaries[0])
    return sorted(pkgs, key=lambda p: (p.kind, p.name, p.arch)), dbs


def cyclonedx(result: SbomResult) -> str:
    """The packages as a CycloneDX 1.5 JSON document (cyclonedx-python-lib)."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot5
    from packageurl import PackageURL

    bom = Bom()
    root = Component(name=result.name, version=result.digest, type=ComponentType.CONTAINER,
                     bom_ref="image")
    bom.metadata.component = root
    for p in result.packages:
        qualifiers = {"arch": p.arch} if p.arch else {}
        if p.kind == "deb":
            purl = PackageURL("deb", "debian", p.name, p.version, qualifiers)
        elif p.kind == "apk":
            purl = PackageURL("apk", "alpine", p.name, p.version, qualifiers)
        else:
            purl = PackageURL("generic", None, p.name, p.version or None)
        props = [Property(name="ocix:applets", value=str(p.applets))] if p.kind == "busybox" else []
        bom.components.add(Component(name=p.name, version=p.version, type=ComponentType.LIBRARY,
                                     purl=purl, bom_ref=str(purl),
                                     properties=props))
    bom.register_dependency(root, list(bom.components))
    return str(JsonV1Dot5(bom).output_as_string(indent=2))


def sbom(ref: str, opts: ClientOptions, *, platform: str | None = None) -> SbomResult:
    client = opts.client(parse(ref))
    root = client.resolve().descriptor
    desc = root
    if mt.is_index(root.media_type):
        doc = json_object(client.fetch_manifest(root), f"index {root.digest}")
        entries = [Descriptor.from_json(m) for m in doc.get("manifests") or []]
        matcher = plat.Matcher(plat.parse(platform) if platform else plat.host())
        chosen = plat.best_manifest([e for e in entries if mt.is_manifest(e.media_type)], matcher)
        if chosen is None:
            raise OcixError(f"{ref} has no manifest for {matcher.wanted}")
        desc = chosen
    elif not mt.is_manifest(root.media_type):
        raise OcixError(f"{ref}: unsupported media type {root.media_type}")
    mdoc = json_object(client.fetch_manifest(desc), f"manifest {desc.digest}")
    state: dict[str, tuple[str, Any]] = {}
    for layer in (Descriptor.from_json(x) for x in mdoc.get("layers") or []):
        if not mt.is_layer(layer.media_type):
            raise OcixError(f"{ref}: layer {layer.digest} is a {layer.media_type}, not an image layer")
        _layer(iter(client.open_blob(layer)), layer, state)
    pkgs, dbs = packages_of(state)
    result = SbomResult(client.ref.name, desc.digest, str(desc.platform or ""), pkgs, dbs)
    result.document = cyclonedx(result)
    return result
