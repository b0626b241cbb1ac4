"""`ocix run` over raw gRPC, in `ctr run`'s order (notes §6), plus exec, spec and bundle.

run:  Leases.Create → Snapshots.Prepare{key=id, parent=top chain ID} → the spec (USER looked up
      in the snapshot's layer directories, nothing mounted) → Containers.Create → Leases.Delete
      → FIFOs → Tasks.Create → Tasks.Wait (a future, sent before Start) → Tasks.Start → copy
      stdout/stderr live → exit status → Tasks.Delete → with --rm Snapshots.Remove and
      Containers.Delete, also when anything failed or the user pressed Ctrl-C.

Argument semantics: `ocix run IMAGE CMD…` keeps the image's Entrypoint and replaces its Cmd,
like docker and nerdctl (ctr replaces both); `--entrypoint`-less images behave the same.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import AlreadyExistsError, NotFoundError, OcixError, UsageError
from ..oci import bundle as bundlefs
from ..oci.digest import chain_id
from ..oci.spec import (
    RunOptions,
    SpecError,
    generate,
    merge_env,
    spec_bytes,
    validate_container_id,
)
from ..oci.user import ReadFile, resolve_user, rootfs_reader
from ..registry.reference import parse as parse_reference
from . import cio, containers, images, leases, snapshots, tasks
from .connection import Connection
from .imagewalk import default_manifest

CRUN_WRAPPER = "/run/ocix/crun-hybrid"
_CRUN_WRAPPER_TEXT = """#!/bin/sh
# Written by ocix. crun refuses a hybrid cgroup host whose cgroup2 mount has controllers
# ("cgroups in hybrid mode not supported"); in a private mount namespace without that mount
# it sees a legacy (v1) host and uses the v1 controllers, as runc does.
exec unshare --mount --propagation private sh -c \
  'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
