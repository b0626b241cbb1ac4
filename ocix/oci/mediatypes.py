"""OCI and Docker media types, and what each one is."""

from __future__ import annotations

import re

# The grammar of schemas/image/defs.schema.json's mediaType (RFC 6838 type/subtype names).
MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/"
                           r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIGS = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYERS = frozenset({OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_NONDIST,
                    OCI_LAYER_NONDIST_GZIP, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN})

# What a registry resolve sends, in containerd's order (docs/sources.md).
RESOLVE_ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX, "*/*"])

# The empty descriptor's bytes: "{}" (image-spec, manifest.md "Guidance for an Empty Descriptor").
EMPTY_JSON = b"{}"


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFESTS


def is_index(media_type: str) -> bool:
    return media_type in INDEXES


def is_layer(media_type: str) -> bool:
    return media_type in LAYERS or media_type.startswith("application/vnd.oci.image.layer.")


def is_config(media_type: str) -> bool:
    return media_type in CONFIGS


def layer_compression(media_type: str) -> str:
    """'gzip', 'zstd' or '' (uncompressed)."""
    if media_type.endswith("+gzip") or media_type.endswith(".tar.gzip"):
        return "gzip"
    if media_type.endswith("+zstd"):
        return "zstd"
    return ""


def ref_key(media_type: str, digest: str) -> str:
    """containerd's remotes.MakeRefKey: the ingest ref for a blob of this type."""
    if is_manifest(media_type):
        kind = "manifest"
    elif is_index(media_type):
        kind = "index"
    elif is_layer(media_type):
        kind = "layer"
    elif is_config(media_type):
        kind = "config"
    else:
        kind = "unknown"
    return f"{kind}-{digest}"
