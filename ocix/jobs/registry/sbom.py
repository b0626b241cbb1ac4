"""`ocix sbom`: the packages of an image in a registry, read from its layers, as CycloneDX.

Nothing is run or extracted.  The files are read through the same reader as `ocix cat`
(ocix.jobs.images.imagefs over ocix.oci.fs.flatfs): every layer streams from the registry, hashed
as it is read, and only its tar headers go into the model of the final filesystem, whiteouts and
opaque directories applied, symlinks resolved inside the image's root (`/lib -> usr/lib`),
hostile entries refused.  Then only the layers that wrote dpkg's status (and status.d/), apk's
installed database or a busybox binary are streamed again, each once and to its end, so that
every byte read is checked against the layer's digest (docs/registry.md, "SBOM").
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ...errors import NotFoundError, OcixError
from ...oci import mediatypes as mt
from ...oci import platform as plat
from ...oci.descriptor import Descriptor, json_object
from ...oci.fs.flatfs import DIR, HARDLINK, SYMLINK, Node
from ...oci.fs.layerscan import decompressed
from ...registry.client import RegistryClient
from ...registry.reference import parse
from ...registry.upload import verified
from ..images.imagefs import ImageFS, LayerOpener, LayerProgress, empty, files_data, find, flatten
from ..images.tree import registry_target
from .browse import ClientOptions

DPKG = "/var/lib/dpkg/status"
DPKG_D = "/var/lib/dpkg/status.d"  # one file per package (distroless images)
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


def registry_layers(client: RegistryClient) -> LayerOpener:
    """Layers streamed from a registry, verified as they are read, decompressed."""
    def layer(desc: Descriptor) -> Iterator[bytes]:
        chunks = verified(desc, client.open_blob(desc), what="layer", writes=False)
        return decompressed(chunks, desc.media_type)

    return layer


def _regular(ifs: ImageFS, path: str) -> Node | None:
    """The file at `path` of the final filesystem, symlinks followed inside the image's root;
    None when there is none (a hostile entry there is an error, as for `ocix cat`)."""
    try:
        node = find(ifs, path)
    except NotFoundError:
        return None
    return node if node.regular else None


def _databases(ifs: ImageFS) -> list[tuple[str, Node]]:
    """(the path as named, its file) of each package database in the image."""
    out = [(p, n) for p in (DPKG, APK) if (n := _regular(ifs, p)) is not None]
    try:
        d = find(ifs, DPKG_D)
    except NotFoundError:
        return out
    if d.kind == DIR:
        for entry in ifs.fs.under(d.path):
            name = posixpath.basename(entry.path)
            if posixpath.dirname(entry.path) == d.path and not name.endswith(".md5sums"):
                node = _regular(ifs, entry.path)
                if node is not None:
                    out.append((posixpath.join(DPKG_D, name), node))
    return out


def _applets(ifs: ImageFS, binaries: list[Node]) -> int:
    """The other names of the busybox binaries: hard links to them, symlinks that resolve to
    them inside the image's root."""
    sources = {b.source for b in binaries}
    skip = {b.path for b in binaries} | set(BUSYBOX)
    n = 0
    for node in ifs.fs.nodes.values():
        if node.path in skip:
            continue
        if node.kind == HARDLINK:
            n += node.source in sources
        elif node.kind == SYMLINK:
            try:
                target = ifs.fs.resolve(node.path)[1]
            except OcixError:  # a loop of links is no applet
                continue
            n += target is not None and target.regular and target.source in sources
    return n


def _banner(chunks: Iterator[bytes]) -> str:
    tail = b""
    for block in chunks:
        m = _BANNER.search(tail + block)
        if m:
            return m.group(1).decode()
        tail = block[-64:]
    return ""


def read_packages(ifs: ImageFS, open_layer: LayerOpener, *, to_end: bool = False
                  ) -> tuple[list[Package], list[str]]:
    """The packages of a flattened image and the files they were read from."""
    dbs = _databases(ifs)
    for path, node in dbs:
        if node.size > MAX_DB:
            raise OcixError(f"{path} in {ifs.image} is {node.size} bytes: more than "
                            f"{MAX_DB >> 20} MiB is not read as a package database")
    names = {node.source: path for path, node in reversed(dbs)}
    pkgs: list[Package] = []
    for node, chunks in files_data(ifs, open_layer, [n for _, n in dbs], to_end=to_end):
        data = b"".join(chunks)
        pkgs += apk_packages(data) if names[node.source] == APK else dpkg_packages(data)
    read = list(dict.fromkeys(DPKG_D + "/" if p.startswith(DPKG_D + "/") else p for p, _ in dbs))
    binaries: list[Node] = []
    for path in BUSYBOX:
        binary = _regular(ifs, path)
        if binary is not None and binary.source not in {b.source for b in binaries}:
            binaries.append(binary)
    if binaries and not any(p.name == "busybox" for p in pkgs):
        version = ""
        for _, chunks in files_data(ifs, open_layer, binaries[:1], to_end=to_end):
            version = _banner(chunks)
        pkgs.append(Package("busybox", version, "busybox", applets=_applets(ifs, binaries)))
        read.append(binaries[0].path)
    return sorted(pkgs, key=lambda p: (p.kind, p.name, p.arch)), read


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


def sbom(ref: str, opts: ClientOptions, *, platform: str | None = None,
         on_layer: LayerProgress | None = None) -> SbomResult:
    client = opts.client(parse(ref))
    root, desc = registry_target(client, platform)
    mdoc = json_object(client.fetch_manifest(desc), f"manifest {desc.digest}")
    if platform and desc is root:
        config = Descriptor.from_json(mdoc.get("config") or {})
        plat.refuse_other_platform(client.ref.name, json_object(
            client.fetch_blob_bytes(config), f"config {config.digest}"), platform)
    layers = [Descriptor.from_json(x) for x in mdoc.get("layers") or []]
    for layer in layers:
        if not mt.is_layer(layer.media_type):
            raise OcixError(f"{ref}: layer {layer.digest} is a {layer.media_type}, not an image layer")
    ifs = empty(client.ref.name, root.digest, desc.digest, str(desc.platform or ""), layers,
                [""] * len(layers))
    open_layer = registry_layers(client)
    flatten(ifs, open_layer, on_layer=on_layer)
    pkgs, dbs = read_packages(ifs, open_layer, to_end=True)
    result = SbomResult(client.ref.name, desc.digest, ifs.platform, pkgs, dbs)
    result.document = cyclonedx(result)
    return result
