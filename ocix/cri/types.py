"""What the CRI client returns: dataclasses built from runtime.v1 messages, and their API JSON.

Each result keeps `api_json`: the message as protobuf JSON (camelCase names, int64 as strings,
enum names, default values included), which is the shape crictl prints with `-o json`.  Only
the fields of ocix's CRI subset appear there; a runtime's newer fields are not decoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SANDBOX_STATES = {0: "ready", 1: "notready"}
CONTAINER_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}
NAMESPACE_MODES = {0: "pod", 1: "container", 2: "node", 3: "target"}

# Labels the kubelet puts on every container; crictl's POD and NAMESPACE columns read them.
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"


def message_json(pb: Any) -> dict[str, Any]:
    """A protobuf message as protobuf JSON, default values included, keys in field-number order
    (as Go's protojson, and so crictl, writes them)."""
    from google.protobuf import json_format

    return _ordered(pb.DESCRIPTOR,
                    json_format.MessageToDict(pb, always_print_fields_with_no_presence=True))


def _ordered(descriptor: Any, doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in sorted(descriptor.fields, key=lambda f: f.number):
        if f.json_name not in doc:
            continue
        value = doc[f.json_name]
        sub = f.message_type
        if sub is not None and not sub.GetOptions().map_entry:
            value = ([_ordered(sub, v) for v in value] if isinstance(value, list)
                     else _ordered(sub, value))
        out[f.json_name] = value
    return out


def rfc3339(ns: int) -> str:
    """Unix nanoseconds as RFC 3339 in UTC; 0 is Go's zero time, as crictl prints it."""
    if ns <= 0:
        return "0001-01-01T00:00:00Z"
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def info_json(info: Any) -> dict[str, Any]:
    """A verbose `info` map: JSON object values parsed, other values with their quotes stripped."""
    out: dict[str, Any] = {}
    for key in sorted(info):
        value = str(info[key])
        if value.startswith("{"):
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value.strip('"')
    return out


@dataclass(frozen=True)
class Version:
    version: str
    runtime_name: str
    runtime_version: str
    runtime_api_version: str
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


@dataclass(frozen=True)
class RuntimeInfo:
    """Status: the runtime's conditions, and with verbose the runtime's own info map."""

    conditions: list[Condition]
    info: dict[str, Any]
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size: int
    username: str = ""
    pinned: bool = False
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class FsUsage:
    mountpoint: str
    used_bytes: int
    inodes_used: int
    timestamp: int


@dataclass(frozen=True)
class PodSandbox:
    id: str
    name: str
    uid: str
    namespace: str
    attempt: int
    state: str
    created_at: int
    labels: dict[str, str]
    runtime_handler: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PodSandboxStatus(PodSandbox):
    """PodSandboxStatus: the listing's fields, the pod's IPs and namespaces, and verbose info."""

    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)
    network: str = ""  # namespace modes: pod, container, node or target
    pid: str = ""
    ipc: str = ""
    info: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Container:
    id: str
    pod_sandbox_id: str
    name: str
    attempt: int
    image: str
    image_ref: str
    state: str
    created_at: int
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class MountInfo:
    container_path: str
    host_path: str
    readonly: bool


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    name: str
    state: str
    exit_code: int
    created_at: int
    started_at: int
    finished_at: int
    image: str
    image_ref: str
    reason: str
    message: str
    log_path: str
    attempt: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: list[MountInfo] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


@dataclass(frozen=True)
class ContainerStats:
    """One ListContainerStats sample; counters are cumulative, timestamps in unix ns."""

    id: str
    name: str
    labels: dict[str, str]
    cpu_timestamp: int
    cpu_usage_core_ns: int
    memory_working_set: int
    memory_usage: int
    disk_used: int
    inodes_used: int
    api_json: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# -- conversions from runtime.v1 messages --------------------------------------------------

def version_from_pb(pb: Any) -> Version:
    return Version(pb.version, pb.runtime_name, pb.runtime_version, pb.runtime_api_version,
                   api_json=message_json(pb))


def runtime_info_from_pb(pb: Any) -> RuntimeInfo:
    return RuntimeInfo(conditions=[Condition(c.type, c.status, c.reason, c.message)
                                   for c in pb.status.conditions],
                       info=info_json(pb.info), api_json=message_json(pb.status))


def image_from_pb(pb: Any) -> Image:
    return Image(id=pb.id, repo_tags=list(pb.repo_tags), repo_digests=list(pb.repo_digests),
                 size=pb.size, username=pb.username, pinned=pb.pinned, api_json=message_json(pb))


def fs_usage_from_pb(pb: Any) -> FsUsage:
    return FsUsage(mountpoint=pb.fs_id.mountpoint, used_bytes=pb.used_bytes.value,
                   inodes_used=pb.inodes_used.value, timestamp=pb.timestamp)


def sandbox_from_pb(pb: Any) -> PodSandbox:
    m = pb.metadata
    return PodSandbox(id=pb.id, name=m.name, uid=m.uid, namespace=m.namespace, attempt=m.attempt,
                      state=SANDBOX_STATES.get(pb.state, str(pb.state)), created_at=pb.created_at,
                      labels=dict(pb.labels), runtime_handler=pb.runtime_handler,
                      annotations=dict(pb.annotations), api_json=message_json(pb))


def sandbox_status_from_pb(pb: Any, info: Any) -> PodSandboxStatus:
    m = pb.metadata
    ns = pb.linux.namespaces.options
    api = message_json(pb)
    api["createdAt"] = rfc3339(pb.created_at)  # crictl inspectp shows times, not nanoseconds
    return PodSandboxStatus(
        id=pb.id, name=m.name, uid=m.uid, namespace=m.namespace, attempt=m.attempt,
        state=SANDBOX_STATES.get(pb.state, str(pb.state)), created_at=pb.created_at,
        labels=dict(pb.labels), runtime_handler=pb.runtime_handler,
        annotations=dict(pb.annotations), api_json=api, ip=pb.network.ip,
        additional_ips=[i.ip for i in pb.network.additional_ips],
        network=NAMESPACE_MODES.get(ns.network, str(ns.network)),
        pid=NAMESPACE_MODES.get(ns.pid, str(ns.pid)), ipc=NAMESPACE_MODES.get(ns.ipc, str(ns.ipc)),
        info=info_json(info))


def container_from_pb(pb: Any) -> Container:
    return Container(id=pb.id, pod_sandbox_id=pb.pod_sandbox_id, name=pb.metadata.name,
                     attempt=pb.metadata.attempt, image=pb.image.image, image_ref=pb.image_ref,
                     state=CONTAINER_STATES.get(pb.state, str(pb.state)),
                     created_at=pb.created_at, labels=dict(pb.labels),
                     annotations=dict(pb.annotations), api_json=message_json(pb))


def container_status_from_pb(pb: Any, info: Any = None) -> ContainerStatus:
    state = CONTAINER_STATES.get(pb.state, str(pb.state))
    api = message_json(pb)
    # Like crictl inspect: times as RFC 3339, zero where the container never got that far.
    api["createdAt"] = rfc3339(pb.created_at)
    api["startedAt"] = rfc3339(pb.started_at if state != "created" else 0)
    finished = state == "exited" or (state == "unknown" and pb.finished_at > 0)
    api["finishedAt"] = rfc3339(pb.finished_at if finished else 0)
    return ContainerStatus(
        id=pb.id, name=pb.metadata.name, state=state, exit_code=pb.exit_code,
        created_at=pb.created_at, started_at=pb.started_at, finished_at=pb.finished_at,
        image=pb.image.image, image_ref=pb.image_ref, reason=pb.reason, message=pb.message,
        log_path=pb.log_path, attempt=pb.metadata.attempt, labels=dict(pb.labels),
        annotations=dict(pb.annotations),
        mounts=[MountInfo(m.container_path, m.host_path, m.readonly) for m in pb.mounts],
        info=info_json(info or {}), api_json=api)


def stats_from_pb(pb: Any) -> ContainerStats:
    a = pb.attributes
    return ContainerStats(id=a.id, name=a.metadata.name, labels=dict(a.labels),
                          cpu_timestamp=pb.cpu.timestamp,
                          cpu_usage_core_ns=pb.cpu.usage_core_nano_seconds.value,
                          memory_working_set=pb.memory.working_set_bytes.value,
                          memory_usage=pb.memory.usage_bytes.value,
                          disk_used=pb.writable_layer.used_bytes.value,
                          inodes_used=pb.writable_layer.inodes_used.value,
                          api_json=message_json(pb))
