"""The podman path: the conmon stack CRI-O is built on (conmon, containers/storage and image).

podman create (with the lab's RUN_DEFAULTS), start, inspect (init pid, overlay dir), wait,
logs, rm -f: each call a `podman` process through ocix.podman.client.Podman. `run_with` takes
the Podman to use, so the rootless path (podman as the lab user) shares every step.
"""

from __future__ import annotations

import json
import shutil
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import NotFoundError, OcixError
from . import evidence
from .context import PathRun
from .model import CompareOptions, Endpoints, final_argv, hold_argv

if TYPE_CHECKING:
    from ...podman.client import Podman


def unavailable_binary() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (make setup installs it)"
    return None


def unavailable(endpoints: Endpoints) -> str | None:
    from ...podman.config import PodmanPaths

    if unavailable_binary():
        return unavailable_binary()
    if not endpoints.lab_dir or not PodmanPaths(Path(endpoints.lab_dir).absolute()).configured():
        return "the lab has no podman (start it with `ocix lab up --with-podman`)"
    return None


def create_flags(opts: CompareOptions) -> list[str]:
    out: list[str] = []
    for c in opts.cap_drop:
        out += ["--cap-drop", c]
    for c in opts.cap_add:
        out += ["--cap-add", c]
    if opts.memory is not None:
        out += ["--memory", str(opts.memory)]
    if opts.pids_limit is not None:
        out += ["--pids-limit", str(opts.pids_limit)]
    if opts.user:
        out += ["--user", opts.user]
    for e in opts.env:
        out += ["--env", e]
    return out


def run(ctx: PathRun) -> None:
    from ...podman.client import Podman

    assert ctx.endpoints.lab_dir is not None
    run_with(ctx, Podman.for_lab(ctx.endpoints.lab_dir))


def run_with(ctx: PathRun, pm: Podman, who: str = "") -> None:
    """The podman path through `pm`; `who` ("rootless, as ocixlab") goes into the chain."""
    from ...podman.client import RUN_DEFAULTS

    r, opts, name = ctx.result, ctx.opts, ctx.name

    def call(*args: str, check: bool = True) -> str:
        return pm.run(*args, timeout=min(60.0, ctx.deadline.remaining(f"podman {args[0]}")),
                      check=check).stdout

    v = pm.version()
    with ctx.phase("image"):
        if pm.run("image", "exists", opts.image, check=False).returncode != 0:
            call("pull", "--quiet", opts.image)
        config = json.loads(call("image", "inspect", opts.image))[0]
    argv = hold_argv(name, final_argv(config, opts.command))
    with ctx.phase("create"):
        ctx.cleanups.add(f"podman container {name}",  # not bounded by the path's deadline
                         lambda: pm.run("rm", "--force", "--ignore", name, timeout=60))
        call("create", "--name", name, *RUN_DEFAULTS, *create_flags(opts),
             "--entrypoint", json.dumps(argv[:1]), opts.image, *argv[1:])
    with ctx.phase("start"):
        call("start", name)
        info = json.loads(call("inspect", "--type", "container", name))[0]
        pid = evidence.inspect_pid(info, f"podman container {name}")
        evidence.wait_held(pid, ctx.name, ctx.deadline)
    evidence.read_into(r, pid)
    r.chain = [f"podman {v.version}" + (f" ({who})" if who else ""), f"conmon {v.conmon_version}",
               f"{v.runtime} {v.runtime_version}"]
    r.rootfs = evidence.inspect_rootfs(info)
    with ctx.phase("run"):
        evidence.release(pid, name, ctx.deadline)
        code = call("wait", name).strip()
        try:
            r.exit_code = int(code.splitlines()[-1])
        except (ValueError, IndexError):
            raise OcixError(f"podman wait {name}: unexpected answer {code!r}") from None
        with suppress(NotFoundError):
            r.stdout = call("logs", name)
