"""What `ocix validate TARGET` can be given: a file, stdin, an image layout, a runtime bundle.

Unreadable paths are UsageError (exit 2); anything that can be read but is wrong is a finding.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO

from ..errors import UsageError
from ..oci.descriptor import Descriptor
from ..oci.digest import digest_problem
from .document import MAX_DOC_BYTES, DocumentProblem, check_document, parse, validate_bytes
from .findings import Finding, Report, Severity
from .walker import TreeWalker, descriptor_list

S_LAYOUT = "image-spec image-layout.md"
S_BUNDLE = "runtime-spec bundle.md"


def _unreadable(path: str, e: OSError) -> UsageError:
    reason = e.strerror or str(e)
    return UsageError(f"cannot read {path}: {reason}",
                      hint="check the path and its permissions" if isinstance(e, PermissionError)
                      else "check the path")


def read_limited(path: str) -> bytes:
    """A file's bytes, at most MAX_DOC_BYTES + 1 of them (the +1 tells "too large")."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_DOC_BYTES + 1)
    except IsADirectoryError as e:
        raise UsageError(f"{path} is a directory") from e
    except OSError as e:
        raise _unreadable(path, e) from e


def read_stdin(stream: IO[bytes] | None = None) -> bytes:
    return (stream or sys.stdin.buffer).read(MAX_DOC_BYTES + 1)


def validate_file(path: str, kind: str | None = None, *, fast: bool = True) -> Report:
    """One JSON document; a config.json given as a file gets no root.path check (no bundle dir)."""
    data = read_stdin() if path == "-" else read_limited(path)
    return validate_bytes(data, kind, target=path, fast=fast)


def detect_dir(path: Path) -> str:
    return "layout" if (path / "oci-layout").exists() else "bundle"


def validate_dir(path: Path, kind: str | None = None, *, fast: bool = True) -> Report:
    try:
        os.listdir(path)  # the one place an unreadable directory becomes exit 2
    except OSError as e:
        raise _unreadable(str(path), e) from e
    found = kind or detect_dir(path)
    if found == "layout":
        return validate_layout(path)
    if found == "bundle":
        return validate_bundle(path, fast=fast)
    raise UsageError(f"{path} is a directory: --kind {found} needs a file",
                     hint="directories are validated as --kind layout or --kind bundle")


def validate_bundle(path: Path, *, fast: bool = True) -> Report:
    target = str(path)
    cfg = path / "config.json"
    try:
        st = cfg.stat()
    except FileNotFoundError:
        return Report("bundle", target, [Finding(
            Severity.ERROR, "", f"{path} has no config.json (and no oci-layout file)", S_BUNDLE,
            "create one with `runc spec`, or pass an image layout directory",
            "bundle.config-missing", "config.json")])
    except OSError as e:
        raise _unreadable(str(cfg), e) from e
    if not stat.S_ISREG(st.st_mode):
        return Report("bundle", target, [Finding(
            Severity.ERROR, "", "config.json is not a regular file", S_BUNDLE,
            "config.json must be a file", "bundle.config-not-file", "config.json")])
    data = read_limited(str(cfg))
    try:
        doc = parse(data, "config.json")
    except DocumentProblem as bad:
        return Report("bundle", target, [bad.finding])
    return Report("bundle", target, check_document(doc, "bundle", fast=fast, location="config.json",
                                                   bundle=path))


class _LayoutOpener:
    """blobs/<algorithm>/<encoded> under an image layout; refuses digests that are not paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, d: Descriptor) -> IO[bytes]:
        if digest_problem(d.digest) is not None:
            raise FileNotFoundError(f"invalid digest {d.digest!r}")
        algo, encoded = d.digest.split(":", 1)
        return open(self.root / "blobs" / algo / encoded, "rb")


def validate_layout(path: Path, *, check_layers: bool = True) -> Report:
    target = str(path)
    walker = TreeWalker(_LayoutOpener(path), check_layers=check_layers)
    header = path / "oci-layout"
    try:
        doc = parse(read_limited(str(header)), "oci-layout")
        walker.findings += check_document(doc, "layout", location="oci-layout")
    except UsageError:
        walker.add(Severity.ERROR, "oci-layout", "the oci-layout file is missing or unreadable",
                   S_LAYOUT + "#oci-layout-file", 'write {"imageLayoutVersion": "1.0.0"} to it',
                   "layout.header-missing")
    except DocumentProblem as bad:
        walker.findings.append(bad.finding)
    try:
        index = parse(read_limited(str(path / "index.json")), "index.json")
    except UsageError:
        walker.add(Severity.ERROR, "index.json", "index.json is missing or unreadable",
                   S_LAYOUT + "#indexjson-file", "an image layout needs an index.json",
                   "layout.index-missing")
        return Report("layout", target, walker.findings)
    except DocumentProblem as bad:
        walker.findings.append(bad.finding)
        return Report("layout", target, walker.findings)
    walker.findings += check_document(index, "index", location="index.json")
    if isinstance(index, dict):
        for i, d in enumerate(descriptor_list(index.get("manifests"))):
            walker.visit(d, f"index.json#/manifests/{i}")
        if not (path / "blobs").is_dir():
            walker.add(Severity.ERROR, "blobs", "the blobs directory is missing", S_LAYOUT + "#blobs",
                       "an image layout keeps its content under blobs/", "layout.blobs-missing")
    return Report("layout", target, walker.findings)


def validate_path(target: str, kind: str | None = None, *, fast: bool = True) -> Report:
    """Dispatch on what `target` is: '-' (stdin), a directory, or a file."""
    if target == "-":
        return validate_file("-", kind, fast=fast)
    path = Path(target)
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists() or path.is_symlink()
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read {target}: {e}") from e
    if not exists:
        raise UsageError(f"{target}: no such file or directory",
                         hint="give a JSON file, '-' for stdin, an image layout or a bundle directory")
    if is_dir:
        return validate_dir(path, kind, fast=fast)
    return validate_file(target, kind, fast=fast)

