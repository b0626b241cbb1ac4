"""Linux capabilities: names by number, hex masks from /proc/PID/status, the kernel's last cap."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgumentError

# Index = capability number (linux/capability.h); the same list as containerd's pkg/cap (kernel 5.9).
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",              # 0
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",               # 5
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",   # 10
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",          # 15
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",          # 20
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",           # 25
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",      # 30
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",         # 35
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",  # 40
)
CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}
LAST_KNOWN_CAP = len(CAP_NAMES) - 1

# The /proc/PID/status keys, in the order the kernel prints them.
STATUS_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


class UnknownCapabilityError(InvalidArgumentError):
    pass


def cap_last_cap(proc_root: Path = Path("/proc")) -> int | None:
    """The running kernel's highest capability number, or None if /proc does not say."""
    try:
        return int((proc_root / "sys/kernel/cap_last_cap").read_text().strip())
    except (OSError, ValueError):
        return None


def cap_name(number: int) -> str:
    """The name of a capability number; numbers newer than this table read as 'cap_<n>'."""
    return CAP_NAMES[number] if 0 <= number < len(CAP_NAMES) else f"cap_{number}"


def cap_number(name: str) -> int:
    """The inverse of cap_name: 'CAP_NET_RAW' -> 13, 'cap_45' -> 45."""
    if name in CAP_NUMBERS:
        return CAP_NUMBERS[name]
    return int(name.removeprefix("cap_"))


def normalize_cap(name: str, last_cap: int | None = None) -> str:
    """'net_admin', 'NET_ADMIN' or 'CAP_NET_ADMIN' -> 'CAP_NET_ADMIN', or a clear error.

    With `last_cap` (the kernel's), a capability the running kernel lacks is refused too.
    """
    upper = name.strip().upper()
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    number = CAP_NUMBERS.get(full)
    if number is None:
        raise UnknownCapabilityError(
            f"unknown capability {name!r}",
            hint="names are like CAP_NET_ADMIN or NET_ADMIN; see capabilities(7)")
    if last_cap is not None and number > last_cap:
        raise UnknownCapabilityError(
            f"capability {full} (number {number}) is not supported by this kernel "
            f"(cap_last_cap is {last_cap})")
    return full


def decode_caps(mask: str | int) -> list[str]:
    """A CapEff-style hex mask ('000001ffffffffff' or an int) -> names, lowest bit first."""
    value = int(mask, 16) if isinstance(mask, str) else mask
    if value < 0:
        raise InvalidArgumentError(f"a capability mask cannot be negative: {mask!r}")
    return [cap_name(i) for i in range(value.bit_length()) if value >> i & 1]


def encode_caps(names: Iterable[str]) -> int:
    """The inverse of decode_caps (names must be known)."""
    value = 0
    for n in names:
        value |= 1 << CAP_NUMBERS[normalize_cap(n)]
    return value


@dataclass(frozen=True)
class CapSet:
    mask: int
    names: list[str]

    @property
    def hex(self) -> str:
        return f"{self.mask:016x}"

    @classmethod
    def from_hex(cls, text: str) -> CapSet:
        value = int(text, 16)
        return cls(value, decode_caps(value))


@dataclass(frozen=True)
class CapSets:
    inheritable: CapSet
    permitted: CapSet
    effective: CapSet
    bounding: CapSet
    ambient: CapSet

    @classmethod
    def from_status(cls, status: dict[str, str]) -> CapSets:
        """From the parsed /proc/PID/status; a missing line reads as an empty set."""
        sets = [CapSet.from_hex(status.get(k, "0") or "0") for k in STATUS_KEYS]
        return cls(*sets)


def parse_caps(text: str, last_cap: int | None = None) -> CapSet:
    """A hex mask ('00000000a80425fb', '0xa80425fb') or names ('NET_RAW,CAP_MKNOD', 'ALL')."""
    stripped = text.strip()
    if _HEX.fullmatch(stripped):
        return CapSet.from_hex(stripped.removeprefix("0x").removeprefix("0X"))
    names = [n for n in stripped.replace(",", " ").split() if n]
    if not names:
        raise InvalidArgumentError("no capability given",
                                   hint="give a hex mask like 00000000a80425fb or names like NET_RAW")
    return names_to_set(names, last_cap)


def names_to_set(names: Iterable[str], last_cap: int | None = None) -> CapSet:
    """Names (any spelling normalize_cap takes, or ALL: every capability up to `last_cap`)."""
    value = 0
    for n in names:
        if n.strip().upper() in ("ALL", "CAP_ALL"):
            value |= (1 << ((LAST_KNOWN_CAP if last_cap is None else last_cap) + 1)) - 1
        else:
            value |= 1 << CAP_NUMBERS[normalize_cap(n, last_cap)]
    return CapSet(value, decode_caps(value))


def parse_cap_args(args: Iterable[str], last_cap: int | None = None) -> list[tuple[str, CapSet]]:
    """`ocix caps` arguments: each hex mask is its own set; all names together form one set."""
    out: list[tuple[str, CapSet]] = []
    names: list[str] = []
    at = -1  # the names' set goes where the first name was
    for arg in args:
        if _HEX.fullmatch(arg.strip()):
            out.append((arg, parse_caps(arg, last_cap)))
        else:
            at = len(out) if at < 0 else at
            names += [n for n in arg.replace(",", " ").split() if n]
    if names:
        out.insert(at, (",".join(names), names_to_set(names, last_cap)))
    return out


@dataclass(frozen=True)
class CapDiff:
    a: CapSet
    b: CapSet
    only_a: list[str]
    only_b: list[str]
    both: list[str]


def diff_caps(a: CapSet, b: CapSet) -> CapDiff:
    """What each set has that the other lacks, lowest bit first."""
    return CapDiff(a, b, decode_caps(a.mask & ~b.mask), decode_caps(b.mask & ~a.mask),
                   decode_caps(a.mask & b.mask))


_HEX = re.compile(r"(0[xX])?[0-9a-fA-F]+")
