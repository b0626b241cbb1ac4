"""Extra real registries for tests (auth, read-only views), on ocix.lab.daemons' starter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ocix.lab import daemons


@contextmanager
def registry(directory: Path, *, storage: Path | None = None, readonly: bool = False,
             delete: bool = False, extra_config: str = "") -> Iterator[str]:
    """A docker-registry on a free loopback port; yields host:port, stops it afterwards."""
    proc, addr = daemons.start_registry_at(directory, storage=storage, readonly=readonly,
                                           delete=delete, extra_config=extra_config)
    try:
        yield addr
    finally:
        daemons.stop(proc)
