"""The differences section: the rows where the paths that ran disagree, each with why.

Values that always differ (pids, inodes, container ids inside paths) are compared in a
normalised form: a namespace is "isolated" or "shared", a cgroup path becomes its parent with
ids replaced by <id>, a rootfs becomes the store it lives in. The sentences live in ROW_WHY
(rows that differ by design everywhere) and WHY (keyed by row and by the path whose value
stands out); docs/compare.md explains them at length.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ...kernel.userns import CAPS_STAY_INSIDE
from .model import NAMESPACE_TYPES, PathResult

_SHIM = ("docker", "containerd", "cri")
_BUNDLE = ("runc", "crun")

# Rows whose values differ by design on every stack: one sentence covers them all.
ROW_WHY: dict[str, str] = {
    "parent": "the init's parent is whoever started it and stayed: containerd's "
    "containerd-shim-runc-v2 (docker, containerd, the CRI), conmon for podman (no daemon), and "
    "ocix for a bundle, since `run -d` exits at once and ocix is a child subreaper meanwhile.",
    "no_new_privs": "containerd's default spec (ctr run, and the bundles ocix makes from it) "
    "sets noNewPrivileges; docker, podman and the CRI set it only when asked "
    "(--security-opt no-new-privileges, allowPrivilegeEscalation: false).",
    "seccomp": "docker and podman load their default seccomp profile (a BPF filter); "
    "containerd's default spec, the bundles and the CRI without a RuntimeDefault profile load "
    "none.",
    "cgroup.parent": "each manager picks the parent of the container's cgroup: dockerd /docker, "
    "containerd /<namespace>, the CRI plugin the pod's cgroup parent (/k8s.io when it has "
    "none), podman /libpod_parent, a bundle the cgroupsPath ocix wrote (/ocix-bundle), and a rootless "
    "container on cgroup v1 none (its unprivileged user cannot make one, so it stays in the "
    "cgroup its daemon or conmon was started in).",
    "namespaces.user": CAPS_STAY_INSIDE,
    "mounts": "docker, podman and the CRI bind-mount /etc/hostname and /etc/hosts into the "
    "container (docker and the CRI also /etc/resolv.conf) and mount the cgroup hierarchy; podman "
    "adds /run/.containerenv; containerd's default spec (ocix run and the bundles) mounts a tmpfs "
    "on /run and no /etc file. The entries such as /proc/keys or /sys/firmware are the runtime's "
    "bind mounts over the spec's masked paths.",
    "rootfs.store": "each stack keeps the root filesystem in its own store: dockerd's overlay2 "
    "dir, containerd's overlayfs snapshots (shared by the CRI), the bundle's copied rootfs, "
    "containers/storage's overlay dir.",
}
# (row, path) -> why that path's value stands out, for rows where one path is the exception.
WHY: dict[tuple[str, str], str] = {
    ("capabilities", "podman"): "podman takes its default capabilities from containers-common's "
    "containers.conf, which leaves out NET_RAW, MKNOD and AUDIT_WRITE of the 14 that docker and "
    "containerd grant (CRI-O's own list, not measured here, also drops SYS_CHROOT and SETFCAP).",
    **{("capabilities", p): "docker, containerd and the CRI plugin grant the same 14 default "
       "capabilities; podman's containers.conf leaves out NET_RAW, MKNOD and AUDIT_WRITE."
       for p in (*_SHIM, *_BUNDLE)},
    ("namespaces.net", "cri"): "the CRI pod runs with host networking (NODE) because the lab "
    "has no CNI plugin, so its containers share the host's network namespace.",
    ("namespaces.uts", "cri"): "a host-network pod also keeps the host's UTS namespace (its "
    "hostname follows the network), so the CRI container shares it.",
    **{("namespaces.cgroup", p): "docker and podman give a container a cgroup namespace of its "
       "own only on cgroup v2 hosts (or with --cgroupns private)." for p in ("docker", "podman")},
    **{("cgroup.pids_limit", p): "the bundle's config.json asked for no pids limit, so the "
       "runtime set none." for p in _BUNDLE},
    ("cgroup.pids_limit", "podman"): "podman applies containers.conf's pids_limit (2048) when "
    "no --pids-limit is given; the others ask for no limit.",
    ("cgroup.pids_limit", "cri"): "the CRI has no per-container pids limit (the kubelet sets one "
    "per pod), so --pids-limit cannot reach the CRI path.",
    **{("cgroup.memory_limit", p): "the bundle's config.json asked for no memory limit, so the "
       "runtime set none." for p in _BUNDLE},
    **{("rlimits.nofile", p): "docker's and the CRI's containers keep the open-files limit of "
       "the shim that started them, the daemon's own (20000 on this VM, docs/vm-limits.md): "
       "neither asked the runtime for another. containerd's default spec, which ocix run and "
       "the bundles follow, sets 1024/1024, and the lab gives podman --ulimit nofile=1024:1024."
       for p in ("docker", "cri")},
    ("rlimits.nproc", "podman"): "the lab starts podman's containers with --ulimit "
    "nproc=1024:1024 (podman's own default asks for more than this VM's hard limit, which "
    "even root cannot raise here, docs/podman.md); the others keep the host's process limit.",
}
# A rootless path stands out for the same reasons as the rootful stack it runs.
WHY.update({(row, f"{p}-rootless"): text for (row, p), text in list(WHY.items())
            if p in ("docker", "podman") and not row.startswith("rlimits.")})
WHY.update({(row, p): "a rootless container on cgroup v1 gets no cgroup of its own (its "
            "unprivileged user cannot write the v1 hierarchy), so no limit applies to it."
            for row in ("cgroup.pids_limit", "cgroup.memory_limit")
            for p in ("docker-rootless", "podman-rootless")})
# The last resort for a row, when neither table has a sentence for it.
FALLBACK_WHY: dict[str, str] = {
    "exit_code": "the command saw a different container on these paths (see the other rows).",
    "stdout": "what the command printed depends on what it saw, which differs in the other rows.",
    "cgroup.cpu": "only the paths given a CPU limit set a CFS quota.",
}
_ID = re.compile(r"ocix-compare-[0-9a-f]+(-[a-z]+)*|[0-9a-f]{12,}|"
                 r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f_]{20,}")


@dataclass(frozen=True)
class Difference:
    row: str
    values: dict[str, str]  # path -> the compared value
    why: str
    detail: str = ""  # e.g. which capabilities a path lacks or has in addition
    odd: list[str] = field(default_factory=list)  # the paths outside the majority


def generalise(path: str) -> str:
    """Ids inside a path (container ids, pod uids, ocix's names) become <id>."""
    return _ID.sub("<id>", path)


def _limit(v: int | None) -> str:
    return "none" if v is None else str(v)


def rows_of(r: PathResult) -> dict[str, str]:
    """The comparable rows of one path that ran."""
    rows: dict[str, str] = {
        "exit_code": str(r.exit_code),
        "stdout": r.stdout or "",
        "parent": r.parent.name if r.parent else "?",
        "capabilities": r.cap_eff or "?",  # the names of what differs go in the detail
        "no_new_privs": str(r.no_new_privs).lower(),
        "seccomp": r.seccomp or "?",
    }
    for t in NAMESPACE_TYPES:
        ns = r.namespaces.get(t)
        if ns is not None and ns.isolated is not None:
            rows[f"namespaces.{t}"] = "isolated" if ns.isolated else "shared"
    if r.cgroup is not None:
        rows["cgroup.parent"] = generalise(os.path.dirname(r.cgroup.path.rstrip("/")) or "/")
        rows["cgroup.memory_limit"] = _limit(r.cgroup.memory_limit)
        rows["cgroup.pids_limit"] = _limit(r.cgroup.pids_limit)
        rows["cgroup.cpu"] = ("none" if r.cgroup.cpu_quota_us is None
                              else f"{r.cgroup.cpu_quota_us}/{r.cgroup.cpu_period_us}")
    if r.rootfs:
        rows["rootfs.store"] = generalise(os.path.dirname(r.rootfs.rstrip("/")))
    for name, value in r.rlimits.items():
        rows[f"rlimits.{name}"] = value
    if r.mounts:
        rows["mounts"] = " ".join(sorted(set(r.mounts)))
    return rows


def _majority(groups: dict[str, list[str]], order: list[str]) -> str:
    """The value most paths share; a tie goes to the value of the earliest path."""
    return max(groups, key=lambda v: (len(groups[v]), -min(order.index(p) for p in groups[v])))


def _cap_detail(results: dict[str, PathResult], odd: list[str], ref: str) -> str:
    base = set(results[ref].capabilities)
    parts = []
    for p in odd:
        caps = set(results[p].capabilities)
        lacks, extra = sorted(base - caps), sorted(caps - base)
        bits = ([f"lacks {', '.join(lacks)}"] if lacks else []) + \
               ([f"adds {', '.join(extra)}"] if extra else [])
        parts.append(f"{p} {' and '.join(bits)} (against {ref})")
    return "; ".join(parts)


def _uid_map_detail(results: dict[str, PathResult], order: list[str]) -> str:
    """Each path's uid_map, lines joined by " / " ("identity" for the host's own map)."""
    def shown(r: PathResult) -> str:
        return "identity" if r.uid_map == ["0 0 4294967295"] else " / ".join(r.uid_map) or "?"
    return "uid_map: " + "; ".join(f"{p} {shown(results[p])}" for p in order)


def why_for(row: str, odd: list[str], rest: tuple[str, ...] = ()) -> str:
    """The reason for `row`: of the odd paths, else of a rootless path in the majority (when
    the rootless paths outnumber the rootful ones, the rootful path is the exception)."""
    if row in ROW_WHY:
        return ROW_WHY[row]
    sentences: list[str] = []
    for p in [*odd, *(p for p in rest if p.endswith("-rootless"))]:
        if sentences and p not in odd:
            break
        s = WHY.get((row, p))
        if s and s not in sentences:
            sentences.append(s)
    return " ".join(sentences) or FALLBACK_WHY.get(row, "the paths build this differently.")


def differences(results: list[PathResult]) -> list[Difference]:
    """Rows on which the paths that ran disagree, in row order, each with its reason."""
    ran = [r for r in results if r.ran]
    if len(ran) < 2:
        return []
    order = [r.path for r in ran]
    by_path = {r.path: r for r in ran}
    table = {r.path: rows_of(r) for r in ran}
    row_names: list[str] = []
    for rows in table.values():
        row_names += [k for k in rows if k not in row_names]
    out: list[Difference] = []
    for row in row_names:
        values = {p: table[p][row] for p in order if row in table[p]}
        groups: dict[str, list[str]] = {}
        for p, v in values.items():
            groups.setdefault(v, []).append(p)
        if len(groups) < 2:
            continue
        major = _majority(groups, order)
        odd = [p for p in order if p in values and values[p] != major]
        detail = ""
        if row == "capabilities":
            detail = _cap_detail(by_path, odd, groups[major][0])
        elif row == "namespaces.user":
            detail = _uid_map_detail(by_path, order)
        rest = tuple(p for p in order if p in values and p not in odd)
        out.append(Difference(row, values, why_for(row, odd, rest), detail, odd))
    return out
