"""The `ocix` command line.  `main` is the console entry point."""

from __future__ import annotations

import gc
import os
import sys


def main() -> None:
    """Run the CLI, then leave without interpreter teardown.

    Two start-up savings, measured with `bench/startup` (`ocix run --rm busybox true`): the
    cyclic GC is off while the start-up imports allocate (it is switched back on when the first
    daemon or registry connection opens: connection.resume_gc), and the process ends with
    os._exit once output is flushed (tearing down a process that loaded grpc is slow).
    Everything the command must clean up is done in its own finally blocks before this point.
    """
    gc.disable()
    from .main import cli
    from .output import whole_writes

    whole_writes()

    code = 0
    try:
        cli(prog_name="ocix")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass
    os._exit(code)

