"""Start-up switches shared by the CLI entry point and the clients that end start-up."""

from __future__ import annotations

import gc
import importlib
import sys
import types


def resume_gc() -> None:
    """Turn the cyclic GC back on.

    The console entry point keeps it off while the start-up imports allocate; the first daemon
    or registry connection means those imports are done."""
    if not gc.isenabled():
        gc.enable()


def lazy_import(name: str) -> None:
    """Let `import name` succeed now but run the module only when an attribute is first used.

    For third-party modules that a dependency imports eagerly but a command never uses: oras
    imports jsonschema (a large share of its import time: `bench/startup` shows it) only to validate documents ocix never asks it to.
    `importlib.util.LazyLoader` does not help on Python 3.11: a second `import name` reads
    `module.__spec__`, which already runs the module.  A stand-in module with `__getattr__`
    (looked up only for missing names) does not have that problem.  A module already
    imported is left alone."""
    if name in sys.modules:
        return

    class Deferred(types.ModuleType):
        def __getattr__(self, attr: str) -> object:
            if sys.modules.get(name) is self:
                del sys.modules[name]
            real = importlib.import_module(name)
            self.__dict__.update(real.__dict__)
            return getattr(real, attr)

    sys.modules[name] = Deferred(name)
