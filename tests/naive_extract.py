"""Extract a layer stack the naive way and say what changed outside the root.

Run as `unshare -m --propagation private python3 naive_extract.py T LAYER.tar...` (root), T an
empty directory.  In its private mount namespace it mounts a tmpfs on T, lays sentinel files
around the root dir T/l1/l2/root (T/s0, T/l1/s1, T/l1/l2/s2, T/etc/passwd, T/tmp/), bind-mounts
/usr read-only for tar's own binary and libraries and chroots into T, so that nothing the
extraction does can reach the host.  Each layer is extracted with GNU tar as a naive extractor
would: -P (absolute names and `..` kept, symlinks created at once), --keep-directory-symlink
(a directory entry follows an existing symlink).  Whiteouts are applied afterwards the way a
naive Go extractor does (RemoveAll of the joined name, symlinks in its parent followed).

Prints one JSON object: {"outside": [changes outside the root], "tar": [tar's errors]}.
Only the standard library: it runs before and after the chroot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile

ROOT = "/l1/l2/root"
WH, OPQ = ".wh.", ".wh..wh..opq"
SKIP = {"/usr", "/bin", "/lib", "/lib64", "/sbin"}


def snapshot() -> dict[str, tuple[object, ...]]:
    """Every path of T outside the root (the root dir itself included), with what identifies
    its content; directories by kind and mode only (their link count follows their subdirs)."""
    out: dict[str, tuple[object, ...]] = {}
    stack = ["/"]
    while stack:
        d = stack.pop()
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if p in SKIP:
                continue
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                out[p] = ("dir", st.st_mode)
                if p != ROOT:
                    stack.append(p)
            elif stat.S_ISLNK(st.st_mode):
                out[p] = ("symlink", os.readlink(p))
            else:
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                out[p] = ("file", st.st_mode, st.st_nlink, h)
    return out


def whiteouts(path: str) -> list[str]:
    with tarfile.open(path) as tar:
        return [m.name for m in tar.getmembers()
                if os.path.basename(m.name.rstrip("/")).startswith(WH)]


def remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def apply_whiteout(name: str) -> None:
    parent, base = os.path.split(name.rstrip("/"))
    d = os.path.join(ROOT, parent)  # the OS follows the symlinks in it
    remove(os.path.join(d, base))  # the .wh. file tar wrote
    if base == OPQ:
        try:
            for child in os.listdir(d):
                remove(os.path.join(d, child))
        except OSError:
            pass
    elif not base.startswith(WH + WH):
        remove(os.path.normpath(os.path.join(d, base[len(WH):])))


def main(top: str, layers: list[str]) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", top], check=True)
    os.makedirs(top + "/usr")
    subprocess.run(["mount", "--bind", "/usr", top + "/usr"], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", top + "/usr"], check=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        os.symlink(f"usr/{link}", f"{top}/{link}")
    for d in ("l1/l2/root", "etc", "tmp"):
        os.makedirs(f"{top}/{d}")
    for f in ("s0", "l1/s1", "l1/l2/s2", "etc/passwd"):
        with open(f"{top}/{f}", "w") as out:
            out.write("sentinel\n")
    plan = [(open(p, "rb"), whiteouts(p)) for p in layers]  # noqa: SIM115  # before the chroot
    subprocess.run(["/usr/bin/true"], check=True)  # subprocess's lazy imports, while we can
    os.chroot(top)
    os.chdir("/")
    before = snapshot()
    errors: list[str] = []
    for stream, wh in plan:
        r = subprocess.run(["/usr/bin/tar", "-x", "-P", "--keep-directory-symlink",
                            "--numeric-owner", "-f", "-", "-C", ROOT],
                           stdin=stream, capture_output=True, text=True, check=False)
        errors += [line for line in r.stderr.splitlines() if line]
        for name in wh:
            apply_whiteout(name)
    after = snapshot()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    json.dump({"outside": changed, "tar": errors}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
