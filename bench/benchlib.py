"""Shared pieces of the benchmarks: a lab to run against, alternating timed runs, medians."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None  # GNU time


def ocix_bin() -> str:
    venv = ROOT / ".venv" / "bin" / "ocix"
    return str(venv) if venv.exists() else (shutil.which("ocix") or "ocix")


def bench_env() -> dict[str, str]:
    """The caller's environment with bytecode caching on, as an installed ocix would run."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("CONTAINERD_NAMESPACE", "default")
    return env


@contextmanager
def lab_env(env: dict[str, str], *, with_docker: bool = False) -> Iterator[dict[str, str]]:
    """`env` pointed at a lab: the one in the environment, or a temporary one removed after."""
    if env.get("CONTAINERD_ADDRESS") and env.get("OCIX_REGISTRY"):
        yield env
        return
    from ocix.lab import lab

    root = tempfile.mkdtemp(prefix="ocix-bench-lab-")
    print(f"starting a lab in {root} ...", flush=True)
    try:
        lab.up(root, with_docker=with_docker)
        yield {**env, **lab.env(root)}
    finally:
        lab.down(root, purge=True)


def timed(argv: list[str], env: dict[str, str], *, check: bool = True) -> float:
    """Wall seconds of one run of argv (stdout discarded); a failure stops the benchmark."""
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       check=False)
    elapsed = time.perf_counter() - t
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.decode().strip()}")
    return elapsed


def alternate(n: int, warmup: int, a: Callable[[int], float],
              b: Callable[[int], float]) -> tuple[list[float], list[float]]:
    """n timed runs of each, alternating and swapping who goes first every round."""
    for i in range(warmup):
        a(-1 - i)
        b(-1 - i)
    xa: list[float] = []
    xb: list[float] = []
    for i in range(n):
        if i % 2:
            xb.append(b(i))
            xa.append(a(i))
        else:
            xa.append(a(i))
            xb.append(b(i))
    return xa, xb


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def timed_rss(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one command, which must succeed.

    The RSS comes from GNU time, which forks the command: a process this script starts itself
    inherits this script's own peak RSS as the floor of its ru_maxrss (Linux keeps the maximum
    across exec), so os.wait4 alone would report at least what the bench process uses."""
    wrapped = [TIME, "-f", "%M", *argv] if TIME else argv
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{err}")
    kib = int(err.strip().splitlines()[-1]) if TIME else usage.ru_maxrss
    return seconds, kib / 1024
