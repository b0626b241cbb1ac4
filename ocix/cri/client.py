"""The Kubernetes CRI (runtime.v1) client: RuntimeService and ImageService on any CRI socket.

It speaks to containerd's `cri` plugin (which keeps everything in containerd namespace `k8s.io`)
or to CRI-O, through ocix's own CRI subset (proto/cri/runtime/v1/api.proto).  No namespace header
is sent.  Every call goes through `Connection.call`, which maps gRPC failures to OcixError and
writes the `--trace` line; see docs/cri.md for the endpoint rules.
"""

from __future__ import annotations

import importlib
import os
import stat
import time
from typing import Any

from ..containerd.connection import DEFAULT_ADDRESS, Connection, socket_path
from ..errors import NotFoundError, OcixError, UnreachableError, UsageError
from . import CRI_PEER, CRIO_SOCKET
from .config import ContainerConfig, PodConfig, api_pb2
from .types import (
    CONTAINER_STATES,
    SANDBOX_STATES,
    Container,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    FsUsage,
    Image,
    PodSandbox,
    PodSandboxStatus,
    RuntimeInfo,
    Version,
    container_from_pb,
    container_status_from_pb,
    fs_usage_from_pb,
    image_from_pb,
    runtime_info_from_pb,
    sandbox_from_pb,
    sandbox_status_from_pb,
    stats_from_pb,
    version_from_pb,
)

CRI_NAMESPACE = "k8s.io"  # where containerd's CRI plugin keeps its images, containers and tasks
ENDPOINT_ENV = "CONTAINER_RUNTIME_ENDPOINT"  # crictl's variable


def resolve_endpoint(explicit: str | None = None, containerd_address: str | None = None) -> str:
    """The CRI socket path: --cri-address, else $CONTAINER_RUNTIME_ENDPOINT, else the containerd
    socket ocix uses (--address / $CONTAINERD_ADDRESS, as the lab's env sets), else the first of
    containerd's and CRI-O's default sockets that exists."""
    endpoint = explicit or os.environ.get(ENDPOINT_ENV) or containerd_address
    if not endpoint:
        candidates = [DEFAULT_ADDRESS, CRIO_SOCKET]
        endpoint = next((c for c in candidates if os.path.exists(c)), DEFAULT_ADDRESS)
    if "://" in endpoint and not endpoint.startswith("unix://"):
        raise UsageError(f"unsupported CRI endpoint {endpoint!r}: only unix sockets are supported",
                         hint="forward a remote node's socket over SSH: "
                              "ssh -nNT -L /tmp/node.sock:/run/containerd/containerd.sock NODE")
    return socket_path(endpoint)


