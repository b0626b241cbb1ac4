"""ocix.jobs.registry.sbom's reading over tars built here, through the flattened-filesystem
reader of `ocix cat`: merged /usr symlinks, status.d, busybox links, a hostile entry refused,
a layer whose digest does not match, and which layers are streamed again for data."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from ocix.errors import OcixError
from ocix.jobs.images.imagefs import ImageFS, empty, flatten
from ocix.jobs.registry.sbom import read_packages
from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.oci.digest import sha256_digest
from ocix.registry.upload import verified
from tests.helpers import tar_bytes

F, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
APK_DB = b"C:Q1=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\nC:Q2=\nP:zlib\nV:1.3-r0\nA:x86_64\n"
STANZA = b"Package: base-files\nVersion: 12.4\nArchitecture: amd64\n"
TZ = b"Package: tzdata\nVersion: 2024a-0\nArchitecture: all\nSource: tzdata-src (1)\n"
BANNER = b"\x7fELF....BusyBox v1.36.1 (2023-05-18) multi-call binary.\x00"


def tar(*members: tuple[str, bytes, Any]) -> bytes:
    return tar_bytes([(name, kind, body, 0o644, 0) for name, kind, body in members])


class Source:
    """Layer blobs by digest; records each layer opened, in order."""

    def __init__(self, tars: list[bytes]) -> None:
        self.blobs = {sha256_digest(b): b for b in tars}
        self.descs = [Descriptor(mt.OCI_LAYER, sha256_digest(b), len(b)) for b in tars]
        self.opened: list[int] = []

    def __call__(self, desc: Descriptor) -> Iterable[bytes]:
        self.opened.append(self.descs.index(desc) + 1)
        data = self.blobs[desc.digest]
        return iter([data[i:i + 4096] for i in range(0, len(data), 4096)])

    def image(self) -> ImageFS:
        ifs = empty("test", "sha256:0", "sha256:1", "linux/amd64", self.descs,
                    [f"step {i + 1}" for i in range(len(self.descs))])
        flatten(ifs, self)
        return ifs


def test_merged_usr_status_d_and_only_the_database_layers_streamed_again() -> None:
    src = Source([tar(("usr/lib/", D, ""), ("lib", S, "usr/lib"), ("etc/x", F, b"x")),
                  tar(("usr/lib/apk/db/installed", F, APK_DB), ("etc/y", F, b"y")),
                  tar(("var/lib/dpkg/status.d/base", F, STANZA),
                      ("var/lib/dpkg/status.d/base.md5sums", F, b"0123  etc/x\n"),
                      ("var/lib/dpkg/status.d/tz", F, TZ)),
                  tar(("etc/z", F, b"z"))])
    ifs = src.image()
    assert src.opened == [1, 2, 3, 4]
    pkgs, read = read_packages(ifs, src)
    assert src.opened == [1, 2, 3, 4, 2, 3]  # each layer holding a database once, bottom first
    assert [(p.kind, p.name, p.version, p.arch, p.source) for p in pkgs] == [
        ("apk", "musl", "1.2.4-r2", "x86_64", "musl"), ("apk", "zlib", "1.3-r0", "x86_64", ""),
        ("deb", "base-files", "12.4", "amd64", ""), ("deb", "tzdata", "2024a-0", "all", "tzdata-src")]
    assert read == ["/lib/apk/db/installed", "/var/lib/dpkg/status.d/"]


def test_busybox_is_one_package_with_its_hard_and_symbolic_links() -> None:
    src = Source([tar(("usr/bin/busybox", F, BANNER), ("bin", S, "usr/bin"),
                      ("usr/bin/ls", H, "usr/bin/busybox"), ("usr/bin/cat", H, "usr/bin/busybox"),
                      ("usr/sbin/init", S, "/bin/busybox"), ("usr/bin/sh", S, "ls"),
                      ("usr/bin/other", F, b"not busybox"), ("usr/bin/loop", S, "loop")),
                  tar(("etc/hostname", F, b"h\n"))])
    ifs = src.image()
    pkgs, read = read_packages(ifs, src)
    assert src.opened == [1, 2, 1]
    assert [(p.name, p.version, p.kind, p.applets) for p in pkgs] == [("busybox", "1.36.1", "busybox", 4)]
    assert read == ["/usr/bin/busybox"]


def test_a_package_database_naming_busybox_means_no_binary_is_read() -> None:
    db = APK_DB + b"\nC:Q3=\nP:busybox\nV:1.36.1-r5\nA:x86_64\n"
    src = Source([tar(("bin/busybox", F, BANNER), ("bin/ls", S, "busybox")),
                  tar(("lib/apk/db/installed", F, db))])
    pkgs, _ = read_packages(src.image(), src)
    assert src.opened == [1, 2, 2]
    assert [p.name for p in pkgs] == ["busybox", "musl", "zlib"]


def test_whiteouts_and_opaque_dirs_hide_databases_of_lower_layers() -> None:
    src = Source([tar(("var/lib/dpkg/status", F, TZ), ("lib/apk/db/installed", F, APK_DB)),
                  tar(("var/lib/.wh.dpkg", F, b""), ("lib/apk/db/.wh..wh..opq", F, b""))])
    assert read_packages(src.image(), src) == ([], [])
    assert src.opened == [1, 2]


def test_a_hostile_entry_at_a_database_path_is_refused() -> None:
    src = Source([tar(("var/lib/dpkg/", D, ""),
                      ("var/lib/dpkg/status", S, "../../../../etc/shadow"))])
    with pytest.raises(OcixError) as e:
        read_packages(src.image(), src)
    assert e.value.message == ("refusing /var/lib/dpkg/status in test: layer 1 (step 1) has it as "
                               "a hostile symlink 'var/lib/dpkg/status': symlink leaves the root "
                               "(-> ../../../../etc/shadow)")


def test_a_layer_that_does_not_match_its_digest_is_refused_at_its_end() -> None:
    data = tar(("var/lib/dpkg/status", F, TZ))
    desc = Descriptor(mt.OCI_LAYER, sha256_digest(data + b"x"), len(data))
    chunks: Iterator[bytes] = verified(desc, [data], what="layer", writes=False)
    assert next(chunks) == data
    with pytest.raises(OcixError) as e:
        next(chunks)
    assert e.value.message == f"layer {desc.digest} has digest {sha256_digest(data)}: refused"
    with pytest.raises(OcixError) as e:
        list(verified(Descriptor(mt.OCI_LAYER, desc.digest, 3), [data], what="layer",
                      writes=False))
    assert e.value.message == f"layer {desc.digest} is longer than its descriptor's 3 bytes: refused"
