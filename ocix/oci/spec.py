"""The OCI runtime spec `ocix run` sends, built the way containerd 1.6's `ctr run` builds it.

The containerd v1.6.20 code it follows (the default spec, mounts, the image config, user,
devices, capabilities, env, CPU and pids options, and the order ctr applies them in) is listed
in docs/sources.md. Every function returns or edits a plain dict with the runtime-spec JSON field names;
fields Go leaves out (omitempty) are left out here too, so the dict can be compared with the
config.json containerd writes.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError
from ..kernel.caps import CAP_NAMES, CAP_NUMBERS, LAST_KNOWN_CAP, normalize_cap
from .user import ReadFile, resolve_user

# specs.Version of the runtime-spec Go package containerd 1.6.20 is built with (Debian's too).
OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
DEFAULT_NAMESPACES: tuple[str, ...] = ("pid", "ipc", "uts", "mount", "network")
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)
CPU_PERIOD = 100000  # ctr --cpus: quota = int(cpus * 100000), period 100000
CTR_CPU_SHARES = 1024  # ctr's --cpu-shares default, always written by `ctr run`
MIN_CPU_QUOTA = 1000  # the kernel refuses a CFS quota below 1 ms

# containerd's identifiers (docs/sources.md), used for namespaces and container ids.
ID_RE = re.compile(r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")
ID_MAX = 76


class SpecError(InvalidArgumentError):
    """A run option or image config that cannot become a valid runtime spec."""


def validate_container_id(cid: str, what: str = "container id") -> str:
    """containerd's identifier rule; returns the id or raises SpecError."""
    if not cid:
        raise SpecError(f"{what} must not be empty")
    if len(cid) > ID_MAX:
        raise SpecError(f"{what} {cid!r} is longer than {ID_MAX} characters ({len(cid)})")
    if not ID_RE.match(cid):
        raise SpecError(f"{what} {cid!r} is invalid: use letters and digits, separated by "
                        "single '.', '_' or '-' (must match " + ID_RE.pattern + ")")
    return cid


