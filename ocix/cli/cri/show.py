"""How `ocix cri` renders, the way crictl does: short IDs, "5 minutes ago", decimal sizes, rows."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ...cri.client import CriClient
    from ...cri.types import ContainerStatus, Image, PodSandbox, PodSandboxStatus
    from ...jobs.cri.crictl import ContainerEntry, StatsRow

TRUNCATED_ID = 13  # crictl's short ID length
POD_COLUMNS = ["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"]
CONTAINER_COLUMNS = ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD",
                     "NAMESPACE"]
IMAGE_COLUMNS = ["IMAGE", "TAG", "IMAGE ID", "SIZE"]
STATS_COLUMNS = ["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"]
POD_STATES = {"ready": "Ready", "notready": "NotReady"}
CONTAINER_STATES = {"created": "Created", "running": "Running", "exited": "Exited",
                    "unknown": "Unknown"}


class CriState:
    """The endpoint `ocix cri` talks to; the client is opened on first use, closed at exit."""

    def __init__(self, explicit: str | None, containerd_address: str | None,
                 timeout: float) -> None:
        self.explicit = explicit
        self.containerd_address = containerd_address
        self.timeout = timeout
        self._client: CriClient | None = None

    def client(self) -> CriClient:
        if self._client is None:
            from ...cri.client import CriClient, resolve_endpoint

            self._client = CriClient(resolve_endpoint(self.explicit, self.containerd_address),
                                     timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


pass_cri = click.make_pass_decorator(CriState)


def short_id(ident: str, prefix: str = "", no_trunc: bool = False) -> str:
    ident = ident.removeprefix(prefix)
    return ident if no_trunc else ident[:TRUNCATED_ID]


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration wording, which crictl prints before "ago"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def ago(ns: int, now: float | None = None) -> str:
    return human_duration((time.time() if now is None else now) - ns / 1e9) + " ago"


def decimal_size(n: float, precision: int = 4) -> str:
    """Go's units.HumanSizeWithPrecision: powers of 1000, `precision` significant digits."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.{precision}g}{units[i]}"


def pod_rows(pods: list[PodSandbox], no_trunc: bool = False,
             now: float | None = None) -> list[list[str]]:
    return [[short_id(p.id, no_trunc=no_trunc), ago(p.created_at, now),
             POD_STATES.get(p.state, p.state), p.name, p.namespace, str(p.attempt),
             p.runtime_handler or "(default)"] for p in pods]


def container_rows(entries: list[ContainerEntry], no_trunc: bool = False,
                   now: float | None = None) -> list[list[str]]:
    rows = []
    for e in entries:
        c = e.container
        image = c.image
        if not no_trunc and image.startswith("sha256:"):
            image = short_id(image, "sha256:")  # the kubelet passes image IDs
        rows.append([short_id(c.id, no_trunc=no_trunc), image, ago(c.created_at, now),
                     CONTAINER_STATES.get(c.state, c.state), c.name, str(c.attempt),
                     short_id(c.pod_sandbox_id, no_trunc=no_trunc), e.pod_name, e.pod_namespace])
    return rows


def image_rows(images: list[Image], digests: bool = False,
               no_trunc: bool = False) -> tuple[list[str], list[list[str]]]:
    """crictl's images table: one row per tag; untagged images show their repository <none>."""
    columns = IMAGE_COLUMNS[:2] + (["DIGEST"] if digests else []) + IMAGE_COLUMNS[2:]
    rows = []
    for img in images:
        repo, digest = "<none>", "<none>"
        if img.repo_digests:
            repo, _, digest = img.repo_digests[0].partition("@")
        pairs = []
        for tag in img.repo_tags or [f"{repo}:<none>"]:
            name, _, t = tag.rpartition(":")
            pairs.append((repo if name == "<none>" else name, t))
        size = decimal_size(img.size, 3)
        for name, tag in pairs:
            row = [name, tag] + ([short_id(digest, "sha256:", no_trunc)] if digests else [])
            rows.append([*row, short_id(img.id, "sha256:", no_trunc), size])
    return columns, rows


def stats_rows(rows: list[StatsRow], no_trunc: bool = False) -> list[list[str]]:
    return [[short_id(r.id, no_trunc=no_trunc), r.name, f"{r.cpu_percent:.2f}",
             decimal_size(r.memory_working_set), decimal_size(r.disk_used), str(r.inodes_used)]
            for r in rows]


def status_document(statuses: list[Any]) -> Any:
    """crictl inspect/inspectp/info JSON: {"status": ..., <info keys>}, a list for several."""
    docs = [{"status": s.api_json, **s.info} for s in statuses]
    return docs[0] if len(docs) == 1 else docs


def container_pairs(s: ContainerStatus, now: float | None = None) -> list[tuple[str, str]]:
    pairs = [("ID", s.id), ("Name", s.name), ("Attempt", str(s.attempt)),
             ("State", CONTAINER_STATES.get(s.state, s.state)), ("Created", ago(s.created_at, now))]
    if s.state != "created":
        pairs.append(("Started", ago(s.started_at, now)))
    if s.state == "exited":
        pairs += [("Finished", ago(s.finished_at, now)), ("Exit Code", str(s.exit_code)),
                  ("Reason", s.reason)]
    pairs += [("Image", s.image), ("Image Ref", s.image_ref), ("Log Path", s.log_path)]
    pairs += [(f"Label {k}", v) for k, v in sorted(s.labels.items())]
    return pairs


def pod_pairs(p: PodSandboxStatus, now: float | None = None) -> list[tuple[str, str]]:
    pairs = [("ID", p.id), ("Name", p.name), ("UID", p.uid), ("Namespace", p.namespace),
             ("Attempt", str(p.attempt)), ("Status", POD_STATES.get(p.state, p.state)),
             ("Created", ago(p.created_at, now)),
             ("Namespaces", f"network={p.network} pid={p.pid} ipc={p.ipc}"),
             ("IP", p.ip or ("(host network)" if p.network == "node" else "")),
             ("Runtime", p.runtime_handler or "(default)")]
    pairs += [(f"Label {k}", v) for k, v in sorted(p.labels.items())]
    return pairs
