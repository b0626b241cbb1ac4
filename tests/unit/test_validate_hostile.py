"""`ocix validate ... --check-layers` lists the same hostile entries as `ocix layers`: both come
from ocix.oci.fs.layerscan, through the walker for validate (gzip, zstd and repeated layers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from ocix.oci import mediatypes as mt
from ocix.oci.descriptor import Descriptor
from ocix.oci.digest import sha256_digest
from ocix.oci.fs import layerscan as ls
from ocix.validate.walker import validate_image_tree
from tests.hostile import D, F, H, Member, S, make_tar, write_layout

STACKS: list[list[list[Member]]] = [
    [[("a/", D, ""), ("a/dir", S, "/tmp")], [("a/dir/x", F, "")]],
    [[("l1", S, "l2"), ("l2", S, "../.."), ("ok", F, "")], [("l1/x", F, ""), ("h", H, "/etc/x")]],
    [[("a/", D, ""), ("a/.wh...", F, ""), ("../up", F, "")]],
    [[("etc/", D, ""), ("etc/passwd", F, "")], [("etc/.wh.passwd", F, "")]],  # harmless
]


def scanner(stack: list[list[Member]]) -> list[dict[str, object]]:
    tree = ls.Tree()
    out: list[dict[str, object]] = []
    for members in stack:
        r = ls.scan_members(ls.tar_members(iter([make_tar(members)])), tree)
        out += [{"entry": h.entry, "layer": h.layer, "kind": h.kind, "reason": h.reason,
                 "via": list(h.via)} for h in r.hostile]
    return out


def opener(layout: Path):  # type: ignore[no-untyped-def]
    def open_blob(d: Descriptor) -> bytes:
        return (layout / "blobs" / "sha256" / d.digest.split(":", 1)[1]).read_bytes()
    return open_blob


@pytest.mark.parametrize("stack", STACKS)
def test_validate_and_the_scanner_agree(stack: list[list[Member]], tmp_path: Path) -> None:
    root = write_layout(tmp_path, [make_tar(m) for m in stack])
    report = validate_image_tree(opener(tmp_path), root, hostile=True)
    doc = report.to_json()
    assert doc["hostile"] == scanner(stack)
    assert [f.rule for f in report.findings if f.rule == "tree.layer.hostile"] == \
        ["tree.layer.hostile"] * len(scanner(stack))
    assert "hostile" not in validate_image_tree(opener(tmp_path), root).to_json()


def test_zstd_and_repeated_layers_are_resolved_too(tmp_path: Path) -> None:
    """A zstd layer is read a second time for the scan, so is a digest seen lower down."""
    link = make_tar([("d", S, "/etc")])
    write = make_tar([("d/passwd", F, "")])
    root = write_layout(tmp_path, [link, write])
    manifest = json.loads((tmp_path / "blobs" / "sha256" / root.digest[7:]).read_bytes())
    z = zstandard.ZstdCompressor().compress(link)
    zd = Descriptor(mt.OCI_LAYER_ZSTD, sha256_digest(z), len(z))
    (tmp_path / "blobs" / "sha256" / zd.digest[7:]).write_bytes(z)
    # zstd link, gzip write, gzip write again (the same digest twice)
    manifest["layers"] = [zd.to_json(), manifest["layers"][1], manifest["layers"][1]]
    body = json.dumps(manifest).encode()
    md = Descriptor(mt.OCI_MANIFEST, sha256_digest(body), len(body))
    (tmp_path / "blobs" / "sha256" / md.digest[7:]).write_bytes(body)
    report = validate_image_tree(opener(tmp_path), md, hostile=True)
    assert [(h.entry, h.layer, h.reason) for h in report.hostile or []] == [
        ("d/passwd", 2, "written through symlink /d -> /etc (layer 1)"),
        ("d/passwd", 3, "written through symlink /d -> /etc (layer 1)")]
