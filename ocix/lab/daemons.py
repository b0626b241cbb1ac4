"""Start and stop the lab's real daemons: containerd, the distribution registry, dockerd.

Each daemon runs in its own session with its log in logs/, and is stopped only by the pid that
`up` recorded, after checking that the pid still runs the command we started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .. import programs
from ..errors import OcixError, UnreachableError
from ..kernel.proc import processes
from .state import Paths, Proc


def which(cmd: str) -> str:
    """The lab's daemon binary, or a clear error naming `make setup`."""
    found = programs.find(cmd)
    if not found:
        raise OcixError(f"{cmd} is not installed", hint="run `make setup` to install the lab's packages")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True if a listener could bind 127.0.0.1:`port` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Go's listeners set SO_REUSEADDR, so a port left in TIME_WAIT by our own registry's
        # last connections is free to it; only a socket bound there now makes it taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spawn(name: str, argv: list[str], paths: Paths, env: dict[str, str] | None = None) -> Proc:
    paths.logs.mkdir(parents=True, exist_ok=True)
    log = paths.logs / f"{name}.log"
    with open(log, "wb") as out:  # one log per run: the tail quoted on failure is this run's
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **(env or {})},
                                cwd=str(paths.root))
    _children[proc.pid] = proc
    return Proc(name=name, pid=proc.pid, argv=argv, log=str(log))


# Daemons started by this process: poll() is exact, where /proc can briefly show an empty
# cmdline for a process that has just started.
_children: dict[int, subprocess.Popen[bytes]] = {}


def alive(proc: Proc) -> bool:
    """True if the pid still runs the program we started (pids get reused)."""
    child = _children.get(proc.pid)
    if child is not None:
        return child.poll() is None
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        _reap(proc.pid)
        return False
    first = cmdline[0].decode(errors="replace") if cmdline else ""
    return first in ("", proc.argv[0])


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(proc: Proc, timeout: float = 15.0) -> None:
    if not alive(proc):
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(proc.pid)
        if not alive(proc):
            return
        time.sleep(0.05)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(100):
        _reap(proc.pid)
        if not alive(proc):
            return
        time.sleep(0.05)


def stop_strays(name: str, program: str, matches: Callable[[list[str]], bool]) -> list[int]:
    """Stop every process whose argv[0] ends with `program` and whose argv `matches`; their pids.

    For the children a daemon leaves behind when it goes (shims, conmon), found by command line."""
    stopped = []
    for p in processes():
        argv = p.argv()
        if argv and argv[0].endswith(program) and matches(argv):
            stop(Proc(name, p.pid, [argv[0]], ""), timeout=5)
            stopped.append(p.pid)
    return stopped


def tail(path: str, lines: int = 8) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until(what: str, ready: Callable[[], bool], proc: Proc, timeout: float = 30.0) -> None:
    """Wait for readiness; a daemon that dies or hangs is stopped and its log quoted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive(proc):
            raise OcixError(f"{proc.name} exited while starting; last log lines:\n{tail(proc.log)}",
                            hint=f"see {proc.log}")
        time.sleep(0.05)
    stop(proc)
    raise UnreachableError(f"{what} did not become ready in {timeout:.0f}s; last log lines:\n"
                           f"{tail(proc.log, 3)}", hint=f"see {proc.log}")


def socket_ready(path: Path) -> Callable[[], bool]:
    def check() -> bool:
        if not path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(path))
                return True
            except OSError:
                return False
    return check


def http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError as e:
            return e.code == 401
        except OSError:
            return False
    return check


# -- containerd --------------------------------------------------------------------------------

def containerd_config(paths: Paths, registry: str, crun: str) -> str:
    """A private containerd: own root, state, sockets; runc via the v2 shim; CRI enabled with
    the handlers `runc` and `crun` (`crun` is the binary the v2 shim calls for that handler)."""
    d = paths.containerd_dir
    return f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"

[grpc]
  address = "{paths.containerd_socket}"

[ttrpc]
  address = "{paths.containerd_socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  # Sandboxes ask for oom_score_adj -998, which this VM refuses even to root
  # (no CAP_SYS_RESOURCE in its bounding set: docs/vm-limits.md).
  restrict_oom_score_adj = true
  sandbox_image = "{registry}/library/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
        BinaryName = "{crun}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    # Lab-owned: the host's /etc/cni/net.d is never read.
    bin_dir = "/usr/lib/cni"
    conf_dir = "{paths.cni_dir}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{paths.hosts_dir}"
"""