def check_socket(path: str) -> None:
    """UnreachableError (exit 2) unless `path` is a unix socket we may open."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UnreachableError(f"CRI endpoint {path} does not exist", subject=CRI_PEER) from None
    except PermissionError:
        raise UnreachableError(f"CRI endpoint {path} is not accessible (permission denied)",
                               hint="run ocix as root") from None
    if not stat.S_ISSOCK(mode):
        raise UnreachableError(f"CRI endpoint {path} is not a unix socket", subject=CRI_PEER)


class CriClient:
    """runtime.v1 RuntimeService and ImageService on one CRI socket."""

    def __init__(self, address: str, timeout: float | None = 30.0) -> None:
        self.address = socket_path(address)
        self.timeout = timeout
        # The channel and call wrapper; the socket may be containerd's or CRI-O's.
        self._conn = Connection(self.address, CRI_NAMESPACE, timeout, peer=CRI_PEER)
        self._stubs: dict[str, Any] = {}
        self._pb = api_pb2()

    def close(self) -> None:
        self._conn.close()
        self._stubs.clear()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, service: str, method: str, request: Any, what: str,
              timeout: float | None = -1.0) -> Any:
        if not self._stubs:
            check_socket(self.address)
            try:
                grpc_mod = importlib.import_module("ocix._api.cri.runtime.v1.api_pb2_grpc")
            except ImportError as e:
                raise OcixError(f"the generated CRI stubs are missing ({e.name})",
                                hint="run `make stubs` (or `make setup`)") from e
            channel = self._conn.channel()
            self._stubs = {"runtime": grpc_mod.RuntimeServiceStub(channel),
                           "image": grpc_mod.ImageServiceStub(channel)}
        return self._conn.call(self._stubs[service], method, request,
                               label=f"cri.{service}.{method}", timeout=timeout, what=what)

    # -- runtime / images --------------------------------------------------------------
    def version(self) -> Version:
        return version_from_pb(self._call("runtime", "Version",
                                          self._pb.VersionRequest(version="v1"), "CRI version"))

    def info(self, verbose: bool = True) -> RuntimeInfo:
        """Status: conditions (RuntimeReady, NetworkReady) and, verbose, the runtime's config."""
        return runtime_info_from_pb(self._call("runtime", "Status",
                                               self._pb.StatusRequest(verbose=verbose), "CRI status"))

    def status(self) -> dict[str, bool]:
        """Runtime conditions (RuntimeReady, NetworkReady) -> status."""
        return {c.type: c.status for c in self.info(verbose=False).conditions}

    def list_images(self, image: str = "") -> list[Image]:
        """All images, or those whose id, tag or digest reference is `image`, or the image the
        runtime resolves `image` to (a short name such as `busybox`).

        The filter is sent, but containerd 1.6 ignores it, so it is applied here as well."""
        req = self._pb.ListImagesRequest()
        if image:
            req.filter.image.image = image
        r = self._call("image", "ListImages", req, "list CRI images")
        found = [image_from_pb(i) for i in r.images]
        if image:
            resolved = self.image_status(image)
            found = [i for i in found if image == i.id or image in i.repo_tags
                     or image in i.repo_digests or (resolved is not None and i.id == resolved.id)]
        return found

    def image_status(self, image: str) -> Image | None:
        """The image `image` names (the runtime normalizes the reference), or None."""
        r = self._call("image", "ImageStatus",
                       self._pb.ImageStatusRequest(image=self._pb.ImageSpec(image=image)),
                       f"CRI image {image}")
        return image_from_pb(r.image) if r.HasField("image") and r.image.id else None

    def pull_image(self, image: str, *, timeout: float | None = 300.0) -> str:
        """Pull through the runtime (its own registry config); returns the image id."""
        r = self._call("image", "PullImage",
                       self._pb.PullImageRequest(image=self._pb.ImageSpec(image=image)),
                       f"CRI pull {image}", timeout=timeout)
        return str(r.image_ref)

    def remove_image(self, image: str) -> None:
        self._call("image", "RemoveImage",
                   self._pb.RemoveImageRequest(image=self._pb.ImageSpec(image=image)),
                   f"CRI remove image {image}")

    def image_fs_info(self) -> list[FsUsage]:
        r = self._call("image", "ImageFsInfo", self._pb.ImageFsInfoRequest(), "CRI image fs info")
        return [fs_usage_from_pb(u) for u in r.image_filesystems]

    # -- pod sandboxes -----------------------------------------------------------------
    def run_pod(self, config: PodConfig, runtime_handler: str = "", *,
                timeout: float | None = 120.0) -> str:
        r = self._call("runtime", "RunPodSandbox",
                       self._pb.RunPodSandboxRequest(config=config.to_pb(),
                                                     runtime_handler=runtime_handler),
                       f"run pod {config.name}", timeout=timeout)
        return str(r.pod_sandbox_id)

    def stop_pod(self, pod_id: str) -> None:
        self._call_id("runtime", "StopPodSandbox",
                      self._pb.StopPodSandboxRequest(pod_sandbox_id=pod_id), "pod", pod_id,
                      timeout=120.0)

    def remove_pod(self, pod_id: str) -> None:
        self._call_id("runtime", "RemovePodSandbox",
                      self._pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id), "pod", pod_id,
                      timeout=120.0)

    def pod_status(self, pod_id: str, verbose: bool = False) -> PodSandboxStatus:
        r = self._call_id("runtime", "PodSandboxStatus",
                          self._pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose),
                          "pod", pod_id)
        return sandbox_status_from_pb(r.status, r.info)

    def list_pod_sandboxes(self, *, labels: dict[str, str] | None = None, pod_id: str = "",
                           state: str = "") -> list[PodSandbox]:
        req = self._pb.ListPodSandboxRequest()
        _filter(req.filter, labels, pod_id, state and _code(SANDBOX_STATES, state, "pod state"))
        r = self._call("runtime", "ListPodSandbox", req, "list pod sandboxes")
        return [sandbox_from_pb(p) for p in r.items]

    # -- containers --------------------------------------------------------------------
    def create_container(self, pod_id: str, config: ContainerConfig, pod: PodConfig) -> str:
        r = self._call_id("runtime", "CreateContainer",
                          self._pb.CreateContainerRequest(pod_sandbox_id=pod_id,
                                                          config=config.to_pb(),
                                                          sandbox_config=pod.to_pb()),
                          "pod", pod_id, what=f"create container {config.name} in pod {pod_id}")
        return str(r.container_id)

    def start_container(self, container_id: str) -> None:
        self._call_id("runtime", "StartContainer",
                      self._pb.StartContainerRequest(container_id=container_id),
                      "container", container_id)

    def stop_container(self, container_id: str, timeout: int = 10) -> None:
        self._call_id("runtime", "StopContainer",
                      self._pb.StopContainerRequest(container_id=container_id, timeout=timeout),
                      "container", container_id, timeout=timeout + 30.0)

    def remove_container(self, container_id: str) -> None:
        self._call_id("runtime", "RemoveContainer",
                      self._pb.RemoveContainerRequest(container_id=container_id),
                      "container", container_id)

    def container_status(self, container_id: str, verbose: bool = False) -> ContainerStatus:
        r = self._call_id("runtime", "ContainerStatus",
                          self._pb.ContainerStatusRequest(container_id=container_id,
                                                          verbose=verbose),
                          "container", container_id)
        return container_status_from_pb(r.status, r.info)

    def list_containers(self, *, pod_id: str = "", labels: dict[str, str] | None = None,
                        container_id: str = "", state: str = "") -> list[Container]:
        req = self._pb.ListContainersRequest()
        if pod_id:
            req.filter.pod_sandbox_id = pod_id
        _filter(req.filter, labels, container_id,
                state and _code(CONTAINER_STATES, state, "container state"))
        r = self._call("runtime", "ListContainers", req, "list containers")
        return [container_from_pb(c) for c in r.containers]

    def exec_sync(self, container_id: str, cmd: list[str], timeout: int = 0) -> ExecResult:
        """Run `cmd` in the running container and wait; timeout in seconds, 0 = none."""
        r = self._call_id("runtime", "ExecSync",
                          self._pb.ExecSyncRequest(container_id=container_id, cmd=cmd,
                                                   timeout=timeout),
                          "container", container_id, timeout=(timeout + 30.0) if timeout else None)
        return ExecResult(stdout=bytes(r.stdout), stderr=bytes(r.stderr), exit_code=r.exit_code)

    def list_container_stats(self, *, container_id: str = "", pod_id: str = "",
                             labels: dict[str, str] | None = None) -> list[ContainerStats]:
        req = self._pb.ListContainerStatsRequest()
        req.filter.id = container_id
        req.filter.pod_sandbox_id = pod_id
        if labels:
            req.filter.label_selector.update(labels)
        r = self._call("runtime", "ListContainerStats", req, "list container stats")
        return [stats_from_pb(s) for s in r.stats]

    def wait_exited(self, container_id: str, timeout: float = 30.0,
                    interval: float = 0.2) -> ContainerStatus:
        """Poll ContainerStatus until the container has exited; OcixError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.container_status(container_id)
            if st.state == "exited":
                return st
            if time.monotonic() >= deadline:
                raise OcixError(f"container {container_id} still {st.state} after {timeout:g} s")
            time.sleep(interval)

    def _call_id(self, service: str, method: str, request: Any, kind: str, ident: str, *,
                 what: str = "", timeout: float | None = -1.0) -> Any:
        """A call about one pod or container: an unknown id gets a hint where to list them."""
        if not ident:
            raise UsageError(f"a {kind} ID is required")
        try:
            return self._call(service, method, request, what or f"{kind} {ident}", timeout)
        except NotFoundError as e:
            e.kind = e.kind or f"cri-{kind}-unknown"  # the CLI says where to list them
            raise


def _filter(f: Any, labels: dict[str, str] | None, ident: str, state: int | str) -> None:
    """The fields a pod and a container filter share; `state` is a code, or "" for any."""
    if labels:
        f.label_selector.update(labels)
    if ident:
        f.id = ident
    if state != "":
        f.state.state = state


def _code(table: dict[int, str], name: str, what: str) -> int:
    for code, label in table.items():
        if label == name.lower():
            return code
    raise UsageError(f"unknown {what} {name!r}: use one of {', '.join(table.values())}")