"""
SIGNALS_TO_FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class CommandNotFoundError(OcixError):
    """The runtime could not find or execute the command in the image (exit 127 like docker)."""

    exit_code = 127


class CommandNotExecutableError(OcixError):
    exit_code = 126


@dataclass(frozen=True)
class ImageInfo:
    name: str
    config: dict[str, Any]
    chain_id: str


@dataclass
class RunRequest:
    image: str
    options: RunOptions = field(default_factory=RunOptions)
    container_id: str | None = None
    rm: bool = False
    detach: bool = False
    interactive: bool = False
    log_file: str | None = None
    runtime: str = "runc"
    snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER
    platform: str | None = None


@dataclass(frozen=True)
class RunResult:
    container_id: str
    pid: int
    exit_status: int | None  # None when detached


def cgroup_hybrid_with_v2_controllers() -> bool:
    """/sys/fs/cgroup is v1 (tmpfs) with a cgroup2 mount at unified/ that has controllers."""
    try:
        return bool(Path("/sys/fs/cgroup/unified/cgroup.controllers").read_text().strip()) and \
            not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    except OSError:
        return False


def crun_argv() -> list[str]:
    """How to call crun on this host: `crun`, or the wrapper on a hybrid cgroup host."""
    if not cgroup_hybrid_with_v2_controllers():
        return ["crun"]
    path = Path(CRUN_WRAPPER)
    try:
        if not path.exists() or path.read_text() != _CRUN_WRAPPER_TEXT:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}")
            tmp.write_text(_CRUN_WRAPPER_TEXT)
            tmp.chmod(0o755)
            tmp.replace(path)
    except OSError as e:
        raise OcixError(f"cannot write the crun wrapper {path}: {e.strerror}") from None
    return [str(path)]


def runtime_binary(runtime: str) -> str:
    """containerd.runc.v1.Options.binary_name for --runtime ("" = the shim's default, runc)."""
    if runtime == "runc":
        return ""
    if runtime == "crun":
        return crun_argv()[0]
    raise UsageError(f"unknown runtime {runtime!r}: use runc or crun")


def new_container_id() -> str:
    return os.urandom(6).hex()


def check_id(container_id: str, what: str = "container id") -> str:
    """containerd's identifier rule, as a usage error (exit 2)."""
    try:
        return validate_container_id(container_id, what)
    except SpecError as e:
        raise UsageError(e.message) from None


def resolve_image(conn: Connection, ref: str, platform: str | None = None) -> ImageInfo:
    """The image record, its config and its top chain ID; a clear error if it is not pulled."""
    name = parse_reference(ref).name
    try:
        img = images.get(conn, name)
    except NotFoundError:
        raise NotFoundError(f"image {name} is not pulled: run `ocix pull {ref}` first") from None
    try:
        m = default_manifest(conn, img.target, platform)
    except NotFoundError as e:
        raise NotFoundError(f"image {name} is incomplete ({e.message}): run `ocix pull {ref}` "
                            "again") from None
    if not m.diff_ids:
        raise OcixError(f"image {name} has no layers")
    return ImageInfo(name, m.config_doc, chain_id(m.diff_ids))


def stop_signal(config: dict[str, Any]) -> str:
    sig = ((config.get("config") or {}).get("StopSignal") or "SIGTERM") if config else "SIGTERM"
    return str(sig)


@contextmanager
def _reader(mounts: list[snapshots.Mount]) -> Iterator[ReadFile]:
    """Reads files of the rootfs: through the layer directories, or a temporary mount."""
    dirs = bundlefs.layer_dirs(mounts)
    if dirs is not None:
        yield bundlefs.layered_reader(dirs)
        return
    with bundlefs.mounted(mounts) as root:
        yield rootfs_reader(root)


def _not_unpacked(image: ImageInfo, snapshotter: str, ref: str) -> NotFoundError:
    return NotFoundError(f"image {image.name} is not unpacked into {snapshotter}: run "
                         f"`ocix pull {ref}` first")


@contextmanager
def image_view(conn: Connection, image: ImageInfo,
               snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER) -> Iterator[list[snapshots.Mount]]:
    """A temporary read-only View snapshot of the image (under a lease), removed afterwards."""
    key = f"ocix-view-{os.urandom(6).hex()}"
    with leases.temporary(conn) as lease:
        try:
            mounts = snapshots.view(conn, key, image.chain_id, snapshotter=snapshotter,
                                    lease=lease.id)
        except NotFoundError:
            raise _not_unpacked(image, snapshotter, image.name) from None
        try:
            yield mounts
        finally:
            with suppress(OcixError):
                snapshots.remove(conn, key, snapshotter)


def build_spec(conn: Connection, image: ImageInfo, container_id: str, opts: RunOptions,
               mounts: list[snapshots.Mount]) -> dict[str, Any]:
    """The run spec, USER looked up in the rootfs those snapshot mounts give."""
    with _reader(mounts) as read:
        return generate(conn.namespace, container_id, image.config, opts, read)


def spec_for(conn: Connection, ref: str, container_id: str, opts: RunOptions,
             snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
             platform: str | None = None) -> dict[str, Any]:
    """What `run` would send, computed from a temporary View (`ocix spec`)."""
    check_id(container_id)
    image = resolve_image(conn, ref, platform)
    with image_view(conn, image, snapshotter) as mounts:
        return build_spec(conn, image, container_id, opts, mounts)


# -- faults -------------------------------------------------------------------------------------
def _exec_error(e: OcixError, argv: list[str], image: str) -> OcixError:
    """runc's / crun's 'executable not found' from Tasks.Create or Start, made one clear line."""
    text = e.message
    cmd = argv[0] if argv else ""
    if ("executable file not found" in text or "executable file `" in text
            or ("exec:" in text and "no such file or directory" in text)):
        return CommandNotFoundError(f"command {cmd!r} not found in image {image}")
    if "exec:" in text and "permission denied" in text:
        return CommandNotExecutableError(f"command {cmd!r} in image {image} is not executable")
    return e


def _in_use(container_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"container name {container_id!r} is already in use: remove it with "
                              f"`ocix containers rm {container_id}` or choose another --name")


# -- the container record -----------------------------------------------------------------------
def create_container(conn: Connection, req: RunRequest, container_id: str) -> tuple[
        ImageInfo, list[snapshots.Mount], dict[str, Any]]:
    """Prepare the snapshot, build the spec, create the container (the rootfs mounts returned).

    On failure nothing created here is left behind.
    """
    binary = runtime_binary(req.runtime)
    image = resolve_image(conn, req.image, req.platform)
    prepared = False
    with leases.temporary(conn) as lease:
        try:
            try:
                mounts = snapshots.prepare(conn, container_id, image.chain_id,
                                           snapshotter=req.snapshotter, lease=lease.id)
            except AlreadyExistsError:
                raise _in_use(container_id) from None
            except NotFoundError:
                raise _not_unpacked(image, req.snapshotter, req.image) from None
            prepared = True
            spec = build_spec(conn, image, container_id, req.options, mounts)
            try:
                containers.create(conn, container_id, image=image.name, spec_json=spec_bytes(spec),
                                  snapshot_key=container_id, snapshotter=req.snapshotter,
                                  runtime_binary=binary,
                                  labels={containers.STOP_SIGNAL_LABEL: stop_signal(image.config)},
                                  lease=lease.id)
            except AlreadyExistsError:
                raise _in_use(container_id) from None
        except BaseException:
            if prepared:
                with suppress(OcixError):
                    snapshots.remove(conn, container_id, req.snapshotter)
            raise
    return image, mounts, spec


def remove_container(conn: Connection, container_id: str, *, force: bool = False) -> None:
    """Task (if any; running needs force), snapshot, record: what `ctr c rm` does."""
    c = containers.get(conn, container_id)
    try:
        t = tasks.get(conn, container_id)
    except NotFoundError:
        t = None
    if t is not None:
        if t.status not in ("stopped", "created") and not force:
            raise OcixError(f"container {container_id} has a {t.status} task: stop it first or "
                            "use --force")
        tasks.force_remove(conn, container_id, task=t)
    if c.snapshot_key:
        with suppress(NotFoundError):
            snapshots.remove(conn, c.snapshot_key, c.snapshotter or snapshots.DEFAULT_SNAPSHOTTER)
    containers.delete(conn, container_id)


def _cleanup(conn: Connection, container_id: str, snapshotter: str, *, task: bool,
             rm: bool) -> None:
    if task:
        with suppress(OcixError):
            tasks.force_remove(conn, container_id)
    if rm:
        with suppress(OcixError):
            snapshots.remove(conn, container_id, snapshotter)
        with suppress(OcixError):
            containers.delete(conn, container_id)


# -- terminal -----------------------------------------------------------------------------------
@contextmanager
def _raw_terminal(fd: int | None) -> Iterator[None]:
    if fd is None or not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _term_size(fd: int | None) -> tuple[int, int] | None:
    if fd is None:
        return None
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.columns, size.lines


def _fileno(f: Any) -> int | None:
    try:
        return int(f.fileno())
    except (AttributeError, OSError, ValueError):
        return None


# -- attached processes ---------------------------------------------------------------------------
@dataclass
class Streams:
    stdout: BinaryIO
    stderr: BinaryIO
    stdin: BinaryIO | None

    @classmethod
    def system(cls, interactive: bool) -> Streams:
        return cls(sys.stdout.buffer, sys.stderr.buffer, sys.stdin.buffer if interactive else None)


@contextmanager
def _forward_signals(send: Callable[[int], None]) -> Iterator[None]:
    """Ctrl-C and friends go to the process; the third Ctrl-C sends SIGKILL."""
    count = {"int": 0}

    def handler(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            count["int"] += 1
            if count["int"] >= 3:
                signum = signal.SIGKILL
        with suppress(OcixError):
            send(signum)

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS_TO_FORWARD:
            old[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for num, h in old.items():
            signal.signal(num, h)


def _attach_and_wait(conn: Connection, container_id: str, exec_id: str, aio: cio.AttachedIO,
                     streams: Streams, tty: bool, argv: list[str], where: str) -> int:
    """Wait future → Start → (resize) → block until exit, forwarding signals; the exit status.

    A runtime's 'executable not found' from Start becomes _exec_error's line (`where` is the
    image or container named there).
    """
    stdin_fd = _fileno(streams.stdin) if streams.stdin is not None else None
    waiter = tasks.wait_async(conn, container_id, exec_id)
    old_winch: Any = None
    try:
        aio.start()
        with _raw_terminal(stdin_fd if tty else None), \
                _forward_signals(lambda s: tasks.kill(conn, container_id, s, exec_id=exec_id)):
            try:
                tasks.start(conn, container_id, exec_id)
            except OcixError as e:
                raise _exec_error(e, argv, where) from e
            aio.start_stdin()
            if tty:
                def resize() -> None:
                    size = _term_size(stdin_fd) or _term_size(_fileno(sys.stdout))
                    if size:
                        with suppress(OcixError):
                            tasks.resize_pty(conn, container_id, size[0], size[1], exec_id)
                resize()
                if threading.current_thread() is threading.main_thread():
                    old_winch = signal.signal(signal.SIGWINCH, lambda *_: resize())
            while True:
                try:
                    return waiter.result(timeout=1.0).exit_status
                except TimeoutError:
                    continue
    finally:
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if not waiter.done():
            waiter.cancel()


def run(conn: Connection, req: RunRequest, streams: Streams | None = None,
        on_created: Callable[[str], None] | None = None) -> RunResult:
    """Run a container; attached, it returns after the process exited (exit_status set)."""
    if req.rm and req.detach:
        raise UsageError("--rm and -d cannot be used together")
    if req.detach and req.interactive:
        raise UsageError("-i and -d cannot be used together")
    if req.log_file and not req.detach:
        raise UsageError("--log-file only applies to a detached (-d) container")
    if req.detach and req.options.tty:
        raise UsageError("-t needs an attached terminal; use -d without -t")
    cid = check_id(req.container_id) if req.container_id else new_container_id()
    tty = req.options.tty
    image, mounts, spec = create_container(conn, req, cid)
    argv = list(spec.get("process", {}).get("args") or [])
    task_created = False
    aio: cio.AttachedIO | None = None
    try:
        if on_created:
            on_created(cid)
        if req.detach:
            uri = "file://" + os.path.abspath(req.log_file) if req.log_file else ""
            stdio = tasks.Stdio(stdout=uri, stderr=uri)
            try:
                pid = tasks.create(conn, cid, mounts, stdio)
                task_created = True
                tasks.start(conn, cid)
            except OcixError as e:
                raise _exec_error(e, argv, image.name) from e
            task_created = False  # it runs on: nothing to clean up
            return RunResult(cid, pid, None)
        streams = streams or Streams.system(req.interactive)
        fifos = cio.new_fifo_set(cid, stdin=req.interactive, terminal=tty)
        aio = cio.AttachedIO(fifos, streams.stdout, None if tty else streams.stderr,
                             streams.stdin, on_stdin_eof=lambda: tasks.close_stdin(conn, cid))
        aio.open()
        try:
            pid = tasks.create(conn, cid, mounts, fifos.stdio())
        except OcixError as e:
            raise _exec_error(e, argv, image.name) from e
        task_created = True
        status = _attach_and_wait(conn, cid, "", aio, streams, tty, argv, image.name)
        tasks.delete(conn, cid)
        task_created = False
        aio.finish()
        return RunResult(cid, pid, status)
    finally:
        if aio is not None:
            aio.close()
        _cleanup(conn, cid, req.snapshotter, task=task_created, rm=req.rm)


# -- exec ---------------------------------------------------------------------------------------
@dataclass
class ExecRequest:
    container_id: str
    args: list[str]
    exec_id: str | None = None
    tty: bool = False
    interactive: bool = False
    env: list[str] = field(default_factory=list)
    user: str | None = None
    cwd: str | None = None


def exec_process_spec(conn: Connection, req: ExecRequest) -> dict[str, Any]:
    """The container's process spec with args, env, user, cwd and terminal replaced."""
    c = containers.get(conn, req.container_id)
    if not c.spec:
        raise OcixError(f"container {req.container_id} has no runtime spec")
    process = dict(c.spec.get("process") or {})
    process["args"] = list(req.args)
    process["terminal"] = req.tty
    if req.env:
        process["env"] = merge_env(process.get("env") or [], req.env)
    if req.cwd:
        process["cwd"] = req.cwd
    if req.user:
        ms = snapshots.mounts(conn, c.snapshot_key, c.snapshotter or snapshots.DEFAULT_SNAPSHOTTER)
        with _reader(ms) as read:
            process["user"] = resolve_user(req.user, read).to_json()
    return process


def exec_in(conn: Connection, req: ExecRequest, streams: Streams | None = None) -> int:
    """Run a process in a running task with stdio attached; its exit status."""
    if not req.args:
        raise UsageError("exec needs a command")
    exec_id = check_id(req.exec_id, "exec id") if req.exec_id else \
        f"exec-{os.urandom(4).hex()}"
    task = tasks.get(conn, req.container_id)
    if task.status != "running":
        raise OcixError(f"task {req.container_id} is {task.status}, not running")
    process = exec_process_spec(conn, req)
    streams = streams or Streams.system(req.interactive)
    fifos = cio.new_fifo_set(exec_id, stdin=req.interactive, terminal=req.tty)
    aio = cio.AttachedIO(fifos, streams.stdout, None if req.tty else streams.stderr, streams.stdin,
                         on_stdin_eof=lambda: tasks.close_stdin(conn, req.container_id, exec_id))
    created = False
    try:
        aio.open()
        try:
            tasks.exec_process(conn, req.container_id, exec_id, process, fifos.stdio())
        except AlreadyExistsError:
            raise AlreadyExistsError(f"exec id {exec_id!r} is already in use in "
                                     f"{req.container_id}") from None
        created = True
        status = _attach_and_wait(conn, req.container_id, exec_id, aio, streams, req.tty,
                                  req.args, req.container_id)
        tasks.delete_process(conn, req.container_id, exec_id)
        created = False
        aio.finish()
        return status
    finally:
        aio.close()
        if created:
            with suppress(OcixError):
                tasks.kill(conn, req.container_id, "KILL", exec_id=exec_id)
            with suppress(OcixError):
                tasks.delete_process(conn, req.container_id, exec_id)


# -- bundles ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleResult:
    directory: str
    config: str
    rootfs: str
    image: str
    args: list[str]


def make_bundle(conn: Connection, ref: str, directory: Path, container_id: str, opts: RunOptions,
                snapshotter: str = snapshots.DEFAULT_SNAPSHOTTER,
                platform: str | None = None) -> BundleResult:
    """DIR/config.json (the run spec, made standalone) and DIR/rootfs copied out of a View mount."""
    check_id(container_id)
    image = resolve_image(conn, ref, platform)
    rootfs = bundlefs.empty_rootfs(directory)  # before any snapshot or mount is made
    with image_view(conn, image, snapshotter) as mounts:
        spec = build_spec(conn, image, container_id, opts, mounts)
        with bundlefs.mounted(mounts) as root:
            config = bundlefs.write_bundle(directory, bundlefs.bundle_spec(spec, container_id),
                                           root)
    return BundleResult(str(directory), str(config), str(rootfs), image.name,
                        list(spec["process"].get("args") or []))
