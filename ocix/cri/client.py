"""The Kubernetes CRI (runtime.v1) as containerd's `cri` plugin serves it on its main socket.

A small client over ocix's own CRI subset (proto/cri/runtime/v1/api.proto): version, images,
pod sandboxes and containers.  The CRI plugin always works in containerd namespace `k8s.io`, so
no namespace header is sent.  Every gRPC failure becomes an OcixError via `errors.from_grpc`.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any

from .. import trace
from ..containerd.connection import Connection, socket_path
from ..errors import OcixError, from_grpc

CRI_NAMESPACE = "k8s.io"  # where the CRI plugin keeps its images, containers and tasks

SANDBOX_STATES = {0: "ready", 1: "notready"}
CONTAINER_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}


def _load(name: str) -> Any:
    try:
        return importlib.import_module("ocix._api.cri.runtime.v1." + name)
    except ImportError as e:
        raise OcixError(f"the generated CRI stubs are missing ({e.name})",
                        hint="run `make stubs` (or `make setup`) in the ocix checkout") from e


# -- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    version: str
    runtime_name: str
    runtime_version: str
    runtime_api_version: str


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size: int
    username: str = ""
    pinned: bool = False


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


# -- requests -----------------------------------------------------------------------------

@dataclass
class PodConfig:
    """What RunPodSandbox needs; the same config goes again with each CreateContainer."""

    name: str
    uid: str
    namespace: str = "default"
    attempt: int = 0
    log_directory: str = ""  # containers' log_path values are relative to it
    hostname: str = ""
    host_network: bool = True  # NODE network needs no CNI
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = ""

    def to_pb(self) -> Any:
        pb = _load("api_pb2")
        ns = pb.NamespaceOption(network=pb.NODE if self.host_network else pb.POD,
                                pid=pb.POD, ipc=pb.POD)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=self.name, uid=self.uid, namespace=self.namespace,
                                           attempt=self.attempt),
            hostname=self.hostname, log_directory=self.log_directory,
            labels=self.labels, annotations=self.annotations,
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))


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
    host_network: bool = True  # should match the pod's
    cap_add: list[str] = field(default_factory=list)  # NET_ADMIN or ALL (no CAP_ prefix)
    cap_drop: list[str] = field(default_factory=list)
    run_as_user: int | None = None
    run_as_username: str = ""
    run_as_group: int | None = None
    memory_limit: int = 0  # bytes; 0: none

    def to_pb(self) -> Any:
        pb = _load("api_pb2")
        # Like the kubelet: the pod's network, a pid namespace of the container's own.
        ns = pb.NamespaceOption(network=pb.NODE if self.host_network else pb.POD,
                                pid=pb.CONTAINER, ipc=pb.POD)
        sc = pb.LinuxContainerSecurityContext(
            namespace_options=ns, run_as_username=self.run_as_username,
            capabilities=pb.Capability(add_capabilities=self.cap_add,
                                       drop_capabilities=self.cap_drop))
        if self.run_as_user is not None:
            sc.run_as_user.value = self.run_as_user
        if self.run_as_group is not None:
            sc.run_as_group.value = self.run_as_group
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=self.name, attempt=self.attempt),
            image=pb.ImageSpec(image=self.image), command=self.command, args=self.args,
            working_dir=self.working_dir,
            envs=[pb.KeyValue(key=k, value=v) for k, v in self.env.items()],
            labels=self.labels, log_path=self.log_path,
            linux=pb.LinuxContainerConfig(
                resources=pb.LinuxContainerResources(memory_limit_in_bytes=self.memory_limit),
                security_context=sc))


# -- conversions --------------------------------------------------------------------------

def _image(pb: Any) -> Image:
    return Image(id=pb.id, repo_tags=list(pb.repo_tags), repo_digests=list(pb.repo_digests),
                 size=pb.size, username=pb.username, pinned=pb.pinned)


def _sandbox(pb: Any) -> PodSandbox:
    m = pb.metadata
    return PodSandbox(id=pb.id, name=m.name, uid=m.uid, namespace=m.namespace, attempt=m.attempt,
                      state=SANDBOX_STATES.get(pb.state, str(pb.state)), created_at=pb.created_at,
                      labels=dict(pb.labels), runtime_handler=pb.runtime_handler)


def _container(pb: Any) -> Container:
    return Container(id=pb.id, pod_sandbox_id=pb.pod_sandbox_id, name=pb.metadata.name,
                     attempt=pb.metadata.attempt, image=pb.image.image, image_ref=pb.image_ref,
                     state=CONTAINER_STATES.get(pb.state, str(pb.state)),
                     created_at=pb.created_at, labels=dict(pb.labels))


def _container_status(pb: Any) -> ContainerStatus:
    return ContainerStatus(id=pb.id, name=pb.metadata.name,
                           state=CONTAINER_STATES.get(pb.state, str(pb.state)),
                           exit_code=pb.exit_code, created_at=pb.created_at,
                           started_at=pb.started_at, finished_at=pb.finished_at,
                           image=pb.image.image, image_ref=pb.image_ref, reason=pb.reason,
                           message=pb.message, log_path=pb.log_path)


# -- the client ---------------------------------------------------------------------------

class CriClient:
    """runtime.v1 RuntimeService and ImageService on a containerd socket."""

    def __init__(self, address: str, timeout: float | None = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        # Connection checks the socket and owns the channel options; CRI needs none of its headers.
        self._conn = Connection(address, CRI_NAMESPACE, timeout)
        self._runtime: Any = None
        self._images: Any = None
        self._pb = _load("api_pb2")

    def close(self) -> None:
        self._conn.close()
        self._runtime = self._images = None

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, service: str, method: str, request: Any, what: str,
              timeout: float | None = -1.0) -> Any:
        if self._runtime is None:
            grpc_mod = _load("api_pb2_grpc")
            channel = self._conn.channel()
            self._runtime = grpc_mod.RuntimeServiceStub(channel)
            self._images = grpc_mod.ImageServiceStub(channel)
        stub = self._runtime if service == "runtime" else self._images
        import grpc

        start = time.monotonic()
        status = "OK"
        try:
            return getattr(stub, method)(request, timeout=self.timeout if timeout == -1.0 else timeout)
        except grpc.RpcError as e:
            status = getattr(e.code(), "name", "ERROR") if hasattr(e, "code") else "ERROR"
            raise from_grpc(e, address=socket_path(self.address), what=what) from e
        finally:
            trace.emit("grpc", f"cri.{service}.{method}", time.monotonic() - start, status)

    # -- runtime / images --------------------------------------------------------------
    def version(self) -> Version:
        r = self._call("runtime", "Version", self._pb.VersionRequest(version="v1"), "CRI version")
        return Version(r.version, r.runtime_name, r.runtime_version, r.runtime_api_version)

    def status(self) -> dict[str, bool]:
        """Runtime conditions (RuntimeReady, NetworkReady) -> status."""
        r = self._call("runtime", "Status", self._pb.StatusRequest(), "CRI status")
        return {c.type: c.status for c in r.status.conditions}

    def list_images(self, image: str = "") -> list[Image]:
        """All images, or those whose id, tag or digest reference is `image`.

        The filter is sent, but containerd 1.6 ignores it, so it is applied here as well."""
        req = self._pb.ListImagesRequest()
        if image:
            req.filter.image.image = image
        r = self._call("image", "ListImages", req, "list CRI images")
        found = [_image(i) for i in r.images]
        if image:
            found = [i for i in found if image == i.id or image in i.repo_tags or image in i.repo_digests]
        return found

    def pull_image(self, image: str, *, timeout: float | None = 300.0) -> str:
        """Pull through the CRI plugin (its registry config); returns the image id."""
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
        return [FsUsage(mountpoint=u.fs_id.mountpoint, used_bytes=u.used_bytes.value,
                        inodes_used=u.inodes_used.value, timestamp=u.timestamp)
                for u in r.image_filesystems]

    # -- pod sandboxes -----------------------------------------------------------------
    def run_pod(self, config: PodConfig, runtime_handler: str = "", *,
                timeout: float | None = 120.0) -> str:
        r = self._call("runtime", "RunPodSandbox",
                       self._pb.RunPodSandboxRequest(config=config.to_pb(),
                                                     runtime_handler=runtime_handler),
                       f"run pod {config.name}", timeout=timeout)
        return str(r.pod_sandbox_id)

    def stop_pod(self, pod_id: str) -> None:
        self._call("runtime", "StopPodSandbox",
                   self._pb.StopPodSandboxRequest(pod_sandbox_id=pod_id), f"stop pod {pod_id}")

    def remove_pod(self, pod_id: str) -> None:
        self._call("runtime", "RemovePodSandbox",
                   self._pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id), f"remove pod {pod_id}")

    def pod_status(self, pod_id: str) -> PodSandbox:
        r = self._call("runtime", "PodSandboxStatus",
                       self._pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id), f"pod {pod_id}")
        s = r.status
        m = s.metadata
        return PodSandbox(id=s.id, name=m.name, uid=m.uid, namespace=m.namespace,
                          attempt=m.attempt, state=SANDBOX_STATES.get(s.state, str(s.state)),
                          created_at=s.created_at, labels=dict(s.labels),
                          runtime_handler=s.runtime_handler)

    def list_pod_sandboxes(self, *, labels: dict[str, str] | None = None) -> list[PodSandbox]:
        req = self._pb.ListPodSandboxRequest()
        if labels:
            req.filter.label_selector.update(labels)
        r = self._call("runtime", "ListPodSandbox", req, "list pod sandboxes")
        return [_sandbox(p) for p in r.items]

    # -- containers --------------------------------------------------------------------
    def create_container(self, pod_id: str, config: ContainerConfig, pod: PodConfig) -> str:
        r = self._call("runtime", "CreateContainer",
                       self._pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=config.to_pb(),
                                                       sandbox_config=pod.to_pb()),
                       f"create container {config.name}")
        return str(r.container_id)

    def start_container(self, container_id: str) -> None:
        self._call("runtime", "StartContainer",
                   self._pb.StartContainerRequest(container_id=container_id),
                   f"start container {container_id}")

    def stop_container(self, container_id: str, timeout: int = 10) -> None:
        self._call("runtime", "StopContainer",
                   self._pb.StopContainerRequest(container_id=container_id, timeout=timeout),
                   f"stop container {container_id}", timeout=timeout + 30.0)

    def remove_container(self, container_id: str) -> None:
        self._call("runtime", "RemoveContainer",
                   self._pb.RemoveContainerRequest(container_id=container_id),
                   f"remove container {container_id}")

    def container_status(self, container_id: str) -> ContainerStatus:
        r = self._call("runtime", "ContainerStatus",
                       self._pb.ContainerStatusRequest(container_id=container_id),
                       f"container {container_id}")
        return _container_status(r.status)

    def list_containers(self, *, pod_id: str = "",
                        labels: dict[str, str] | None = None) -> list[Container]:
        req = self._pb.ListContainersRequest()
        if pod_id:
            req.filter.pod_sandbox_id = pod_id
        if labels:
            req.filter.label_selector.update(labels)
        r = self._call("runtime", "ListContainers", req, "list containers")
        return [_container(c) for c in r.containers]

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
