"""crictl's rules over a CriClient: which pods and containers a listing shows, how a pod is run,
a container created, things removed, and CPU use sampled.  See docs/cri.md."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ...cri.client import CriClient
from ...cri.config import ContainerConfig, PodConfig
from ...cri.types import (
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    Container,
    ContainerStats,
    PodSandbox,
)
from ...errors import FailedPreconditionError, OcixError, UsageError

T = TypeVar("T")

NO_NETWORK_HINT = ("this runtime has no pod network (CNI); for a host-network pod set "
                   "linux.security_context.namespace_options.network to 2 (NODE) in the pod "
                   "config, and the same in the container config")


def _regex(pattern: str, what: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UsageError(f"invalid {what} pattern {pattern!r}: {e}") from None


def _last(items: list[T], latest: bool, last: int) -> list[T]:
    n = 1 if latest else last
    return items[:n] if n > 0 else items


def list_pods(client: CriClient, *, pod_id: str = "", name: str = "", namespace: str = "",
              state: str = "", labels: dict[str, str] | None = None, latest: bool = False,
              last: int = 0) -> list[PodSandbox]:
    """Pods newest first; `name` and `namespace` are regular expressions (searched, like crictl)."""
    name_re, ns_re = _regex(name, "name"), _regex(namespace, "namespace")
    pods = client.list_pod_sandboxes(labels=labels, pod_id=pod_id, state=state)
    pods = [p for p in pods if (name_re is None or name_re.search(p.name))
            and (ns_re is None or ns_re.search(p.namespace))]
    pods.sort(key=lambda p: p.created_at, reverse=True)
    return _last(pods, latest, last)


@dataclass(frozen=True)
class ContainerEntry:
    """A listed container with the name and namespace of its pod."""

    container: Container
    pod_name: str
    pod_namespace: str


def list_containers(client: CriClient, *, all: bool = False, state: str = "",
                    container_id: str = "", pod_id: str = "", name: str = "",
                    namespace: str = "", image: str = "", labels: dict[str, str] | None = None,
                    latest: bool = False, last: int = 0) -> list[ContainerEntry]:
    """Containers newest first: running ones unless `all` or `state` (or `latest`/`last`) say
    otherwise.  The pod's name comes from the kubelet's labels, else from the pod listing."""
    name_re, ns_re = _regex(name, "name"), _regex(namespace, "namespace")
    if not state and not all and not latest and last <= 0:
        state = "running"
    if latest or last > 0:
        state = ""  # crictl: --latest/--last look at every state
    found = client.list_containers(pod_id=pod_id, labels=labels, container_id=container_id,
                                   state=state)
    pods: dict[str, PodSandbox] | None = None
    entries = []
    for c in sorted(found, key=lambda c: c.created_at, reverse=True):
        pod_name, pod_ns = c.labels.get(POD_NAME_LABEL), c.labels.get(POD_NAMESPACE_LABEL)
        if pod_name is None or pod_ns is None:
            if pods is None:
                pods = {p.id: p for p in client.list_pod_sandboxes()}
            pod = pods.get(c.pod_sandbox_id)
            pod_name = pod_name or (pod.name if pod else "unknown")
            pod_ns = pod_ns or (pod.namespace if pod else "unknown")
        if name_re is not None and not name_re.search(c.name):
            continue
        if ns_re is not None and not ns_re.search(pod_ns):
            continue
        if image and image not in (c.image, c.image_ref):
            continue
        entries.append(ContainerEntry(c, pod_name, pod_ns))
    return _last(entries, latest, last)


def run_pod(client: CriClient, config: PodConfig, runtime_handler: str = "") -> str:
    """RunPodSandbox; a pod-network pod is refused first when the runtime has no network."""
    if config.network == "pod":
        info = client.info(verbose=False)
        net = next((c for c in info.conditions if c.type == "NetworkReady"), None)
        if net is not None and not net.status:
            raise FailedPreconditionError(
                f"pod {config.name} asks for a pod network, but the runtime's network is not "
                f"ready ({net.reason}: {net.message})", hint=NO_NETWORK_HINT)
    return client.run_pod(config, runtime_handler)


def create_container(client: CriClient, pod_id: str, config: ContainerConfig, pod: PodConfig,
                     *, pull: bool = True) -> tuple[str, str | None]:
    """CreateContainer, pulling the image through the runtime first when it lacks it.

    Returns the container id and the pulled image id (None when nothing was pulled)."""
    pulled = None
    if client.image_status(config.image) is None:
        if not pull:
            raise FailedPreconditionError(f"the runtime does not have image {config.image}",
                                          kind="cri-image-missing", subject=config.image)
        pulled = client.pull_image(config.image)
    return client.create_container(pod_id, config, pod), pulled


def remove_containers(client: CriClient, ids: list[str], *, force: bool = False,
                      all: bool = False) -> list[str]:
    """RemoveContainer each; a running one needs `force` (then it is stopped first).

    With `all` and no containers there is nothing to do, and that is no error (crictl agrees)."""
    return _remove_each(
        ids, all, force, "container",
        listing=lambda: {c.id: c.state for c in client.list_containers()},
        busy=lambda cid, state: (state or client.container_status(cid).state) == "running",
        refusal=lambda cid: FailedPreconditionError(f"container {cid} is running",
                                                   hint="stop it first, or pass --force"),
        stop=lambda cid: client.stop_container(cid, timeout=0),
        remove=lambda cid: client.remove_container(cid))


def remove_pods(client: CriClient, ids: list[str], *, force: bool = False,
                all: bool = False) -> list[str]:
    """RemovePodSandbox each (its containers go with it); a ready pod needs `force`.

    With `all` and no pods there is nothing to do, and that is no error (crictl agrees)."""
    return _remove_each(
        ids, all, force, "pod",
        listing=lambda: {p.id: p.state for p in client.list_pod_sandboxes()},
        busy=lambda pid, state: (state or client.pod_status(pid).state) == "ready",
        refusal=lambda pid: FailedPreconditionError(f"pod {pid} is ready (running)",
                                                   kind="cri-pod-ready"),
        stop=lambda pid: client.stop_pod(pid), remove=lambda pid: client.remove_pod(pid))


def _remove_each(ids: list[str], all: bool, force: bool, what: str, *,
                 listing: Callable[[], dict[str, str]], busy: Callable[[str, str], bool],
                 refusal: Callable[[str], OcixError], stop: Callable[[str], object],
                 remove: Callable[[str], object]) -> list[str]:
    """The rule rm and rmp share: with `all`, the listing gives the ids and each state (no
    status call per item); a busy one is refused unless `force`, which stops it first."""
    listed: dict[str, str] = {}
    if all:
        listed = listing()
        ids = list(listed)
    elif not ids:
        raise UsageError(f"no {what} ID given", hint="pass IDs or --all")
    for i in ids:
        if busy(i, listed.get(i, "")):
            if not force:
                raise refusal(i)
            stop(i)
        remove(i)
    return ids


@dataclass(frozen=True)
class StatsRow:
    """One container's use over the sample: CPU as a percentage of one core."""

    id: str
    name: str
    cpu_percent: float
    memory_working_set: int
    disk_used: int
    inodes_used: int
    stats: ContainerStats


def sample_stats(client: CriClient, *, seconds: float = 1.0, all: bool = False,
                 container_id: str = "", pod_id: str = "",
                 labels: dict[str, str] | None = None) -> list[StatsRow]:
    """Two ListContainerStats samples `seconds` apart, like crictl stats.

    Containers that use no CPU and no memory (not running) are left out unless `all`."""
    def sample() -> dict[str, ContainerStats]:
        return {s.id: s for s in client.list_container_stats(container_id=container_id,
                                                             pod_id=pod_id, labels=labels)}

    before = sample()
    time.sleep(seconds)
    rows = []
    for cid, s in sample().items():
        if not all and s.cpu_usage_core_ns == 0 and s.memory_working_set == 0:
            continue
        old = before.get(cid)
        if old is None:
            continue  # started during the sample
        cpu = 0.0
        elapsed = s.cpu_timestamp - old.cpu_timestamp
        if s.cpu_usage_core_ns and elapsed > 0:
            cpu = (s.cpu_usage_core_ns - old.cpu_usage_core_ns) / elapsed * 100
        rows.append(StatsRow(cid, s.name, cpu, s.memory_working_set, s.disk_used, s.inodes_used, s))
    return rows
