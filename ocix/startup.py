"""Start-up switches shared by the CLI entry point and the clients that end start-up."""

from __future__ import annotations


def resume_gc() -> None:
    """Turn the cyclic GC back on.

    The console entry point keeps it off while the start-up imports allocate; the first daemon
    or registry connection means those imports are done."""
    import gc

    if not gc.isenabled():
        gc.enable()
