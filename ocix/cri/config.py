"""What ocix sends to RunPodSandbox and CreateContainer: pod and container configs as dataclasses.

Namespace modes are the CRI's, by name: `pod` (the pod's own), `container` (the container's
own), `node` (the host's) and `target`.  A pod on `node` network needs no CNI.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import OcixError

NAMESPACE_MODES = {"pod": 0, "container": 1, "node": 2, "target": 3}
PROTOCOLS = {"tcp": 0, "udp": 1, "sctp": 2}
PROPAGATIONS = {"private": 0, "host_to_container": 1, "bidirectional": 2}


def api_pb2() -> Any:
    try:
        return importlib.import_module("ocix._api.cri.runtime.v1.api_pb2")
    except ImportError as e:
        raise OcixError(f"the generated CRI stubs are missing ({e.name})",
                        hint="run `make stubs` (or `make setup`) in the ocix checkout") from e


@dataclass
class PortMapping:
    container_port: int
    host_port: int = 0
    protocol: str = "tcp"
    host_ip: str = ""


@dataclass
class MountSpec:
    container_path: str
    host_path: str
    readonly: bool = False
    selinux_relabel: bool = False
    propagation: str = "private"


@dataclass
class DeviceSpec:
    container_path: str
    host_path: str
    permissions: str = "rwm"


def _namespaces(pb: Any, network: str, pid: str, ipc: str, target_id: str = "") -> Any:
    return pb.NamespaceOption(network=NAMESPACE_MODES[network], pid=NAMESPACE_MODES[pid],
                              ipc=NAMESPACE_MODES[ipc], target_id=target_id)


def _int64(pb: Any, value: int | None) -> Any:
    return None if value is None else pb.Int64Value(value=value)


@dataclass
class PodConfig:
    """What RunPodSandbox needs; the same config goes again with each CreateContainer."""

    name: str
    uid: str
    namespace: str = "default"
    attempt: int = 0
    log_directory: str = ""  # containers' log_path values are relative to it
    hostname: str = ""
    network: str = "node"  # node network needs no CNI
    pid: str = "pod"
    ipc: str = "pod"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""
    sysctls: dict[str, str] = field(default_factory=dict)
    dns_servers: list[str] = field(default_factory=list)
    dns_searches: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    port_mappings: list[PortMapping] = field(default_factory=list)
    privileged: bool = False
    readonly_rootfs: bool = False
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: list[int] = field(default_factory=list)

    def to_pb(self) -> Any:
        pb = api_pb2()
        dns = None
        if self.dns_servers or self.dns_searches or self.dns_options:
            dns = pb.DNSConfig(servers=self.dns_servers, searches=self.dns_searches,
                               options=self.dns_options)
        security = pb.LinuxSandboxSecurityContext(
            namespace_options=_namespaces(pb, self.network, self.pid, self.ipc),
            run_as_user=_int64(pb, self.run_as_user), run_as_group=_int64(pb, self.run_as_group),
            readonly_rootfs=self.readonly_rootfs, supplemental_groups=self.supplemental_groups,
            privileged=self.privileged)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=self.name, uid=self.uid, namespace=self.namespace,
                                           attempt=self.attempt),
            hostname=self.hostname, log_directory=self.log_directory, dns_config=dns,
            port_mappings=[pb.PortMapping(protocol=PROTOCOLS[p.protocol],
                                          container_port=p.container_port,
                                          host_port=p.host_port, host_ip=p.host_ip)
                           for p in self.port_mappings],
            labels=self.labels, annotations=self.annotations,
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=self.cgroup_parent,
                                           security_context=security, sysctls=self.sysctls))


@dataclass
class ContainerConfig:
    name: str
    image: str
    command: list[str] = field(default_factory=list)  # replaces the image's entrypoint
    args: list[str] = field(default_factory=list)  # replaces the image's cmd
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    log_path: str = ""  # relative to the pod's log_directory
    attempt: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[MountSpec] = field(default_factory=list)
    devices: list[DeviceSpec] = field(default_factory=list)
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    # Like the kubelet: the pod's network, a pid namespace of the container's own.
    network: str = "node"  # should match the pod's
    pid: str = "container"
    ipc: str = "pod"
    target_id: str = ""
    # cgroup limits; 0 / "" leave the runtime's default
    memory_limit: int = 0  # bytes
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_shares: int = 0
    oom_score_adj: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    privileged: bool = False
    readonly_rootfs: bool = False
    no_new_privs: bool = False
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_username: str = ""
    supplemental_groups: list[int] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)  # e.g. NET_ADMIN, or ALL
    cap_drop: list[str] = field(default_factory=list)
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)

    def to_pb(self) -> Any:
        pb = api_pb2()
        caps = None
        if self.cap_add or self.cap_drop:
            caps = pb.Capability(add_capabilities=self.cap_add, drop_capabilities=self.cap_drop)
        security = pb.LinuxContainerSecurityContext(
            capabilities=caps, privileged=self.privileged,
            namespace_options=_namespaces(pb, self.network, self.pid, self.ipc, self.target_id),
            run_as_user=_int64(pb, self.run_as_user), run_as_group=_int64(pb, self.run_as_group),
            run_as_username=self.run_as_username, readonly_rootfs=self.readonly_rootfs,
            supplemental_groups=self.supplemental_groups, no_new_privs=self.no_new_privs,
            masked_paths=self.masked_paths, readonly_paths=self.readonly_paths)
        resources = pb.LinuxContainerResources(
            cpu_period=self.cpu_period, cpu_quota=self.cpu_quota, cpu_shares=self.cpu_shares,
            memory_limit_in_bytes=self.memory_limit, oom_score_adj=self.oom_score_adj,
            cpuset_cpus=self.cpuset_cpus, cpuset_mems=self.cpuset_mems)
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=self.name, attempt=self.attempt),
            image=pb.ImageSpec(image=self.image), command=self.command, args=self.args,
            working_dir=self.working_dir,
            envs=[pb.KeyValue(key=k, value=v) for k, v in self.env.items()],
            mounts=[pb.Mount(container_path=m.container_path, host_path=m.host_path,
                             readonly=m.readonly, selinux_relabel=m.selinux_relabel,
                             propagation=PROPAGATIONS[m.propagation]) for m in self.mounts],
            devices=[pb.Device(container_path=d.container_path, host_path=d.host_path,
                               permissions=d.permissions) for d in self.devices],
            labels=self.labels, annotations=self.annotations, log_path=self.log_path,
            stdin=self.stdin, stdin_once=self.stdin_once, tty=self.tty,
            linux=pb.LinuxContainerConfig(resources=resources, security_context=security))
