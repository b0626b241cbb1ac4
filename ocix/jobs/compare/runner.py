"""Run the compare: each selected path in turn, each alone, bounded, and always cleaned up.

A path that is missing gets `available: false` and its reason; a path that fails gets its
error and the others still run. Ctrl-C stops the compare after the current path's cleanups
ran (KeyboardInterrupt is re-raised: the CLI exits 130).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ...errors import OcixError, UsageError
from ...kernel.caps import normalize_cap
from . import containerd, cri, docker, podman, rootless, runtime
from .context import Deadline, PathRun, PathTimeoutError
from .differences import differences
from .model import (
    HOLD_SHELL,
    PATH_NAMES,
    PHASES,
    ROOTLESS_PATHS,
    CompareOptions,
    CompareResult,
    Endpoints,
    PathResult,
)

Unavailable = Callable[[Endpoints], "str | None"]
Runner = Callable[[PathRun], None]

PATHS: dict[str, tuple[Unavailable, Runner]] = {
    "docker": (docker.unavailable, docker.run),
    "containerd": (containerd.unavailable, containerd.run),
    "runc": (lambda e: runtime.unavailable("runc", e), lambda c: runtime.run(c, "runc")),
    "crun": (lambda e: runtime.unavailable("crun", e), lambda c: runtime.run(c, "crun")),
    "cri": (cri.unavailable, cri.run),
    "podman": (podman.unavailable, podman.run),
    "podman-rootless": (rootless.podman_unavailable, rootless.run_podman),
    "docker-rootless": (rootless.docker_unavailable, rootless.run_docker),
}


def check_options(opts: CompareOptions) -> list[str]:
    """The selected paths, in table order (with --rootless, then the two rootless ones); a
    clear UsageError for a bad flag."""
    unknown = [p for p in opts.paths if p not in PATH_NAMES]
    if unknown:
        raise UsageError(f"unknown path {', '.join(map(repr, unknown))}: choose from "
                         f"{', '.join(PATH_NAMES)}")
    for c in opts.cap_add + opts.cap_drop:
        if c.upper() != "ALL":
            normalize_cap(c)
    for e in opts.env:
        if "=" not in e or e.startswith("="):
            raise UsageError(f"--env {e!r} is not KEY=VALUE")
    if opts.memory is not None and opts.memory <= 0:
        raise UsageError("--memory must be a positive size")
    if opts.pids_limit is not None and opts.pids_limit < 3:
        raise UsageError("--pids-limit must be at least 3 (the held init and its sleep count)")
    if opts.timeout <= 0:
        raise UsageError("--timeout must be positive")
    names = [p for p in PATH_NAMES if not opts.paths or p in opts.paths]
    return names + list(ROOTLESS_PATHS) if opts.rootless else names


def explain(message: str, past_deadline: bool, timeout: float) -> str:
    """The error a path reports: timeouts and a missing hold shell said in ocix's words."""
    if past_deadline:  # a client's own timeout that the path's deadline caused
        return f"timed out after {timeout:g} s ({message})"
    low = message.lower()
    if HOLD_SHELL in message and ("no such file" in low or "not found" in low):
        return (f"the image has no {HOLD_SHELL}, which compare runs to hold the container "
                f"while it reads /proc ({message})")
    return message


def run_path(name: str, opts: CompareOptions, endpoints: Endpoints, tag: str) -> PathResult:
    """One path, start to cleanup; only KeyboardInterrupt escapes (after the cleanup ran)."""
    unavailable, runner = PATHS[name]
    result = PathResult(path=name)
    reason = unavailable(endpoints)
    if reason:
        result.available, result.skipped_reason = False, reason
        return result
    ctx = PathRun(opts, endpoints, result, Deadline(opts.timeout), f"ocix-compare-{tag}-{name}")
    with ctx.recording():
        try:
            runner(ctx)
        except PathTimeoutError as e:
            result.error = e.message
        except OcixError as e:
            result.error = explain(e.message, ctx.deadline.left() <= 0, opts.timeout)
        finally:
            with ctx.phase("cleanup"):
                left = ctx.cleanups.run()
            result.timings = {ph: result.timings[ph] for ph in PHASES if ph in result.timings}
            if left:
                note = "could not remove: " + "; ".join(left)
                result.error = f"{result.error}; {note}" if result.error else note
    return result


def compare(opts: CompareOptions, endpoints: Endpoints,
            on_path: Callable[[PathResult], None] | None = None) -> CompareResult:
    """Every selected path, then the differences between those that ran."""
    names = check_options(opts)
    tag = os.urandom(4).hex()
    results: list[PathResult] = []
    for name in names:
        res = run_path(name, opts, endpoints, tag)
        results.append(res)
        if on_path:
            on_path(res)
    return CompareResult(opts.image, list(opts.command), results, differences(results))
