"""`ocix info`'s rootless rows: the lab's rootless podman and dockerd, with their user namespace.

Cheap by design: the record `lab up --with-rootless` left (rootless.json), one scan of the lab
user's processes in /proc, and dockerd's /version and /info on its own socket. podman has no
daemon; the process that holds its user namespace is its pause process (`catatonit -P`), and
for the rootless dockerd it is dockerd itself, started inside rootlesskit's namespaces
(docs/rootless.md). Nothing here raises: a missing part is a row with a note.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import OcixError
from ...kernel.proc import PROC, processes, read_id_map
from .daemons import Daemon, DaemonUserns


def _userns_inode(pid: int | str, proc: Path) -> int | None:
    try:
        return int(os.readlink(proc / str(pid) / "ns" / "user").split("[")[1].rstrip("]"))
    except (OSError, IndexError, ValueError):
        return None


def userns_of(pid: int, process: str, proc: Path = PROC) -> DaemonUserns | None:
    """`pid`'s user namespace (against ours) and uid_map; None when it is gone."""
    host, inode = _userns_inode("self", proc), _userns_inode(pid, proc)
    if inode is None:
        return None
    try:
        uid_map = [f"{m.inside} {m.outside} {m.count}" for m in read_id_map(pid, "uid_map", proc)]
    except OcixError:  # it ended between the two reads
        return None
    return DaemonUserns(pid, process, None if host is None else inode != host, inode, uid_map)


def pause_pid(run_dir: str) -> int | None:
    """podman's pause process for this XDG_RUNTIME_DIR, from the pid file podman keeps there."""
    try:
        return int(Path(run_dir, "libpod", "tmp", "pause.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def find_process(uid: int, program: str, marker: str, proc: Path = PROC) -> int | None:
    """The first process of `uid` running `program` with `marker` in its argv (the lab's own
    dirs: another lab's rootless dockerd runs as the same user)."""
    for p in processes(proc):
        if p.uid() != uid:
            continue
        argv = p.argv()
        if argv and os.path.basename(argv[0]) == program and any(marker in a for a in argv):
            return p.pid
    return None


def rootless_daemons(lab_dir: str | None) -> list[Daemon]:
    """podman-rootless and docker-rootless rows for the lab in `lab_dir`; none without one.
    A record that cannot be read is one row saying so (info never fails)."""
    try:
        return _rootless_daemons(lab_dir)
    except (OcixError, OSError, TypeError, ValueError) as e:
        return [Daemon("rootless lab", lab_dir or "", "unreachable",
                       note=f"cannot read its record: {e}")]


def _rootless_daemons(lab_dir: str | None) -> list[Daemon]:
    from ...lab import rootless

    if not lab_dir:
        return []
    rs = rootless.RootlessState.load(Path(lab_dir).absolute())
    if rs is None or not rs.image or not rootless.user_exists(rs.user):
        return []
    pm = Daemon("podman-rootless", f"podman as {rs.user} ({rs.base})", rootless=True)
    pid = pause_pid(rs.run_dir)
    pm.user_namespace = userns_of(pid, "catatonit") if pid else None
    pm.storage, pm.storage_root = ["overlay"], f"{rs.base}/storage"
    try:
        from ...podman.client import Podman

        pm.version = Podman().binary_version()
    except OcixError:
        pass
    if pm.user_namespace is not None:
        pm.state, pm.pid, pm.note = "running", pm.user_namespace.pid, "pause process holds " \
            "the user namespace"
    else:
        pm.state = "idle"
        pm.note = f"no pause process: the next podman command as {rs.user} starts one"
    out = [pm]
    if rs.docker_socket:
        from .daemons import docker_probe

        d = docker_probe(f"unix://{rs.docker_socket}")
        d.name = "docker-rootless"
        pid = find_process(rs.uid, "dockerd", f"{rs.base}/")
        d.user_namespace = userns_of(pid, "dockerd") if pid else None
        out.append(d)
    elif rs.dockerd_error:
        out.append(Daemon("docker-rootless", "", "absent", rootless=True,
                          note=f"failed at `lab up`: {rs.dockerd_error}"))
    return out
