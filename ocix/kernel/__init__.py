"""The kernel's view of a process: /proc namespaces, cgroups (v1, v2, hybrid), capabilities.

The names below are loaded on first use, so `from ocix.kernel.caps import ...` (which the
runtime-spec code on `ocix run`'s path does) does not import the /proc and cgroup readers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .caps import CapSet, CapSets, decode_caps, encode_caps, normalize_cap
    from .cgroups import CgroupInfo, ResourceSummary
    from .proc import Identity, IdMapping, NamespaceInfo, ProcAccessError, ProcessNotFoundError
    from .view import KernelView, kernel_view

_WHERE = {
    "CapSet": "caps", "CapSets": "caps", "decode_caps": "caps", "encode_caps": "caps",
    "normalize_cap": "caps", "CgroupInfo": "cgroups", "ResourceSummary": "cgroups",
    "Identity": "proc", "IdMapping": "proc", "NamespaceInfo": "proc", "ProcAccessError": "proc",
    "ProcessNotFoundError": "proc", "KernelView": "view", "kernel_view": "view",
}

__all__ = [
    "CapSet", "CapSets", "CgroupInfo", "IdMapping", "Identity", "KernelView", "NamespaceInfo",
    "ProcAccessError", "ProcessNotFoundError", "ResourceSummary", "decode_caps", "encode_caps",
    "kernel_view", "normalize_cap",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
