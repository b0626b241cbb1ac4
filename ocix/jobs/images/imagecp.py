"""`ocix cp IMAGE:PATH DEST`: a file or a directory of an image's final filesystem, written out.

The tree comes from ocix.oci.fs.flatfs (whiteouts and opaque dirs applied, hostile entries left
out); each layer that holds wanted file data is streamed once.  Writing never follows a link:
the target must not exist yet, every file is created with O_EXCL|O_NOFOLLOW, and symlinks are
made last, so nothing the image says can make ocix write outside DEST (docs/imagefs.md).
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from ...containerd.connection import Connection
from ...errors import OcixError
from ...oci.fs.flatfs import DIR, FIFO, SYMLINK, Node
from .imagefs import ImageFS, find, layer_files


@dataclass(frozen=True)
class CopyResult:
    source: str  # the path in the image (after symlinks)
    dest: str
    files: int
    dirs: int
    symlinks: int
    bytes: int
    skipped: list[str]  # paths not written, with why


def target_path(src: Node, dest: str) -> str:
    """DEST itself, or DEST/NAME when DEST is an existing directory (like cp(1))."""
    if os.path.isdir(dest) and not os.path.islink(dest):
        return os.path.join(dest, posixpath.basename(src.path) or "rootfs")
    return dest


def copy_out(conn: Connection, ifs: ImageFS, path: str, dest: str,
             on_layer: Callable[[int, int], None] | None = None) -> CopyResult:
    src = find(ifs, path)
    if dest.endswith("/") and not os.path.isdir(dest):
        raise OcixError(f"directory {dest} does not exist", hint=f"create it: mkdir -p {dest}")
    top = target_path(src, dest)
    if os.path.lexists(top):
        raise OcixError(f"{top} already exists", hint="choose a new path, or remove it first")
    parent = os.path.dirname(os.path.abspath(top))
    if not os.path.isdir(parent):
        raise OcixError(f"{parent} is not a directory", hint=f"create it: mkdir -p {parent}")
    try:
        return _write(conn, ifs, src, top, on_layer)
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        left = f"what was written so far is in {top}" if os.path.lexists(top) else None
        raise OcixError(f"cannot write{where}: {e.strerror or e}", hint=left) from None


def _write(conn: Connection, ifs: ImageFS, src: Node, top: str,
           on_layer: Callable[[int, int], None] | None) -> CopyResult:
    nodes = [src, *ifs.fs.under(src.path)] if src.kind == DIR else [src]
    base = src.path.rstrip("/")
    wanted: dict[int, dict[int, list[str]]] = {}
    dirs: list[tuple[str, Node]] = []
    links: list[tuple[str, Node]] = []
    skipped: list[str] = []
    modes: dict[str, int] = {}
    files = size = 0
    for n in nodes:
        rel = n.path[len(base):].lstrip("/") if n is not src else ""
        out = os.path.join(top, rel) if rel else top
        up = ifs.fs.get(posixpath.dirname(n.path))
        if n is not src and up is not None and up.kind != DIR:
            skipped.append(f"{n.path}: its parent is a {up.kind} in the image")
            continue
        if n.kind == DIR:
            os.mkdir(out, 0o700)  # opened up to its own mode once its contents are written
            dirs.append((out, n))
        elif n.kind == SYMLINK:
            links.append((out, n))
        elif n.kind == FIFO:
            os.mkfifo(out, n.mode & 0o777)
        elif n.regular:
            layer, member = n.source
            modes[out] = n.mode & 0o777
            if member < 0 or n.size == 0:
                os.close(_create(out, modes[out]))
            else:
                wanted.setdefault(layer, {}).setdefault(member, []).append(out)
            files += 1
            size += n.size
        else:
            skipped.append(f"{n.path}: {n.kind}")
    for i, layer in enumerate(sorted(wanted)):
        if on_layer:
            on_layer(i + 1, len(wanted))
        for member, chunks in layer_files(conn, ifs.descriptors[layer - 1], set(wanted[layer])):
            first, *more = wanted[layer][member]
            with os.fdopen(_create(first, modes[first]), "wb") as f:
                for block in chunks:
                    f.write(block)
            for out in more:  # hardlinks to the same data: copies of the file just written
                with open(first, "rb") as r, os.fdopen(_create(out, modes[out]), "wb") as w:
                    shutil.copyfileobj(r, w)
    for out, n in links:
        os.symlink(n.linkname, out)  # never followed by ocix; absolute targets stay as written
    for out, n in reversed(dirs):
        os.chmod(out, n.mode & 0o777)
    return CopyResult(src.path, top, files, len(dirs), len(links), size, skipped)


def _create(out: str, mode: int) -> int:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    os.fchmod(fd, mode)  # the umask does not decide an image file's mode
    return fd
