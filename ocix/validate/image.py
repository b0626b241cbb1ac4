"""Semantic checks of image-spec v1.1 documents: the rules written in prose that no schema holds.

Every check looks at a value only when it has the type the schema wants: a wrong type is the
schema's finding, never a crash here.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ..errors import InvalidArgumentError
from ..oci import mediatypes as mt
from ..oci.digest import DIGEST_RE, digest_problem, new_hasher
from .findings import Sink, pointer

S_DIGEST = "image-spec descriptor.md#digests"
S_DESC = "image-spec descriptor.md#properties"
S_DATA = "image-spec descriptor.md#embedded-content"
S_PLATFORM = "image-spec image-index.md#image-index-property-descriptions"
S_MANIFEST = "image-spec manifest.md#image-manifest-property-descriptions"
S_INDEX = "image-spec image-index.md#image-index-property-descriptions"
S_CONFIG = "image-spec config.md#properties"
S_ANNOT = "image-spec annotations.md#rules"
S_EMPTY = "image-spec manifest.md#guidance-for-an-empty-descriptor"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # of {}

# Registered algorithms (descriptor.md); blake3 is in the 1.1 registry with 64 hex characters.
KNOWN_ALGORITHMS = frozenset({"sha256", "sha512", "blake3"})
_BLAKE3 = re.compile(r"[a-f0-9]{64}")

# GOOS / GOARCH values, which platform.os and platform.architecture SHOULD use.
KNOWN_OS = frozenset({"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios",
                      "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1",
                      "windows", "zos"})
KNOWN_ARCH = frozenset({"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64",
                        "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
                        "ppc64", "ppc64le", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64",
                        "wasm"})
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]*\Z")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def check_digest(sink: Sink, ptr: str, value: Any) -> None:
    if not isinstance(value, str):
        return
    if DIGEST_RE.fullmatch(value) is None:
        # The schema reports the grammar; only a trailing newline slips through its `$`.
        if DIGEST_RE.match(value) is not None:
            sink.error(ptr, f"digest {value!r} ends with a newline", S_DIGEST,
                       "remove the trailing newline", "image.digest.grammar")
        return
    algo, encoded = value.split(":", 1)
    problem = digest_problem(value)
    if problem is None and algo == "blake3" and not _BLAKE3.fullmatch(encoded):
        problem = f"blake3 digests are 64 lowercase hex characters, got {len(encoded)} in {value!r}"
    if problem:
        sink.error(ptr, problem, S_DIGEST, "use the lowercase hex encoding of the full hash",
                   "image.digest.encoding")
    elif algo not in KNOWN_ALGORITHMS:
        sink.warn(ptr, f"digest algorithm {algo!r} is not registered", S_DIGEST,
                  "use sha256, which every implementation verifies", "image.digest.algorithm")


def check_annotations(sink: Sink, ptr: str, value: Any) -> None:
    if not isinstance(value, dict):
        return
    for key in value:
        if not isinstance(key, str) or "." not in key or key.strip() != key or " " in key:
            sink.warn(ptr + pointer(key), f"annotation key {key!r} is not in reverse domain notation",
                      S_ANNOT, "name keys like com.example.key", "image.annotations.key")


def check_platform(sink: Sink, ptr: str, plat: Any, *, attestation: bool = False) -> None:
    if not isinstance(plat, dict) or attestation:
        return
    os_ = plat.get("os")
    arch = plat.get("architecture")
    if isinstance(os_, str) and os_ not in KNOWN_OS:
        sink.warn(ptr + "/os", f"platform os {os_!r} is not a known GOOS value", S_PLATFORM,
                  "use a GOOS value such as linux or windows", "image.platform.os")
    if isinstance(arch, str) and arch not in KNOWN_ARCH:
        sink.warn(ptr + "/architecture", f"platform architecture {arch!r} is not a known GOARCH value",
                  S_PLATFORM, "use a GOARCH value such as amd64 or arm64", "image.platform.architecture")


def check_descriptor(sink: Sink, ptr: str, d: Any) -> None:
    if not isinstance(d, dict):
        return
    check_digest(sink, ptr + "/digest", d.get("digest"))
    annotations = d.get("annotations")
    check_annotations(sink, ptr + "/annotations", annotations)
    attestation = isinstance(annotations, dict) and \
        annotations.get("vnd.docker.reference.type") == "attestation-manifest"
    check_platform(sink, ptr + "/platform", d.get("platform"), attestation=attestation)
    urls = d.get("urls")
    if isinstance(urls, list):
        for i, u in enumerate(urls):
            if isinstance(u, str) and not _URI.match(u):
                sink.error(f"{ptr}/urls/{i}", f"url {u!r} is not an RFC 3986 URI", S_DESC,
                           "use an absolute URL such as https://example.com/blob",
                           "image.descriptor.urls-uri")
            elif isinstance(u, str) and not u.startswith(("http://", "https://")):
                sink.warn(f"{ptr}/urls/{i}", f"url {u!r} does not use http or https", S_DESC,
                          "use an http or https URL", "image.descriptor.urls")
    data = d.get("data")
    if isinstance(data, str):
        _check_data(sink, ptr, data, d.get("digest"), d.get("size"))
    if d.get("mediaType") == mt.OCI_EMPTY and (d.get("digest") != EMPTY_DIGEST or d.get("size") != 2):
        sink.error(ptr, "an empty descriptor must name the 2-byte blob {} "
                   f"({EMPTY_DIGEST}, size 2)", S_EMPTY,
                   "point the empty descriptor at the blob {}", "image.descriptor.empty")


def _check_data(sink: Sink, ptr: str, data: str, digest: Any, size: Any) -> None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        sink.error(ptr + "/data", "data is not valid base64", S_DATA,
                   "encode the content with standard base64 (RFC 4648)", "image.descriptor.data-base64")
        return
    if isinstance(size, int) and not isinstance(size, bool) and len(raw) != size:
        sink.error(ptr + "/data", f"data decodes to {len(raw)} bytes but size is {size}", S_DATA,
                   "set size to the length of the decoded data", "image.descriptor.data-size")
    if not isinstance(digest, str) or digest_problem(digest) is not None:
        return
    try:
        hasher = new_hasher(digest)
    except InvalidArgumentError:  # blake3 or an unregistered algorithm: nothing to compare
        return
    hasher.update(raw)
    actual = f"{hasher.name}:{hasher.hexdigest()}"
    if actual != digest:
        sink.error(ptr + "/data", f"data hashes to {actual}, not {digest}", S_DATA,
                   "set digest to the hash of the decoded data", "image.descriptor.data-digest")


def check_descriptor_doc(sink: Sink, doc: Any) -> None:
    check_descriptor(sink, "", doc)


def check_manifest(sink: Sink, doc: Any) -> None:
    if not isinstance(doc, dict):
        return
    if "mediaType" not in doc:
        sink.warn("", "manifest has no mediaType", S_MANIFEST,
                  f"set mediaType to {mt.OCI_MANIFEST}", "image.manifest.media-type")
    config = doc.get("config")
    check_descriptor(sink, "/config", config)
    layers = doc.get("layers")
    if isinstance(layers, list):
        for i, layer in enumerate(layers):
            check_descriptor(sink, f"/layers/{i}", layer)
        if not layers:
            sink.warn("/layers", "layers is empty", S_MANIFEST,
                      f"for portability add one layer; artifacts can use the empty descriptor ({mt.OCI_EMPTY})",
                      "image.manifest.layers-empty")
        elif isinstance(config, dict) and config.get("mediaType") == mt.OCI_CONFIG:
            for i, layer in enumerate(layers):
                lt = layer.get("mediaType") if isinstance(layer, dict) else None
                if isinstance(lt, str) and not mt.is_layer(lt):
                    sink.warn(f"/layers/{i}/mediaType", f"{lt!r} is not a layer media type, yet the "
                              "config is an image config", S_MANIFEST,
                              "use an application/vnd.oci.image.layer.v1.tar media type",
                              "image.manifest.layer-media-type")
    check_descriptor(sink, "/subject", doc.get("subject"))
    check_annotations(sink, "/annotations", doc.get("annotations"))
    if isinstance(config, dict) and config.get("mediaType") == mt.OCI_EMPTY and "artifactType" not in doc:
        sink.error("", "artifactType is required when config is the empty descriptor", S_MANIFEST,
                   "set artifactType to the artifact's media type", "image.manifest.artifact-type")


def check_index(sink: Sink, doc: Any) -> None:
    if not isinstance(doc, dict):
        return
    if "mediaType" not in doc:
        sink.warn("", "index has no mediaType", S_INDEX, f"set mediaType to {mt.OCI_INDEX}",
                  "image.index.media-type")
    manifests = doc.get("manifests")
    if isinstance(manifests, list):
        for i, m in enumerate(manifests):
            check_descriptor(sink, f"/manifests/{i}", m)
    check_descriptor(sink, "/subject", doc.get("subject"))
    check_annotations(sink, "/annotations", doc.get("annotations"))


def check_config(sink: Sink, doc: Any) -> None:
    if not isinstance(doc, dict):
        return
    check_platform(sink, "", {"os": doc.get("os"), "architecture": doc.get("architecture")})
    created = doc.get("created")
    if isinstance(created, str) and not _RFC3339.fullmatch(created):
        sink.error("/created", f"created {created!r} is not an RFC 3339 date-time", S_CONFIG,
                   "write it like 2024-01-31T12:00:00Z", "image.config.created")
    cfg = doc.get("config")
    if isinstance(cfg, dict):
        env = cfg.get("Env")
        if isinstance(env, list):
            check_env(sink, "/config/Env", env, S_CONFIG, "image.config.env")
    rootfs = doc.get("rootfs")
    if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
        for i, d in enumerate(rootfs["diff_ids"]):
            check_digest(sink, f"/rootfs/diff_ids/{i}", d)


def check_env(sink: Sink, ptr: str, env: list[Any], spec: str, rule: str) -> None:
    for i, e in enumerate(env):
        if isinstance(e, str) and (("=" not in e) or e.startswith("=")):
            sink.error(f"{ptr}/{i}", f"env entry {e!r} is not KEY=VALUE", spec,
                       "write each entry as NAME=value", rule)


def check_layout(sink: Sink, doc: Any) -> None:
    """The oci-layout header has no rule beyond its schema."""


# Where a schema error points -> the spec section to cite, longest prefix first.
SPEC_PREFIXES: dict[str, list[tuple[str, str]]] = {
    "manifest": [("/config", S_DESC), ("/layers", S_DESC), ("/subject", S_DESC), ("", S_MANIFEST)],
    "index": [("/manifests", S_DESC), ("/subject", S_DESC), ("", S_INDEX)],
    "config": [("", S_CONFIG)],
    "descriptor": [("", S_DESC)],
    "layout": [("", "image-spec image-layout.md#oci-layout-file")],
}
