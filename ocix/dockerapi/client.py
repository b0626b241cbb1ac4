"""The Docker Engine API through the `docker` SDK's low-level APIClient, one traced call path.

The SDK is imported only inside this module's functions, never at CLI start-up. The API
version is negotiated (`version="auto"`): the client asks dockerd's /version first and speaks
the version the daemon reports, so a 20.10 dockerd (API 1.41) and newer ones both work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .. import trace
from ..errors import OcixError, from_docker

if TYPE_CHECKING:
    import docker

T = TypeVar("T")

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_TIMEOUT = 60.0
# The lab puts dockerd's socket at $OCIX_LAB_DIR/docker.sock (ocix/lab/state.py).
LAB_SOCKET_NAME = "docker.sock"


@dataclass(frozen=True)
class DockerVersion:
    version: str
    api_version: str
    os: str
    arch: str
    kernel: str
    # Name -> version of what the engine reports running on: "containerd", "runc", "docker-init".
    components: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DockerInfo:
    storage_driver: str
    docker_root_dir: str
    cgroup_version: str
    cgroup_driver: str
    security_options: list[str]
    rootless: bool
    runtimes: list[str]
    default_runtime: str
    containerd_snapshotter: str = ""  # set when dockerd stores images in containerd's snapshotter


def socket_from_env(socket: str | None = None) -> str:
    """The Docker socket as a unix:// URL: explicit, DOCKER_HOST, the lab's, or the system's."""
    if socket:
        return socket if "://" in socket else f"unix://{socket}"
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    lab = os.environ.get("OCIX_LAB_DIR")
    if lab and (Path(lab) / LAB_SOCKET_NAME).is_socket():
        return f"unix://{Path(lab).absolute() / LAB_SOCKET_NAME}"
    return f"unix://{DEFAULT_SOCKET}"


class DockerClient:
    """dockerd's Engine API. Every request goes through `call`, which traces and maps errors."""

    def __init__(self, socket: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.socket = socket if "://" in socket else f"unix://{socket}"  # a bare socket path
        self.timeout = timeout
        self._api: docker.APIClient | None = None

    @classmethod
    def from_env(cls, socket: str | None = None) -> DockerClient:
        return cls(socket_from_env(socket))

    @property
    def api(self) -> docker.APIClient:
        """The SDK's APIClient; the first use negotiates the API version with dockerd."""
        if self._api is None:
            import docker

            self._api = self._traced("negotiate API version", lambda: docker.APIClient(
                base_url=self.socket, version="auto", timeout=self.timeout))
        return self._api

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call: `what` names it in the --trace line and in any error message."""
        return self._traced(what, lambda: fn(*args, **kwargs))

    def _traced(self, what: str, thunk: Callable[[], T]) -> T:
        import docker.errors
        import requests.exceptions

        start = time.monotonic()
        status = "OK"
        try:
            return thunk()
        except (docker.errors.DockerException, requests.exceptions.RequestException,
                FileNotFoundError, ConnectionError) as e:
            status = str(getattr(e, "status_code", None) or type(e).__name__)
            raise from_docker(e, socket=self.socket, what=what) from e
        finally:
            trace.emit("http", f"docker {what}", time.monotonic() - start, status,
                       self.socket)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def __enter__(self) -> DockerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> DockerVersion:
        v = self.call("GET /version", self.api.version)
        comps = {str(c.get("Name", "")): str(c.get("Version", ""))
                 for c in v.get("Components") or [] if isinstance(c, dict)}
        return DockerVersion(version=str(v.get("Version", "")),
                             api_version=str(v.get("ApiVersion", "")),
                             os=str(v.get("Os", "")), arch=str(v.get("Arch", "")),
                             kernel=str(v.get("KernelVersion", "")), components=comps)

    def info(self) -> DockerInfo:
        return info_from_json(self.call("GET /info", self.api.info))

    def container_pid(self, name_or_id: str) -> int:
        """The host pid of a running container's init process."""
        data = self.call(f"GET /containers/{name_or_id}/json", self.api.inspect_container,
                         name_or_id)
        pid = int((data.get("State") or {}).get("Pid") or 0)
        if pid <= 0:
            raise OcixError(f"docker container {name_or_id} is not running",
                            hint=f"start it: docker start {name_or_id}")
        return pid


def info_from_json(data: dict[str, Any]) -> DockerInfo:
    """GET /info's answer as a DockerInfo (pure: unit-tested on recorded answers)."""
    security = [str(s) for s in data.get("SecurityOptions") or []]
    snapshotter = ""
    for pair in data.get("DriverStatus") or []:
        # dockerd with the containerd image store reports ["driver-type", "io.containerd.snapshotter.v1"]
        if len(pair) == 2 and pair[0] == "driver-type" and "snapshotter" in str(pair[1]):
            snapshotter = str(data.get("Driver", ""))
    return DockerInfo(
        storage_driver=str(data.get("Driver", "")),
        docker_root_dir=str(data.get("DockerRootDir", "")),
        cgroup_version=str(data.get("CgroupVersion", "")),
        cgroup_driver=str(data.get("CgroupDriver", "")),
        security_options=security,
        # Each option reads "name=seccomp,profile=default"; a rootless daemon lists "name=rootless".
        rootless=any("name=rootless" in s.split(",") for s in security),
        runtimes=sorted(str(k) for k in (data.get("Runtimes") or {})),
        default_runtime=str(data.get("DefaultRuntime", "")),
        containerd_snapshotter=snapshotter,
    )
