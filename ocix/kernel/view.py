"""One process's kernel view: namespaces, cgroups, capabilities, identity, seccomp."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .caps import CapSets
from .cgroups import CGROUP_ROOT, CgroupInfo, ResourceSummary, cgroups, summarize
from .proc import (
    PROC,
    Identity,
    IdMapping,
    NamespaceInfo,
    PidRef,
    namespaces,
    read_id_map,
    read_status,
)
from .userns import UserNamespace, describe

SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}


@dataclass
class KernelView:
    pid: int
    name: str
    namespaces: list[NamespaceInfo]
    namespace_reference: str  # whose namespaces "shared" compares with: "1", "self" or ""
    cgroups: list[CgroupInfo]
    resources: ResourceSummary
    caps: CapSets
    identity: Identity
    no_new_privs: bool | None  # None: kernel too old to report it
    seccomp: int | None  # 0 disabled, 1 strict, 2 filter
    seccomp_filters: int | None
    uid_map: list[IdMapping] = field(default_factory=list)
    gid_map: list[IdMapping] = field(default_factory=list)

    @property
    def seccomp_mode(self) -> str:
        return "unknown" if self.seccomp is None else SECCOMP_MODES.get(self.seccomp, str(self.seccomp))

    def namespace(self, ns_type: str) -> NamespaceInfo | None:
        return next((n for n in self.namespaces if n.type == ns_type), None)

    @property
    def user_namespace(self) -> UserNamespace:
        return describe(self.namespace("user"), self.uid_map, self.gid_map, self.identity.uid[1])


def _opt_int(status: dict[str, str], key: str) -> int | None:
    v = status.get(key)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def kernel_view(pid: PidRef, proc_root: Path = PROC, cgroup_root: Path = CGROUP_ROOT, *,
                reference: PidRef | None = 1) -> KernelView:
    """Read everything about `pid`; ProcessNotFoundError / ProcAccessError when we cannot."""
    status = read_status(pid, proc_root)
    ns, ref_used = namespaces(pid, proc_root, reference)
    cg = cgroups(pid, proc_root, cgroup_root)
    nnp = _opt_int(status, "NoNewPrivs")
    real_pid = _opt_int(status, "Pid")
    return KernelView(
        pid=real_pid if real_pid is not None else (pid if isinstance(pid, int) else -1),
        name=status.get("Name", ""),
        namespaces=ns,
        namespace_reference=ref_used,
        cgroups=cg,
        resources=summarize(cg),
        caps=CapSets.from_status(status),
        identity=Identity.from_status(status),
        no_new_privs=None if nnp is None else nnp == 1,
        seccomp=_opt_int(status, "Seccomp"),
        seccomp_filters=_opt_int(status, "Seccomp_filters"),
        uid_map=read_id_map(pid, "uid_map", proc_root),
        gid_map=read_id_map(pid, "gid_map", proc_root),
    )
