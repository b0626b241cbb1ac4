"""The kernel's view of a process: /proc namespaces, cgroups (v1, v2, hybrid), capabilities."""

from .caps import CapSet, CapSets, decode_caps, encode_caps, normalize_cap
from .cgroups import CgroupInfo, ResourceSummary
from .proc import Identity, IdMapping, NamespaceInfo, ProcAccessError, ProcessNotFoundError
from .view import KernelView, kernel_view

__all__ = [
    "CapSet", "CapSets", "CgroupInfo", "IdMapping", "Identity", "KernelView", "NamespaceInfo",
    "ProcAccessError", "ProcessNotFoundError", "ResourceSummary", "decode_caps", "encode_caps",
    "kernel_view", "normalize_cap",
]
