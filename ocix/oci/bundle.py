"""Root filesystems from snapshot mounts, and OCI runtime bundles runc and crun run directly.

A snapshot's mounts (overlay with lowerdir/upperdir, or a bind of one directory) can be read
two ways:
- `layered_reader(layer_dirs(mounts))` reads files through the layer directories (top first)
  the way overlayfs merges them (whiteouts and opaque directories honoured, symlinks resolved
  inside the rootfs), without mounting anything; `layer_dirs` gives None when the mounts are
  not a single overlay or bind; `ocix run` uses it for the USER lookup;
- `mounted(mounts)` mounts them read-only on a temp directory and always unmounts it again;
  `ocix bundle` copies the rootfs out of such a mount.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..errors import OcixError
from .specjson import go_key_order
from .user import ReadFile, expand_link, path_parts

BUNDLE_CGROUP_PREFIX = "/ocix-bundle"


class MountLike(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def options(self) -> list[str]: ...


def layer_dirs(mounts: Sequence[MountLike]) -> list[Path] | None:
    """Top-first directories whose merge is the rootfs, or None if it takes a real mount."""
    if len(mounts) != 1:
        return None
    m = mounts[0]
    if m.type == "bind" or "bind" in m.options or "rbind" in m.options:
        return [Path(m.source)]
    if m.type != "overlay":
        return None
    upper: list[Path] = []
    lower: list[Path] = []
    for opt in m.options:
        key, _, value = opt.partition("=")
        if key == "upperdir":
            upper = [Path(value)]
        elif key == "lowerdir":
            lower = [Path(p) for p in value.split(":") if p]
    return upper + lower if lower else None


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _lookup(dirs: list[Path], name: str) -> tuple[Path | None, list[Path]]:
    """One path component in a merged directory: (topmost entry, dirs merging below it)."""
    merged: list[Path] = []
    for d in dirs:
        p = d / name
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            if _is_opaque(d):
                break
            continue
        if _is_whiteout(st):
            break
        if stat.S_ISDIR(st.st_mode):
            merged.append(p)
            if _is_opaque(p):
                break
            continue
        if merged:  # a file below a directory is hidden by it
            break
        return p, []
    return (merged[0] if merged else None), merged


def layered_reader(layers: list[Path]) -> ReadFile:
    """read_file(path) over the overlay merge of `layers` (top first), root-confined."""
    def read(path: str) -> bytes | None:
        todo = path_parts(path)
        stack: list[list[Path]] = [list(layers)]  # merged dirs of each resolved component
        links = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            top, merged = _lookup(stack[-1], part)
            if top is None:
                return None
            if merged:
                stack.append(merged)
                continue
            if top.is_symlink():
                links += 1
                absolute, todo = expand_link(top, todo, links, path, "in the image")
                if absolute:
                    stack = stack[:1]
                continue
            if todo:  # a file used as a directory
                return None
            try:
                return top.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                return None
        return None

    return read


def _mount_options(m: MountLike) -> str:
    opts = [o for o in m.options if o not in ("rw",)]
    if "ro" not in opts:
        opts.append("ro")
    return ",".join(opts)


@contextmanager
def mounted(mounts: Sequence[MountLike], *, prefix: str = "ocix-rootfs-") -> Iterator[Path]:
    """Mount the snapshot mounts read-only on a fresh temp dir; unmount and remove it after."""
    target = Path(tempfile.mkdtemp(prefix=prefix))
    done: list[Path] = []
    try:
        for m in mounts:
            typ = "none" if m.type == "bind" else m.type
            opts = _mount_options(m)
            if m.type == "bind" and "rbind" not in m.options and "bind" not in m.options:
                opts = "bind," + opts
            r = subprocess.run(["mount", "-t", typ, "-o", opts, m.source, str(target)],
                               capture_output=True, text=True, check=False)
            if r.returncode != 0:
                raise OcixError(f"cannot mount the image rootfs on {target}: "
                                f"{(r.stderr or r.stdout).strip()}", hint="this needs root")
            done.append(target)
        yield target
    finally:
        for t in reversed(done):
            if subprocess.run(["umount", str(t)], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", str(t)], capture_output=True, check=False)
        try:
            target.rmdir()
        except OSError:
            pass


def bundle_spec(spec: dict[str, Any], container_id: str) -> dict[str, Any]:
    """The run spec made standalone: rootfs "rootfs", a cgroupsPath of its own.

    containerd's "/<namespace>/<id>" would land inside containerd's namespace cgroup; a bundle
    run by hand gets "/ocix-bundle/<id>", which runc and crun both accept (cgroupfs driver).
    """
    out = json.loads(json.dumps(spec))
    out.setdefault("root", {})["path"] = "rootfs"
    out.setdefault("linux", {})["cgroupsPath"] = f"{BUNDLE_CGROUP_PREFIX}/{container_id}"
    return out


def copy_tree(src: Path, dst: Path) -> None:
    """cp -a: ownership, modes, times, hard links, xattrs, device nodes kept."""
    dst.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["cp", "-a", "--", f"{src}/.", str(dst)], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        raise OcixError(f"cannot copy the rootfs to {dst}: {r.stderr.strip()}")


def empty_rootfs(directory: Path) -> Path:
    """DIR/rootfs, refused unless it is missing or empty (a bundle never overwrites one)."""
    rootfs = directory / "rootfs"
    if rootfs.exists() and any(rootfs.iterdir()):
        raise OcixError(f"{rootfs} exists and is not empty: choose a new directory")
    return rootfs


def prepare_bundle_dir(directory: Path, *, force: bool = False) -> bool:
    """Make DIR ready for a bundle; True if it was created here.

    A missing DIR is created; an existing one must be empty (its config.json would be
    overwritten), unless `force`.  A non-empty DIR/rootfs is refused even then.
    """
    try:
        if directory.is_dir():
            if not force and any(directory.iterdir()):
                raise OcixError(f"{directory} is not empty: a bundle needs a new or empty directory",
                                hint="choose another directory, or use --force to write into it")
            empty_rootfs(directory)
            return False
        if directory.exists():
            raise OcixError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True)
    except OSError as e:
        raise OcixError(f"cannot use {directory} for a bundle: {e.strerror or e}") from None
    return True


def write_bundle(directory: Path, spec: dict[str, Any], rootfs_source: Path | None = None) -> Path:
    """DIR/config.json (indented, Go field order) and DIR/rootfs (copied from rootfs_source).

    A failure leaves no half-filled rootfs behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rootfs = empty_rootfs(directory)
    rootfs.mkdir(exist_ok=True)
    config = directory / "config.json"
    try:
        if rootfs_source is not None:
            copy_tree(rootfs_source, rootfs)
        config.write_text(json.dumps(go_key_order(spec), indent=2) + "\n")
    except BaseException:
        shutil.rmtree(rootfs, ignore_errors=True)
        raise
    return config
