"""Semantic checks of a runtime-spec v1.2 config.json and its bundle.

Every check reads a value only when it has the type the schema wants, so a config with
`"args": 5` or `"linux": []` gets the schema's finding and never a crash here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..kernel.caps import CAP_NAMES
from .findings import Sink, pointer
from .image import check_env

S_VERSION = "runtime-spec config.md#specification-version"
S_ROOT = "runtime-spec config.md#root"
S_MOUNTS = "runtime-spec config.md#mounts"
S_PROCESS = "runtime-spec config.md#process"
S_POSIX = "runtime-spec config.md#posix-process"
S_LINUXPROC = "runtime-spec config.md#linux-process"
S_HOSTNAME = "runtime-spec config.md#hostname"
S_HOOKS = "runtime-spec config.md#posix-platform-hooks"
S_ANNOT = "runtime-spec config.md#annotations"
S_NS = "runtime-spec config-linux.md#namespaces"
S_IDMAP = "runtime-spec config-linux.md#user-namespace-mappings"
S_DEVICES = "runtime-spec config-linux.md#devices"
S_DEVCG = "runtime-spec config-linux.md#allowed-device-list"
S_MEMORY = "runtime-spec config-linux.md#memory"
S_SYSCTL = "runtime-spec config-linux.md#sysctl"
S_MASKED = "runtime-spec config-linux.md#masked-paths"
S_READONLY = "runtime-spec config-linux.md#readonly-paths"

# SemVer 2.0.0, from semver.org's grammar (prerelease and build metadata allowed).
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")

RLIMITS = frozenset("RLIMIT_" + r for r in ["AS", "CORE", "CPU", "DATA", "FSIZE", "LOCKS", "MEMLOCK", "MSGQUEUE", "NICE", "NOFILE", "NPROC", "RSS", "RTPRIO", "RTTIME", "SIGPENDING", "STACK"])
NAMESPACES = frozenset({"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"})
DEVICE_TYPES = frozenset({"c", "b", "u", "p"})
CGROUP_DEVICE_TYPES = frozenset({"a", "c", "b"})
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


def _strs(value: Any) -> list[tuple[int, str]]:
    """The string entries of a list, with their index; nothing for a non-list."""
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """The object entries of a list, with their index; nothing for a non-list."""
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_config(sink: Sink, doc: Any, bundle: Path | None = None) -> None:
    """Check a runtime config; `bundle` (the directory holding it) enables the root.path check."""
    if not isinstance(doc, dict):
        return
    _version(sink, doc.get("ociVersion"))
    _root(sink, doc.get("root"), bundle)
    linux = doc.get("linux") if isinstance(doc.get("linux"), dict) else None
    process = doc.get("process")
    if isinstance(process, dict):
        _process(sink, process)
    for i, m in _dicts(doc.get("mounts")):
        dest = m.get("destination")
        if isinstance(dest, str) and not dest.startswith("/") and linux is not None:
            sink.warn(f"/mounts/{i}/destination", f"mount destination {dest!r} is relative",
                      S_MOUNTS, "relative destinations are deprecated: start it with /",
                      "runtime.mounts.destination-absolute")
    hooks = doc.get("hooks")
    if isinstance(hooks, dict):
        for kind in HOOK_KINDS:
            for i, h in _dicts(hooks.get(kind)):
                path = h.get("path")
                if isinstance(path, str) and not path.startswith("/"):
                    sink.error(f"/hooks/{kind}/{i}/path", f"hook path {path!r} is not absolute",
                               S_HOOKS, "give the hook's absolute path on the host",
                               "runtime.hooks.path-absolute")
    annotations = doc.get("annotations")
    if isinstance(annotations, dict):
        for key in annotations:
            if key == "":
                sink.error("/annotations", "an annotation key is empty", S_ANNOT,
                           "use a reverse-domain key such as com.example.key",
                           "runtime.annotations.key-empty")
            elif "." not in key:
                sink.warn(pointer("annotations", key), f"annotation key {key!r} is not in reverse "
                          "domain notation", S_ANNOT, "name keys like com.example.key",
                          "runtime.annotations.key-format")
    if linux is not None:
        _linux(sink, doc, linux)


def _version(sink: Sink, v: Any) -> None:
    if not isinstance(v, str):
        return
    m = _SEMVER.fullmatch(v)
    if m is None:
        sink.error("/ociVersion", f"ociVersion {v!r} is not SemVer 2.0.0", S_VERSION,
                   "use a version such as 1.2.0", "runtime.version.semver")
    elif m.group(1) != "1":
        sink.error("/ociVersion", f"ociVersion {v!r} is not a 1.x version", S_VERSION,
                   "ocix validates runtime-spec 1.x configs: use 1.2.0", "runtime.version.major")


def _root(sink: Sink, root: Any, bundle: Path | None) -> None:
    if bundle is None or not isinstance(root, dict) or not isinstance(root.get("path"), str):
        return
    raw = root["path"]
    path = Path(raw) if os.path.isabs(raw) else bundle / raw
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except (OSError, ValueError):  # NUL in the path, a permission problem on the way
        is_dir = exists = False
    if not exists:
        sink.error("/root/path", f"root.path {raw!r} does not exist in the bundle", S_ROOT,
                   f"create it (mkdir {path}) and unpack the root filesystem there",
                   "runtime.root.exists")
    elif not is_dir:
        sink.error("/root/path", f"root.path {raw!r} is not a directory", S_ROOT,
                   "point root.path at the root filesystem directory", "runtime.root.directory")


def _process(sink: Sink, p: dict[str, Any]) -> None:
    args = p.get("args")
    if ("args" not in p or (isinstance(args, list) and not args)) and "commandLine" not in p:
        sink.error("/process/args", "process.args must have at least one entry", S_PROCESS,
                   'set args to the command to run, e.g. ["sh"]', "runtime.process.args")
    cwd = p.get("cwd")
    if isinstance(cwd, str) and not cwd.startswith("/"):
        sink.error("/process/cwd", f"cwd {cwd!r} is not an absolute path", S_PROCESS,
                   'use an absolute path such as "/"', "runtime.process.cwd-absolute")
    env = p.get("env")
    if isinstance(env, list):
        check_env(sink, "/process/env", env, S_PROCESS, "runtime.process.env")
    caps = p.get("capabilities")
    if isinstance(caps, dict):
        _capabilities(sink, caps)
    _rlimits(sink, p.get("rlimits"))


def _capabilities(sink: Sink, caps: dict[str, Any]) -> None:
    sets: dict[str, set[str]] = {}
    for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        entries = _strs(caps.get(name))
        sets[name] = {c for _, c in entries}
        for i, c in entries:
            if c not in CAP_NAMES:
                sink.error(f"/process/capabilities/{name}/{i}", f"{c!r} is not a Linux capability",
                           S_LINUXPROC, "use a name from capabilities(7), e.g. CAP_NET_BIND_SERVICE",
                           "runtime.capabilities.name")
    if isinstance(caps.get("effective"), list):
        extra = sorted(sets["effective"] - sets["permitted"])
        if extra:
            sink.error("/process/capabilities/effective", f"effective capabilities not in permitted: "
                       f"{', '.join(extra)}", S_LINUXPROC, "add them to permitted or drop them from "
                       "effective: the kernel refuses an effective set larger than permitted",
                       "runtime.capabilities.effective-subset")
    if sets["ambient"]:
        missing = sorted(sets["ambient"] - (sets["permitted"] & sets["inheritable"]))
        if missing:
            sink.warn("/process/capabilities/ambient", "ambient capabilities not in both permitted "
                      f"and inheritable will not be raised: {', '.join(missing)}", S_LINUXPROC,
                      "add them to inheritable (and permitted), or drop them from ambient",
                      "runtime.capabilities.ambient")


def _rlimits(sink: Sink, rlimits: Any) -> None:
    seen: set[str] = set()
    for i, r in _dicts(rlimits):
        t = r.get("type")
        if isinstance(t, str):
            if t not in RLIMITS:
                sink.error(f"/process/rlimits/{i}/type", f"{t!r} is not a known rlimit", S_POSIX,
                           "use a name from getrlimit(2), e.g. RLIMIT_NOFILE", "runtime.rlimits.type")
            elif t in seen:
                sink.error(f"/process/rlimits/{i}/type", f"rlimit {t} is set twice", S_POSIX,
                           "keep one entry per type", "runtime.rlimits.duplicate")
            seen.add(t)
        soft, hard = _int(r.get("soft")), _int(r.get("hard"))
        if soft is not None and hard is not None and soft > hard:
            sink.error(f"/process/rlimits/{i}", f"soft limit {soft} is above hard limit {hard}", S_POSIX,
                       "set soft <= hard", "runtime.rlimits.soft-hard")


def _linux(sink: Sink, doc: dict[str, Any], linux: dict[str, Any]) -> None:
    new_ns: set[str] = set()   # namespaces the container gets fresh (no path)
    all_ns: set[str] = set()
    for i, ns in _dicts(linux.get("namespaces")):
        t, path = ns.get("type"), ns.get("path")
        if isinstance(t, str):
            if t not in NAMESPACES:
                sink.error(f"/linux/namespaces/{i}/type", f"{t!r} is not a namespace type", S_NS,
                           f"use one of {', '.join(sorted(NAMESPACES))}", "runtime.namespaces.type")
            elif t in all_ns:
                sink.error(f"/linux/namespaces/{i}/type", f"namespace {t} is listed twice", S_NS,
                           "list each namespace type once", "runtime.namespaces.duplicate")
            all_ns.add(t)
            if not isinstance(path, str) or not path:
                new_ns.add(t)
        if isinstance(path, str) and path and not path.startswith("/"):
            sink.error(f"/linux/namespaces/{i}/path", f"namespace path {path!r} is not absolute",
                       S_NS, "use an absolute path such as /proc/1234/ns/net",
                       "runtime.namespaces.path-absolute")
    for key in ("uidMappings", "gidMappings"):
        if isinstance(linux.get(key), list) and linux[key] and "user" not in all_ns:
            sink.error(f"/linux/{key}", f"{key} need a user namespace", S_IDMAP,
                       'add {"type": "user"} to linux.namespaces or drop the mappings',
                       "runtime.idmappings.userns")
    for key in ("hostname", "domainname"):
        if isinstance(doc.get(key), str) and doc[key] and "uts" not in new_ns:
            sink.error(f"/{key}", f"{key} needs a new uts namespace", S_HOSTNAME,
                       'add {"type": "uts"} to linux.namespaces or drop ' + key,
                       f"runtime.{key}.uts")
    sysctl = linux.get("sysctl")
    if isinstance(sysctl, dict):
        for key in sysctl:
            if key.startswith("net.") and "network" not in new_ns:
                sink.error(pointer("linux", "sysctl", key), f"sysctl {key} needs a new network "
                           "namespace", S_SYSCTL, 'add {"type": "network"} to linux.namespaces',
                           "runtime.sysctl.netns")
            elif (key in _IPC_SYSCTLS or key.startswith("fs.mqueue.")) and "ipc" not in new_ns:
                sink.error(pointer("linux", "sysctl", key), f"sysctl {key} needs a new ipc namespace",
                           S_SYSCTL, 'add {"type": "ipc"} to linux.namespaces', "runtime.sysctl.ipcns")
    for key, spec in (("maskedPaths", S_MASKED), ("readonlyPaths", S_READONLY)):
        for i, path in _strs(linux.get(key)):
            if not path.startswith("/"):
                sink.error(f"/linux/{key}/{i}", f"{path!r} is not an absolute path", spec,
                           "use an absolute path inside the container", f"runtime.{key}.absolute")
    for i, d in _dicts(linux.get("devices")):
        t, path = d.get("type"), d.get("path")
        if isinstance(t, str) and t not in DEVICE_TYPES:
            sink.error(f"/linux/devices/{i}/type", f"device type {t!r} is not c, b, u or p",
                       S_DEVICES, "use c (char), b (block), u (unbuffered char) or p (fifo)",
                       "runtime.devices.type")
        elif isinstance(t, str) and t != "p" and ("major" not in d or "minor" not in d):
            sink.error(f"/linux/devices/{i}", f"a {t} device needs major and minor", S_DEVICES,
                       "add the device's major and minor numbers", "runtime.devices.major-minor")
        if isinstance(path, str) and not path.startswith("/"):
            sink.error(f"/linux/devices/{i}/path", f"device path {path!r} is not absolute",
                       S_DEVICES, "use a path such as /dev/fuse", "runtime.devices.path-absolute")
    resources = linux.get("resources")
    if isinstance(resources, dict):
        _resources(sink, resources)


def _resources(sink: Sink, res: dict[str, Any]) -> None:
    for i, d in _dicts(res.get("devices")):
        t, access = d.get("type"), d.get("access")
        if isinstance(t, str) and t not in CGROUP_DEVICE_TYPES:
            sink.error(f"/linux/resources/devices/{i}/type", f"device cgroup type {t!r} is not a, "
                       "c or b", S_DEVCG, "use a (all), c (char) or b (block)",
                       "runtime.resources.devices.type")
        if isinstance(access, str) and (not access or set(access) - set("rwm")):
            sink.error(f"/linux/resources/devices/{i}/access", f"access {access!r} is not made of "
                       "r, w and m", S_DEVCG, "use a combination such as rwm",
                       "runtime.resources.devices.access")
    memory = res.get("memory")
    if isinstance(memory, dict):
        limit, reservation, swap = (_int(memory.get(k)) for k in ("limit", "reservation", "swap"))
        if limit is not None and limit > 0 and reservation is not None and reservation > limit:
            sink.error("/linux/resources/memory/reservation", f"memory reservation {reservation} is "
                       f"above the limit {limit}", S_MEMORY, "set reservation <= limit",
                       "runtime.resources.memory.reservation")
        if limit is not None and limit > 0 and swap is not None and 0 <= swap < limit:
            sink.warn("/linux/resources/memory/swap", f"memory swap {swap} is below the limit {limit}; "
                      "swap is memory+swap, so runtimes reject it", S_MEMORY,
                      "set swap >= limit, or -1 for unlimited", "runtime.resources.memory.swap")


SPEC_PREFIXES: list[tuple[str, str]] = [
    ("/ociVersion", S_VERSION), ("/root", S_ROOT), ("/mounts", S_MOUNTS),
    ("/process/capabilities", S_LINUXPROC), ("/process/rlimits", S_POSIX), ("/process", S_PROCESS),
    ("/hostname", S_HOSTNAME), ("/hooks", S_HOOKS), ("/annotations", S_ANNOT),
    ("/linux/namespaces", S_NS), ("/linux/uidMappings", S_IDMAP), ("/linux/gidMappings", S_IDMAP),
    ("/linux/devices", S_DEVICES), ("/linux/resources/devices", S_DEVCG),
    ("/linux/resources/memory", S_MEMORY), ("/linux/resources", "runtime-spec config-linux.md#control-groups"),
    ("/linux/seccomp", "runtime-spec config-linux.md#seccomp"), ("/linux/sysctl", S_SYSCTL),
    ("/linux/maskedPaths", S_MASKED), ("/linux/readonlyPaths", S_READONLY),
    ("/linux", "runtime-spec config-linux.md"), ("", "runtime-spec config.md"),
]
