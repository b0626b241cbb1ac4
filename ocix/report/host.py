"""The host and its stack: daemons, sockets, runtimes, the cgroup mode, and the call chains."""

from __future__ import annotations

from dataclasses import dataclass

from ..jobs.compare.model import CompareResult
from ..jobs.host.info import HostInfo, host_info
from .chains import ChainsView, layout


@dataclass
class HostView:
    info: HostInfo
    chains: ChainsView


def host_view(result: CompareResult | None = None, containerd: str | None = None,
              info: HostInfo | None = None) -> HostView:
    return HostView(info or host_info(containerd), layout(result))
