"""The runtime spec as containerd stores it: Go struct field order and json.Marshal's escapes."""

from __future__ import annotations

import json
from typing import Any

# One key order that is each runtime-spec Go struct's field order (Spec, Process, User,
# LinuxCapabilities, Root, Mount, POSIXRlimit, Linux, LinuxResources, LinuxDeviceCgroup,
# LinuxNamespace, LinuxCPU ...), so spec_bytes can match json.Marshal's output byte for byte.
_GO_KEY_ORDER = {k: i for i, k in enumerate((
    "ociVersion", "process", "terminal", "consoleSize", "user", "uid", "gid", "umask",
    "additionalGids", "args", "env", "cwd", "capabilities", "bounding", "effective",
    "inheritable", "permitted", "ambient", "rlimits", "noNewPrivileges", "root", "hostname",
    "mounts", "destination", "allow", "type", "hard", "soft", "major", "minor", "access",
    "source", "path", "readonly", "options", "annotations", "linux", "uidMappings",
    "gidMappings", "sysctl", "resources", "devices", "memory", "cpu", "shares", "quota",
    "period", "pids", "limit", "cgroupsPath", "namespaces", "seccomp", "rootfsPropagation",
    "maskedPaths", "readonlyPaths",
))}


def go_key_order(value: Any) -> Any:
    """A copy with every object's keys in the Go structs' field order (unknown keys last)."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: _GO_KEY_ORDER.get(k, len(_GO_KEY_ORDER)))
        return {k: go_key_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [go_key_order(v) for v in value]
    return value


def spec_bytes(spec: dict[str, Any]) -> bytes:
    """The spec as containerd stores it: compact JSON in Go field order, with json.Marshal's
    HTML-safe escapes, so it compares byte for byte with `ctr c info`'s Spec."""
    text = json.dumps(go_key_order(spec), separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()
