"""The lab's rootless part: an unprivileged user, rootless podman and a rootless dockerd as it.

`up` creates the user `ocixlab` (with subuid/subgid ranges) only if it is missing, pulls the
lab's busybox into that user's own podman storage and checks a container's uid_map, then
tries a rootless dockerd under rootlesskit. Why each flag is needed on this kind of VM is in
docs/rootless.md. Everything of the user lives in its home under lab-<hash of the lab dir>;
the lab dir keeps only rootless.json (root's record of what was started).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import OcixError
from ..kernel.proc import processes
from . import daemons
from .state import LabState, Paths, Proc, Progress

USER = "ocixlab"
MARKER = ".ocix-lab-user"  # in the home of a user the lab created: only such a user is purged
DOCKERD_ROOTLESS = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
# This VM refuses to raise these limits even to root; podman asks for more by default.
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


@dataclass
class RootlessState:
    user: str
    uid: int
    gid: int
    home: str
    base: str  # the user's directory for this lab: storage, runroot, XDG_RUNTIME_DIR, dockerd
    image: str = ""  # the busybox reference in the user's podman storage
    uid_map: str = ""  # what a rootless podman container read from /proc/self/uid_map at `up`
    dockerd: Proc | None = None
    docker_socket: str = ""
    dockerd_error: str = ""  # why the rootless dockerd could not start, word for word
    created_user: bool = False

    @property
    def run_dir(self) -> str:
        return f"{self.base}/run"

    def save(self, lab_root: Path) -> None:
        record_path(lab_root).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, lab_root: Path) -> RootlessState | None:
        try:
            data = json.loads(record_path(lab_root).read_text())
        except (FileNotFoundError, ValueError):
            return None
        proc = data.pop("dockerd", None)
        return cls(dockerd=Proc(**proc) if proc else None,
                   **{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def record_path(lab_root: Path) -> Path:
    return lab_root / "rootless.json"


def user_exists(name: str = USER) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _subid_lines(path: str, user: str) -> list[str]:
    try:
        return [ln for ln in Path(path).read_text().splitlines() if ln.split(":")[0] == user]
    except FileNotFoundError:
        return []


def _free_subid_start(path: str) -> int:
    """The first 65536-aligned start above every range in `path` (100000 on a fresh host)."""
    end = 100000
    try:
        for ln in Path(path).read_text().splitlines():
            parts = ln.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    except FileNotFoundError:
        pass
    return end


def ensure_user(progress: Progress) -> tuple[pwd.struct_passwd, bool]:
    """The lab user with subuid/subgid ranges; created (useradd -m) only when missing."""
    created = False
    if not user_exists():
        progress(f"creating the unprivileged user {USER}")
        r = subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-c", "ocix rootless lab", USER],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise OcixError(f"useradd {USER} failed: {r.stderr.strip()}")
        created = True
    pw = pwd.getpwnam(USER)
    if created:
        (Path(pw.pw_dir) / MARKER).write_text("created by `ocix lab up --with-rootless`\n")
    for path in ("/etc/subuid", "/etc/subgid"):
        if not _subid_lines(path, USER):  # useradd adds them from login.defs; older ones do not
            start = _free_subid_start(path)
            with open(path, "a") as f:
                f.write(f"{USER}:{start}:65536\n")
    return pw, created


def as_user(rs: RootlessState, argv: list[str], extra_env: dict[str, str] | None = None
            ) -> list[str]:
    """argv run as the lab user with its own HOME and XDG_RUNTIME_DIR and nothing else.

    runuser passes root's environment on; `env -i` drops it, so root's settings (the lab's
    CONTAINERS_* files above all) never reach the user's podman or dockerd."""
    env = {"HOME": rs.home, "XDG_RUNTIME_DIR": rs.run_dir, "USER": rs.user,
           "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           **(extra_env or {})}
    return ["runuser", "-u", rs.user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()),
            *argv]


def podman_argv(rs: RootlessState, *args: str) -> list[str]:
    return as_user(rs, ["podman", "--root", f"{rs.base}/storage", "--runroot", f"{rs.base}/runroot",
                        "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
                        "--runtime", "runc", "--events-backend", "file", *args])