def start_containerd(paths: Paths, registry: str) -> Proc:
    from ..runtimes import crun_binary

    binary = which("containerd")
    d = paths.containerd_dir
    for sub in ("root", "state", "opt"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    paths.cni_dir.mkdir(parents=True, exist_ok=True)
    config = d / "config.toml"
    # On a hybrid cgroup host crun itself refuses to run (docs/runtimes.md): the handler calls
    # the wrapper, written here, so `ocix cri runp --runtime crun` works.
    config.write_text(containerd_config(paths, registry, crun_binary()))
    if paths.containerd_socket.exists():
        paths.containerd_socket.unlink()
    proc = spawn("containerd", [binary, "--config", str(config)], paths)
    wait_until("containerd", socket_ready(paths.containerd_socket), proc)
    return proc


# -- registry ----------------------------------------------------------------------------------

def start_registry(paths: Paths, port: int | None = None) -> tuple[Proc, str]:
    """The lab's registry: storage under registry/data, deletes enabled."""
    return start_registry_at(paths.registry_dir, delete=True, port=port)


def start_registry_at(directory: Path, *, storage: Path | None = None, readonly: bool = False,
                      delete: bool = False, extra_config: str = "",
                      port: int | None = None) -> tuple[Proc, str]:
    """A distribution registry on loopback `port` (default: a free one), its config and log in
    `directory`.

    `extra_config` is appended to config.yml as is, e.g. an `auth:` section; a registry that
    answers /v2/ with 401 counts as ready.
    """
    binary = which("docker-registry")
    data = storage or directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    addr = f"127.0.0.1:{port or free_port()}"
    config = directory / "config.yml"
    maintenance = ("  maintenance:\n    uploadpurging:\n      enabled: false\n"
                   "    readonly:\n      enabled: true\n") if readonly else ""
    config.write_text(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: {"true" if delete else "false"}
{maintenance}http:
  addr: {addr}
{extra_config}""")
    proc = spawn("registry", [binary, "serve", str(config)], Paths(directory),
                 env={"OTEL_TRACES_EXPORTER": "none"})
    wait_until(f"the registry on {addr}", http_ready(f"http://{addr}/v2/"), proc)
    return proc, addr


# -- dockerd -----------------------------------------------------------------------------------

def start_dockerd(paths: Paths, registry: str) -> Proc:
    binary = which("dockerd")
    d = paths.docker_dir
    for sub in ("root", "exec"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    config = d / "daemon.json"
    config.write_text("{}\n")  # never the host's /etc/docker/daemon.json
    # A pidfile left by a killed dockerd makes the next one refuse to start; `up` has already
    # checked that no dockerd of this lab runs.
    for stale in (paths.docker_socket, d / "docker.pid"):
        stale.unlink(missing_ok=True)
    argv = [binary, "--config-file", str(config), "--containerd", str(paths.containerd_socket),
            "--data-root", str(d / "root"), "--exec-root", str(d / "exec"),
            "--pidfile", str(d / "docker.pid"), "-H", f"unix://{paths.docker_socket}",
            "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
            "--registry-mirror", f"http://{registry}", "--insecure-registry", registry]
    proc = spawn("dockerd", argv, paths)
    wait_until("dockerd", socket_ready(paths.docker_socket), proc, timeout=60)
    return proc
