"""A real root filesystem on disk as lab layers: walk it, diff two walks, run a command in it.

A layer is what one build step changed, the way a container engine's diff of the upper dir
is: new and changed paths become entries (hardlinked names of one inode stay hardlinks),
removed paths become whiteouts (only the topmost removed path: a removed dir hides its
children).  The lab's layer writer then puts fixed mtimes and a fixed order on them, so
the same tree always gives the same layer (docs/real-images.md).
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import OcixError
from .entries import Dir, Entry, File, Hardlink, HostFile, Symlink, Whiteout

# Never part of a layer: the kernel's and the runtime's mounts, and the files a runtime
# bind-mounts into every container.
SKIP_BELOW = ("proc", "sys", "dev", "run/lock")
SKIP_FILES = ("etc/resolv.conf", "etc/hostname", "etc/hosts")


@dataclass(frozen=True)
class Sig:
    """What a walk records of one path: enough to see any change to it."""

    kind: str  # "f" file, "d" dir, "l" symlink
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int  # changes on chmod, chown and link count changes too
    ino: int
    nlink: int
    target: str = ""


def _skipped(rel: str) -> bool:
    return rel in SKIP_FILES or any(rel.startswith(d + "/") for d in SKIP_BELOW)


def walk(root: Path) -> dict[str, Sig]:
    """Every file, dir and symlink under `root` (relative paths), without the skipped ones.
    Device nodes, FIFOs and sockets are left out: no image carries them."""
    out: dict[str, Sig] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(root / rel if rel else root) as it:
            for e in it:
                path = f"{rel}/{e.name}" if rel else e.name
                if _skipped(path):
                    continue
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    kind = "d"
                    stack.append(path)
                elif stat.S_ISREG(st.st_mode):
                    kind = "f"
                elif stat.S_ISLNK(st.st_mode):
                    kind = "l"
                else:
                    continue
                out[path] = Sig(kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                st.st_size if kind == "f" else 0, st.st_mtime_ns,
                                st.st_ctime_ns, st.st_ino, st.st_nlink,
                                os.readlink(e.path) if kind == "l" else "")
    return out


def _same(old: Sig | None, new: Sig) -> bool:
    if old is None or old.kind != new.kind:
        return False
    if new.kind == "d":  # a dir's ctime moves with its entries; its mtime says as much
        return (old.mode, old.uid, old.gid, old.mtime_ns) == (new.mode, new.uid, new.gid,
                                                                new.mtime_ns)
    return old == new


def changes(root: Path, before: Mapping[str, Sig], after: Mapping[str, Sig]) -> list[Entry]:
    """The entries of a layer that turns tree `before` into tree `after` (both walks of root)."""
    changed = sorted(p for p, s in after.items() if not _same(before.get(p), s))
    entries: list[Entry] = []
    first_name: dict[int, str] = {}  # inode -> the first changed name written for it
    for p in changed:
        s = after[p]
        old = before.get(p)
        if old is not None and old.kind != s.kind and old.kind == "d":
            # A dir replaced by a file: the dir's children must go too.
            entries.append(Whiteout(p))
        if s.kind == "d":
            entries.append(Dir(p, s.mode, s.uid, s.gid))
        elif s.kind == "l":
            entries.append(Symlink(p, s.target))
        elif s.nlink > 1 and s.ino in first_name:
            entries.append(Hardlink(p, first_name[s.ino]))
        else:
            if s.nlink > 1:
                first_name[s.ino] = p
            entries.append(File(p, HostFile(root / p), s.mode, s.uid, s.gid))
    gone = sorted(p for p in before if p not in after)
    for p in gone:
        parent = p.rpartition("/")[0]
        # Under a removed dir (or a dir now a file): the parent's whiteout covers it.
        if parent and (parent not in after or after[parent].kind != "d"):
            continue
        entries.append(Whiteout(p))
    return entries


def run_in(root: Path, command: str, *, env: Mapping[str, str], timeout: float = 900) -> str:
    """Run `/bin/sh -c command` chrooted in `root` with /proc, /dev and the host's DNS, in a
    private mount namespace (nothing stays mounted when it ends); returns its output."""
    setup = (
        'set -e; r="$1"; shift; '
        'mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; '
        # resolv.conf is skipped by walk(): it is the runtime's, as in any container.
        ': > "$r/etc/resolv.conf"; mount --bind /etc/resolv.conf "$r/etc/resolv.conf"; '
        'exec chroot "$r" /bin/sh -c "$1"'
    )
    argv = ["unshare", "--mount", "--propagation", "private", "--fork", "/bin/sh", "-c", setup,
            "sh", str(root), command]
    etc = Path(root, "etc")
    times = etc.stat()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                           "/sbin:/bin", **env})
    except subprocess.TimeoutExpired:
        raise OcixError(f"`{command}` did not finish in {timeout:.0f}s") from None
    finally:
        Path(root, "etc/resolv.conf").unlink(missing_ok=True)
        # the mount point came and went: /etc itself must not look changed
        os.utime(etc, ns=(times.st_atime_ns, times.st_mtime_ns))
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise OcixError(f"`{command}` failed (exit {proc.returncode}): {tail[0]}")
    return proc.stdout