def podman(rs: RootlessState, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run rootless podman as the lab user; raises OcixError with podman's own message."""
    try:
        r = subprocess.run(podman_argv(rs, *args), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as e:
        raise OcixError(f"rootless podman {' '.join(args[:2])} did not finish in {timeout:.0f}s") from e
    if r.returncode != 0:
        err = "\n".join(ln for ln in r.stderr.splitlines() if "is not a shared mount" not in ln)
        raise OcixError(f"rootless podman {' '.join(args[:2])} failed: {err.strip()}")
    return r


def podman_run_args(rs: RootlessState, *cmd: str, detach: bool = False, name: str = "") -> list[str]:
    """`podman run` arguments that work rootless on this VM, for the lab's busybox."""
    opts = ["run", "--network", "none", *ULIMITS, "-d" if detach else "--rm"]
    return [*opts, *(["--name", name] if name else []), rs.image, *cmd]


def _mkdirs(rs: RootlessState) -> None:
    for sub in ("", "/run", "/storage", "/runroot", "/docker"):
        d = Path(rs.base + sub)
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, rs.uid, rs.gid)
    os.chmod(rs.run_dir, 0o700)


def up(state: LabState, progress: Progress, *, with_dockerd: bool = True) -> RootlessState:
    lab_root = Path(state.dir)
    old = RootlessState.load(lab_root)
    if old and old.image and user_exists(old.user) and Path(old.base).is_dir() and \
            (old.dockerd is None or daemons.alive(old.dockerd)):
        return old
    pw, created = ensure_user(progress)
    tag = hashlib.sha256(str(lab_root).encode()).hexdigest()[:8]
    rs = RootlessState(user=USER, uid=pw.pw_uid, gid=pw.pw_gid, home=pw.pw_dir,
                       base=f"{pw.pw_dir}/lab-{tag}",
                       created_user=created or bool(old and old.created_user))
    _mkdirs(rs)
    rs.save(lab_root)
    progress(f"pulling busybox into {USER}'s rootless podman storage")
    rs.image = f"{state.registry}/library/busybox:latest"
    podman(rs, "pull", "--tls-verify=false", "--quiet", rs.image)
    r = podman(rs, *podman_run_args(rs, "cat", "/proc/self/uid_map"))
    rs.uid_map = " / ".join(" ".join(ln.split()) for ln in r.stdout.splitlines() if ln.strip())
    rs.save(lab_root)
    if with_dockerd:
        progress(f"starting a rootless dockerd as {USER}")
        _start_dockerd(rs, state, lab_root)
        rs.save(lab_root)
    return rs


def _start_dockerd(rs: RootlessState, state: LabState, lab_root: Path) -> None:
    """rootlesskit + dockerd as the user. Its default slirp4netns network needs /dev/net/tun,
    which this VM keeps at mode 0600, so the daemon shares the host's network namespace
    (rootlesskit --net=host) and manages no iptables or bridge; containers use --network none."""
    if not os.access(DOCKERD_ROOTLESS, os.X_OK):
        rs.dockerd_error = f"{DOCKERD_ROOTLESS} is missing (Debian's docker.io ships it)"
        return
    sock = f"{rs.run_dir}/docker.sock"
    Path(sock).unlink(missing_ok=True)
    env = {"DOCKERD_ROOTLESS_ROOTLESSKIT_NET": "host", "DOCKERD_ROOTLESS_ROOTLESSKIT_MTU": "1500",
           "DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER": "none"}
    argv = as_user(rs, [DOCKERD_ROOTLESS, "--data-root", f"{rs.base}/docker", "-H", f"unix://{sock}",
                        "--iptables=false", "--bridge=none", "--ip-masq=false",
                        "--ip-forward=false", "--insecure-registry", state.registry,
                        "--registry-mirror", f"http://{state.registry}"], env)
    proc = daemons.spawn("dockerd-rootless", argv, Paths(lab_root))
    try:
        daemons.wait_until("rootless dockerd", daemons.socket_ready(Path(sock)), proc, timeout=60)
    except OcixError as e:
        rs.dockerd_error = e.message
        kill_user_processes(rs.uid)
        return
    rs.dockerd, rs.docker_socket = proc, sock


def user_pids(uid: int) -> list[int]:
    return [p.pid for p in processes() if p.uid() == uid]


def kill_user_processes(uid: int, timeout: float = 10.0) -> int:
    """TERM, then KILL, every process of the lab user (podman's pause process, conmon, the
    containers, rootlesskit); the user exists only for the lab. Returns how many there were."""
    pids = user_pids(uid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in user_pids(uid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and user_pids(uid):
            time.sleep(0.05)
        if not user_pids(uid):
            break
    return len(pids)


def down(lab_root: Path, *, purge: bool, progress: Progress) -> list[str]:
    rs = RootlessState.load(lab_root)
    stopped: list[str] = []
    if rs is not None and user_exists(rs.user):
        if rs.image:
            progress(f"removing {rs.user}'s podman containers")
            try:
                podman(rs, "rm", "--all", "--force", "--time", "0", timeout=60)
            except OcixError as e:
                progress(str(e))
        if rs.dockerd is not None and daemons.alive(rs.dockerd):
            progress("stopping the rootless dockerd")
            daemons.stop(rs.dockerd, timeout=20)
            stopped.append("dockerd-rootless")
        if kill_user_processes(rs.uid):
            stopped.append(f"{rs.user}'s processes")
        rs.dockerd = None
        rs.save(lab_root)
    if purge:
        stopped += purge_user(progress)
        record_path(lab_root).unlink(missing_ok=True)
    return stopped


def purge_user(progress: Progress) -> list[str]:
    """userdel -r the lab user (only one the lab created) and drop its subuid/subgid lines."""
    if not user_exists():
        return []
    pw = pwd.getpwnam(USER)
    if not (Path(pw.pw_dir) / MARKER).exists():
        progress(f"user {USER} was not created by the lab; leaving it")
        return []
    kill_user_processes(pw.pw_uid)
    progress(f"removing the user {USER}")
    r = subprocess.run(["userdel", "-r", USER], capture_output=True, text=True, check=False)
    if r.returncode not in (0, 12):  # 12: home could not be removed entirely; retried below
        raise OcixError(f"userdel -r {USER} failed: {r.stderr.strip()}")
    if Path(pw.pw_dir).exists():  # overlay files owned by subordinate ids
        subprocess.run(["rm", "-rf", "--one-file-system", pw.pw_dir], check=False)
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = Path(path).read_text().splitlines(keepends=True) if Path(path).exists() else []
        keep = [ln for ln in lines if ln.split(":")[0] != USER]
        if keep != lines:
            Path(path).write_text("".join(keep))
    return [f"user {USER}"]


def components(lab_root: Path) -> list[tuple[str, int | None, bool, str, str, str]]:
    """(name, pid, running, address, version, log) rows for `lab status`."""
    rs = RootlessState.load(lab_root)
    if rs is None or not rs.image:
        return []
    usable = user_exists(rs.user) and Path(rs.base, "storage").is_dir()  # daemonless: no pid
    rows: list[tuple[str, int | None, bool, str, str, str]] = [
        (f"podman (rootless, {rs.user})", None, usable, rs.base, f"uid_map {rs.uid_map}", "")]
    if rs.dockerd is not None:
        running = daemons.alive(rs.dockerd)
        version = ""
        if running:
            from ..dockerapi.client import DockerClient

            try:
                with DockerClient(rs.docker_socket, timeout=5) as d:
                    version = f"{d.version().version} (rootless)"
            except OcixError as e:
                version = f"unreachable: {e.message}"
        rows.append(("dockerd-rootless", rs.dockerd.pid, running, f"unix://{rs.docker_socket}",
                     version, rs.dockerd.log))
    elif rs.dockerd_error:
        rows.append(("dockerd-rootless", None, False, "", f"failed: {rs.dockerd_error}", ""))
    return rows