def default_mounts() -> list[dict[str, Any]]:
    def m(dest: str, typ: str, src: str, *opts: str) -> dict[str, Any]:
        return {"destination": dest, "type": typ, "source": src, "options": list(opts)}

    return [
        m("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        m("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        m("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
          "mode=0620", "gid=5"),
        m("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        m("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        m("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        m("/run", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
    ]


def default_unix_devices() -> list[dict[str, Any]]:
    """WithDefaultUnixDevices: null, random, full, tty, zero, urandom, console, pts, ptmx."""
    def c(major: int, minor: int | None) -> dict[str, Any]:
        d: dict[str, Any] = {"allow": True, "type": "c", "major": major}
        if minor is not None:  # /dev/pts/* has no minor: all of major 136
            d["minor"] = minor
        d["access"] = "rwm"
        return d

    return [c(1, 3), c(1, 8), c(1, 7), c(5, 0), c(1, 5), c(1, 9), c(5, 1), c(136, None), c(5, 2)]


def default_spec(namespace: str, container_id: str, *, unix_devices: bool = True) -> dict[str, Any]:
    """containerd's default Linux spec (populateDefaultUnixSpec).

    With `unix_devices` (as `ctr run` does) the default device allow-list follows the deny-all
    rule; without it the result is populateDefaultUnixSpec alone.
    """
    validate_container_id(namespace, "namespace")
    validate_container_id(container_id)
    devices: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    if unix_devices:
        devices += default_unix_devices()
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "user": {"uid": 0, "gid": 0},
            "cwd": "/",
            "capabilities": {"bounding": list(DEFAULT_CAPS), "effective": list(DEFAULT_CAPS),
                             "permitted": list(DEFAULT_CAPS)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs"},
        "mounts": default_mounts(),
        "linux": {
            "resources": {"devices": devices},
            "cgroupsPath": f"/{namespace}/{container_id}",
            "namespaces": [{"type": t} for t in DEFAULT_NAMESPACES],
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
        },
    }


def merge_env(defaults: Iterable[str], overrides: Iterable[str]) -> list[str]:
    """containerd's replaceOrAppendEnvValues.

    An override K=V replaces the default with key K (or is appended); a bare K removes the
    default K. Only keys from `defaults` are matched, so a key repeated in `overrides` and
    absent from `defaults` is appended twice, as in Go.
    """
    results: list[str | None] = []
    index: dict[str, int] = {}
    for i, e in enumerate(defaults):
        results.append(e)
        index[e.split("=", 1)[0]] = i
    for value in overrides:
        key = value.split("=", 1)[0]
        if "=" not in value:
            if key in index:
                results[index[key]] = None
        elif key in index:
            results[index[key]] = value
        else:
            results.append(value)
    return [e for e in results if e]  # Go also drops entries that were "" to begin with


def image_config_section(image_config: dict[str, Any] | None) -> dict[str, Any]:
    """The runtime part of an image config: accepts the whole config blob or its "config"."""
    if not image_config:
        return {}
    if "config" in image_config or "rootfs" in image_config or "architecture" in image_config:
        inner = image_config.get("config") or {}
    else:
        inner = image_config
    if not isinstance(inner, dict):
        raise SpecError("the image config's \"config\" is not an object")
    return inner


def _str_list(cfg: dict[str, Any], key: str) -> list[str]:
    value = cfg.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"the image config's {key} must be a list of strings, got {value!r}")
    return list(value)


def apply_image_config(spec: dict[str, Any], image_config: dict[str, Any] | None,
                       read_file: ReadFile, *, args: list[str] | None = None,
                       user: str | None = None) -> None:
    """WithImageConfigArgs: env, args, cwd and user from the image config, in place.

    `args` replace the image's Cmd (the Entrypoint stays); `user` replaces the image's User.
    """
    cfg = image_config_section(image_config)
    process = spec.setdefault("process", {})
    image_env = _str_list(cfg, "Env") or [DEFAULT_PATH_ENV]
    process["env"] = merge_env(image_env, process.get("env") or [])
    argv = _str_list(cfg, "Entrypoint") + (list(args) if args else _str_list(cfg, "Cmd"))
    if argv:
        process["args"] = argv
    else:
        process.pop("args", None)
    process["cwd"] = cfg.get("WorkingDir") or "/"
    who = user or cfg.get("User") or ""
    if not isinstance(who, str):
        raise SpecError(f"the image config's User must be a string, got {who!r}")
    process["user"] = resolve_user(who, read_file).to_json()


@dataclass(frozen=True)
class CapChange:
    add: list[str]
    drop: list[str]
    drop_all: bool


def capability_change(cap_add: Iterable[str], cap_drop: Iterable[str], *,
                      last_cap: int | None = None, bounding: int | None = None) -> CapChange:
    """--cap-add / --cap-drop as names, checked.

    `last_cap` is the kernel's highest capability, `bounding` the caller's bounding set (a
    CapBnd mask): the runtime can grant only capabilities inside it (docs/vm-limits.md).
    "ALL" in cap_add means every capability both allow, in number order; a named one outside
    the bounding set is refused by name.  None means no such limit.
    """
    top = min(LAST_KNOWN_CAP if last_cap is None else last_cap, LAST_KNOWN_CAP)
    add = [c.strip() for c in cap_add]
    drop = [c.strip() for c in cap_drop]
    add_all = any(c.upper() == "ALL" for c in add)
    drop_all = any(c.upper() == "ALL" for c in drop)
    if add_all and drop_all:
        raise SpecError("--cap-add ALL and --cap-drop ALL contradict each other")
    add_names = [normalize_cap(c, last_cap) for c in add if c.upper() != "ALL"]
    drop_names = [normalize_cap(c, last_cap) for c in drop if c.upper() != "ALL"]
    if bounding is not None:
        refused = [n for n in add_names if not bounding >> CAP_NUMBERS[n] & 1]
        if refused:
            raise SpecError(f"cannot add {', '.join(refused)}: not in this process's bounding set "
                            f"(CapBnd {bounding:016x}), so the runtime cannot grant "
                            f"{'it' if len(refused) == 1 else 'them'}",
                            hint="--cap-add ALL adds every capability that can be granted")
    if add_all:
        add_names = [n for i, n in enumerate(CAP_NAMES[: top + 1])
                     if bounding is None or bounding >> i & 1]
    return CapChange(add_names, drop_names, drop_all)


def apply_capabilities(spec: dict[str, Any], cap_add: Iterable[str], cap_drop: Iterable[str],
                       *, last_cap: int | None = None, bounding: int | None = None) -> None:
    """--cap-add / --cap-drop, in place (names checked by capability_change).

    Named caps: added to bounding/effective/permitted (appended when missing), then dropped
    from them, in that order like ctr. "ALL" in cap_drop starts from nothing (all five sets
    empty, so CapEff is 0 inside) and then adds cap_add.
    """
    change = capability_change(cap_add, cap_drop, last_cap=last_cap, bounding=bounding)
    add_names, drop_names, drop_all = change.add, change.drop, change.drop_all
    caps = spec.setdefault("process", {}).setdefault("capabilities", {})
    sets = ("bounding", "effective", "permitted")
    if drop_all:
        for k in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            caps[k] = []
    for k in sets:
        current: list[str] = caps.setdefault(k, [])
        for name in add_names:
            if name not in current:
                current.append(name)
        caps[k] = [c for c in current if c not in drop_names]


@dataclass
class RunOptions:
    """What `ocix run` lets a user change; defaults give exactly what `ctr run IMAGE ID` writes."""

    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # "K=V"; applied over the image's Env
    user: str | None = None  # uid, uid:gid, name, name:group; replaces the image's User
    cwd: str | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    memory: int | None = None  # bytes -> linux.resources.memory.limit
    pids_limit: int | None = None
    cpus: float | None = None  # -> cpu.quota = int(cpus * 100000), cpu.period = 100000
    cpu_shares: int | None = CTR_CPU_SHARES  # ctr always sets 1024; None leaves cpu.shares out
    read_only: bool = False
    net: str = "none"  # "host": share the host's network namespace, /etc/hosts, resolv.conf
    tty: bool = False
    hostname: str | None = None
    # ctr run replaces the whole argv (Entrypoint included) with the args; docker/nerdctl keep
    # the Entrypoint and replace only Cmd, which is the default here.
    replace_entrypoint: bool = False


def check_options(opts: RunOptions, *, last_cap: int | None = None,
                  bounding: int | None = None) -> None:
    """Refuse options that cannot work, before anything is created (see generate's limits)."""
    _check_values(opts)
    if opts.cap_add or opts.cap_drop:
        capability_change(opts.cap_add, opts.cap_drop, last_cap=last_cap, bounding=bounding)


def _check_values(opts: RunOptions) -> None:
    for e in opts.env:
        if "=" not in e or e.startswith("="):
            raise SpecError(f"environment entry {e!r} is not KEY=VALUE")
    if opts.net not in ("", "none", "host"):
        raise SpecError(f"unknown network mode {opts.net!r}: use 'host' or 'none'")
    if opts.memory is not None and opts.memory <= 0:
        raise SpecError(f"memory limit must be a positive number of bytes, got {opts.memory}")
    if opts.pids_limit is not None and opts.pids_limit <= 0 and opts.pids_limit != -1:
        raise SpecError(f"pids limit must be positive (or -1 for no limit), got {opts.pids_limit}")
    if opts.cpus is not None and (opts.cpus <= 0 or int(opts.cpus * CPU_PERIOD) < MIN_CPU_QUOTA):
        raise SpecError(f"--cpus must be at least {MIN_CPU_QUOTA / CPU_PERIOD}, got {opts.cpus}")
    if opts.cpu_shares is not None and opts.cpu_shares <= 0:
        raise SpecError(f"cpu shares must be positive, got {opts.cpu_shares}")
    if opts.hostname is not None and (not opts.hostname or len(opts.hostname) > 64
                                      or any(ch.isspace() for ch in opts.hostname)):
        raise SpecError(f"invalid hostname {opts.hostname!r}: 1-64 characters, no spaces")
    if opts.cwd is not None and not opts.cwd.startswith("/"):
        raise SpecError(f"the working directory must be absolute, got {opts.cwd!r}")


def _no_files(path: str) -> bytes | None:
    return None


def generate(namespace: str, container_id: str, image_config: dict[str, Any] | None,
             opts: RunOptions | None = None, read_file: ReadFile | None = None, *,
             last_cap: int | None = None, bounding: int | None = None,
             host_hostname: str | None = None) -> dict[str, Any]:
    """The spec `ocix run` sends, applying options in `ctr run`'s order (docs/sources.md).

    `read_file` reads the image rootfs (for USER lookups); `last_cap` (the kernel's
    cap_last_cap) and `bounding` (the caller's CapBnd mask) limit --cap-add, None meaning no
    limit; `host_hostname` (for HOSTNAME with net=host) defaults to this host's name.
    """
    opts = opts or RunOptions()
    _check_values(opts)
    read = read_file or _no_files
    spec = default_spec(namespace, container_id, unix_devices=True)
    process = spec["process"]
    linux = spec["linux"]
    resources = linux["resources"]

    if opts.env:  # WithEnv comes before WithImageConfig, so it wins over the image's Env
        process["env"] = merge_env([], opts.env)
    apply_image_config(spec, image_config, read,
                       args=None if opts.replace_entrypoint else opts.args, user=opts.user)
    if opts.read_only:
        spec["root"]["readonly"] = True
    if opts.replace_entrypoint and opts.args:
        process["args"] = list(opts.args)
    if not process.get("args"):
        raise SpecError("nothing to run: the image has no Entrypoint or Cmd and no command was given")
    if opts.cwd:
        process["cwd"] = opts.cwd
    if opts.tty:  # WithTTY appends, even over an image TERM
        process["terminal"] = True
        process["env"].append("TERM=xterm")
    if opts.hostname:
        spec["hostname"] = opts.hostname
    if opts.net == "host":
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
        for path in ("/etc/hosts", "/etc/resolv.conf"):
            spec["mounts"].append({"destination": path, "type": "bind", "source": path,
                                   "options": ["rbind", "ro"]})
        name = opts.hostname or host_hostname or socket.gethostname()
        process["env"] = merge_env(process["env"], [f"HOSTNAME={name}"])
    if opts.cap_add or opts.cap_drop:
        apply_capabilities(spec, opts.cap_add, opts.cap_drop, last_cap=last_cap, bounding=bounding)
    cpu: dict[str, int] = {}
    if opts.cpu_shares is not None:
        cpu["shares"] = opts.cpu_shares
    if opts.cpus:
        cpu["quota"] = int(opts.cpus * CPU_PERIOD)  # truncates like Go's int64(float)
        cpu["period"] = CPU_PERIOD
    if cpu:
        resources["cpu"] = cpu
    if opts.memory is not None:
        resources["memory"] = {"limit": opts.memory}
    if opts.pids_limit is not None:
        resources["pids"] = {"limit": opts.pids_limit}
    return spec
