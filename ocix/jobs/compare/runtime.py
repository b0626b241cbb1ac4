"""The runc and crun paths: `ocix bundle`, then the runtime run by hand on the bundle.

`RUNTIME run -d` passes its own stdio to the container and exits once the container started;
ocix is a child subreaper meanwhile, so the orphaned init becomes ocix's child: it is reaped
with waitpid, which gives the exit code (runc keeps none). crun goes through the hybrid-cgroup
wrapper (ocix.runtimes.crun_argv).

"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
import time
from contextlib import suppress
from functools import partial
from pathlib import Path

from ... import programs
from ...containerd.connection import Connection
from ...errors import OcixError
from ...runtimes import crun_argv
from ..containers.bundle import make_bundle
from . import evidence
from .context import PathRun
from .model import Endpoints

PR_SET_CHILD_SUBREAPER = 36


def unavailable(runtime: str, endpoints: Endpoints) -> str | None:
    if shutil.which(runtime) is None:
        return f"{runtime} is not installed"
    path = endpoints.containerd.removeprefix("unix://")
    if not os.path.exists(path):
        return f"no containerd socket at {path} (the bundle is made from containerd's image)"
    return None


def set_child_subreaper(on: bool) -> None:
    """Orphaned descendants become this process's children while it is on."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OcixError(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


def _reap(pid: int, block_for: float) -> int | None:
    """The exit code of our child `pid` once it exited (128+N for signal N), else None."""
    end = time.monotonic() + block_for
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)  # ChildProcessError: not our child
        if done:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
        if time.monotonic() >= end:
            return None
        time.sleep(0.01)


def _remove(ctx: PathRun, argv0: list[str], cid: str, pid: list[int]) -> None:
    if ctx.result.exit_code is not None:
        return  # deleted already, on the way out of run()
    r = ctx.exec([*argv0, "delete", "--force", cid], what=f"{ctx.result.path} delete",
                 timeout=30, cleanup=True, check=False)
    if r.returncode != 0 and "does not exist" not in r.stderr:
        raise OcixError(f"{ctx.result.path} delete --force {cid}: {r.stderr.strip()}")
    if pid:
        with suppress(ChildProcessError):
            _reap(pid[0], 2.0)


def run(ctx: PathRun, runtime: str) -> None:
    from .containerd import ensure_image, run_options
    from .model import final_argv

    r, opts = ctx.result, ctx.opts
    argv0 = ["runc"] if runtime == "runc" else crun_argv()
    r.chain = ["ocix", f"{programs.named_version(runtime)} (bundle)"]
    conn = Connection(ctx.endpoints.containerd, ctx.endpoints.namespace,
                      timeout=ctx.deadline.remaining())
    ctx.cleanups.add("close the containerd connection", conn.close)
    with ctx.phase("image"):
        image = ensure_image(conn, opts.image, ctx.endpoints.hosts_dir)
    work = Path(tempfile.gettempdir()) / ctx.name
    work.mkdir(mode=0o700)
    ctx.cleanups.add(f"bundle dir {work}", partial(shutil.rmtree, work, ignore_errors=True))
    cid = ctx.name
    with ctx.phase("create"):
        b = make_bundle(conn, opts.image, work / "bundle", cid,
                        run_options(opts, ctx.name, final_argv(image.config, opts.command)))
    r.rootfs = b.rootfs
    # On until the container is gone (runtimes may fork an intermediate process that exits
    # after they do); undone after the container's own cleanup, which was registered later.
    set_child_subreaper(True)
    ctx.cleanups.add("child subreaper", lambda: set_child_subreaper(False))
    pid: list[int] = []
    out_path, err_path = work / "stdout", work / "stderr"
    with ctx.phase("start"), open(out_path, "wb") as out, open(err_path, "wb") as err:
        ctx.cleanups.add(f"{runtime} container {cid}", partial(_remove, ctx, argv0, cid, pid))
        res = ctx.exec([*argv0, "run", "-d", "--bundle", b.directory, cid],
                       what=f"{runtime} run -d", check=False, stdout=out, stderr=err)
        if res.returncode != 0:
            raise OcixError(f"{runtime} run failed (exit {res.returncode}): "
                            f"{err_path.read_text(errors='replace').strip()[-500:]}")
        state = json.loads(ctx.exec([*argv0, "state", cid], what=f"{runtime} state").stdout)
        pid.append(int(state["pid"]))
        evidence.wait_held(pid[0], ctx.name, ctx.deadline)
    evidence.read_into(r, pid[0])
    with ctx.phase("run"):
        evidence.release(pid[0], ctx.name, ctx.deadline)
        try:
            while (code := _reap(pid[0], 0.2)) is None:
                ctx.deadline.remaining("waiting for the container to exit")
        except ChildProcessError:
            raise OcixError(f"the container's init (pid {pid[0]}) is not a child of ocix: "
                            "its exit code is lost") from None
        ctx.exec([*argv0, "delete", cid], what=f"{runtime} delete")
        r.exit_code = code  # from here on the cleanup has nothing left to delete
    r.stdout = out_path.read_text(errors="replace")
