"""What a process's user namespace means for it: who uid 0 inside is on the host, and why
capabilities held inside a user namespace give no power over the host."""

from __future__ import annotations

from dataclasses import dataclass

from .proc import IdMapping, NamespaceInfo, is_identity_map

# Why a rootless container's capabilities give no power outside: said once, shown by
# `ocix compare --rootless` (its differences) and `ocix info` (docs/rootless.md).  Its CapEff
# is the runtime's usual default set (measured: podman 800405fb, dockerd a80425fb); only
# rootlesskit's own child holds the full set.
CAPS_STAY_INSIDE = (
    "a rootless container has a user namespace of its own whose uid 0 is the unprivileged lab "
    "user on the host (see uid_map), so its CapEff, the runtime's usual default set, counts "
    "only over what that namespace owns, while host files, devices and other users' processes "
    "belong to the host's user namespace, where the container holds no capability.")


@dataclass(frozen=True)
class UserNamespace:
    isolated: bool | None  # None: the links could not be compared
    root_on_host: int | None  # host uid that uid 0 inside stands for; None: 0 is not mapped
    uid_map: list[IdMapping]
    gid_map: list[IdMapping]
    note: str


def host_uid(mappings: list[IdMapping], inside: int) -> int | None:
    for m in mappings:
        if m.inside <= inside < m.inside + m.count:
            return m.outside + (inside - m.inside)
    return None


def describe(ns: NamespaceInfo | None, uid_map: list[IdMapping], gid_map: list[IdMapping],
             host_uid_now: int) -> UserNamespace:
    """`host_uid_now`: the effective uid /proc/PID/status shows us (the initial namespace's view)."""
    isolated = ns.isolated if ns is not None else None
    if isolated is None and uid_map:  # links unreadable: the map alone still tells
        isolated = not is_identity_map(uid_map)
    root = host_uid(uid_map, 0) if uid_map else 0
    me = host_uid_now
    if isolated and root not in (None, 0):
        note = (f"user namespace isolated: uid 0 inside is uid {root} on the host. Capabilities "
                f"count only over what this user namespace owns (its own mount, network, pid "
                f"namespaces); host files, devices and other users' processes belong to the "
                f"initial user namespace, where this process is uid {me} with no capabilities.")
    elif isolated:
        note = ("user namespace isolated, but uid 0 inside is host root: its capabilities "
                "still act on objects host root owns.")
    elif isolated is False:
        note = (f"shares the host's user namespace: uid {me} here is uid {me} on the host, "
                f"and its capabilities act on the host" + (" (uid 0: this is root)." if me == 0 else "."))
    else:
        note = "user namespace unknown: its link or uid_map could not be read."
    return UserNamespace(isolated, root, uid_map, gid_map, note)
