"""One readable line per containerd event: `ocix events`, the containerd answer to
`journalctl -u docker`."""

from __future__ import annotations

from typing import Any

from ...containerd.events import Event

# message name (without package) -> (verb, fields shown in this order)
_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "TaskCreate": ("task created", ("container_id", "pid", "bundle")),
    "TaskStart": ("task started", ("container_id", "pid")),
    "TaskExit": ("task exited", ("container_id", "id", "pid", "exit_status", "exited_at")),
    "TaskDelete": ("task deleted", ("container_id", "id", "pid", "exit_status")),
    "TaskOOM": ("task out of memory", ("container_id",)),
    "TaskExecAdded": ("exec added", ("container_id", "exec_id")),
    "TaskExecStarted": ("exec started", ("container_id", "exec_id", "pid")),
    "TaskPaused": ("task paused", ("container_id",)),
    "TaskResumed": ("task resumed", ("container_id",)),
    "TaskCheckpointed": ("task checkpointed", ("container_id", "checkpoint")),
    "TaskIO": ("task io", ("stdin", "stdout", "stderr", "terminal")),
    "ImageCreate": ("image created", ("name",)),
    "ImageUpdate": ("image updated", ("name",)),
    "ImageDelete": ("image deleted", ("name",)),
    "ContainerCreate": ("container created", ("id", "image")),
    "ContainerUpdate": ("container updated", ("id", "image", "snapshot_key")),
    "ContainerDelete": ("container deleted", ("id",)),
    "ContentDelete": ("content deleted", ("digest",)),
    "SnapshotPrepare": ("snapshot prepared", ("key", "parent")),
    "SnapshotCommit": ("snapshot committed", ("key", "name")),
    "SnapshotRemove": ("snapshot removed", ("key",)),
    "NamespaceCreate": ("namespace created", ("name",)),
    "NamespaceUpdate": ("namespace updated", ("name",)),
    "NamespaceDelete": ("namespace deleted", ("name",)),
}
_RENAME = {"exit_status": "status", "container_id": "container"}


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items())
    return str(v)


def describe(event: Event) -> str:
    """`task exited: container=c1 pid=42 status=3`; proto3 omits zero values, so a missing
    exit_status or pid is 0."""
    short = event.type.rsplit(".", 1)[-1]
    verb, keys = _FORMATS.get(short, (short or "event", tuple(sorted(event.payload))))
    parts = []
    for k in keys:
        v = event.payload.get(k)
        if v is None and k in ("exit_status", "pid"):
            v = 0
        if v is None or v == "" or (k == "id" and v == event.payload.get("container_id")):
            continue  # an init process's exec id is its container's id
        parts.append(f"{_RENAME.get(k, k)}={_value(v)}")
    return f"{verb}: {' '.join(parts)}" if parts else verb


def line(event: Event) -> str:
    when = event.timestamp.strftime("%H:%M:%S.%f")[:-3] if event.timestamp else "-"
    return f"{when} {event.namespace or '-'} {event.topic} {describe(event)}"
