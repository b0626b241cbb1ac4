"""The numbers the teaching text quotes, computed from this host where it has the component.

Default capability sets: runc's from `runc spec`, containerd's from the spec ocix generates the
way ctr does (ocix/oci/spec.py), podman's from containers.conf as podman reads it; CRI-O has no
Debian package, so its set is the upstream list, named with its source (docs/sources.md). The
tests in tests/unit/test_teach_facts.py compare every mask the topics quote with these.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..kernel.caps import encode_caps, normalize_cap
from ..programs import find

# CRI-O's `Default()` list (docs/sources.md): containers-common's list without SYS_CHROOT and
# SETFCAP, since CRI-O 1.18 (which dropped NET_RAW and SYS_CHROOT).
CRIO_DEFAULT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID",
                     "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_KILL")
CRIO_SOURCE = "cri-o internal/config/capabilities/capabilities_linux.go (since CRI-O 1.18)"


@dataclass(frozen=True)
class CapDefault:
    """One component's default capability set and where this answer came from."""

    component: str
    names: tuple[str, ...]  # CAP_* names, in the source's order
    source: str  # "runc spec (runc 1.1.5)", or the upstream file when absent here
    live: bool  # computed on this host

    @property
    def mask(self) -> str:
        return f"{encode_caps(self.names):016x}"

    @property
    def count(self) -> int:
        return len(self.names)


def runc_default() -> CapDefault | None:
    """The effective set of the config.json `runc spec` writes (None without runc)."""
    runc = find("runc")
    if runc is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        try:
            subprocess.run([runc, "spec"], cwd=d, capture_output=True, timeout=10, check=True)
            spec = json.loads((Path(d) / "config.json").read_text())
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
    names = tuple(spec.get("process", {}).get("capabilities", {}).get("effective", []))
    from ..programs import version_line, version_word

    version = version_word(version_line([runc, "--version"]))
    return CapDefault("runc", names, f"`runc spec` (runc {version})", True)


def containerd_default() -> CapDefault:
    """containerd's default set, as ocix's spec generator writes it (the way ctr does)."""
    from ..oci.spec import default_spec

    spec = default_spec("default", "facts")
    names = tuple(spec["process"]["capabilities"]["effective"])
    return CapDefault("containerd", names, "ocix's default spec (containerd oci/spec.go)", True)


def podman_default() -> CapDefault | None:
    """containers.conf's default_capabilities as podman reads them (None without the files)."""
    from ..podman.config import SYSTEM_CONTAINERS_CONF, read_system_conf

    conf = read_system_conf()
    caps = conf.get("containers", {}).get("default_capabilities")
    if not caps:
        return None
    present = [f for f in SYSTEM_CONTAINERS_CONF if Path(f).exists()]
    names = tuple(normalize_cap(c) for c in caps)
    return CapDefault("podman", names, " + ".join(present) or "containers.conf", True)


def crio_default() -> CapDefault:
    return CapDefault("cri-o", CRIO_DEFAULT_CAPS, CRIO_SOURCE, False)


def cap_defaults() -> list[CapDefault]:
    """Every default set this host can answer for, then CRI-O's from upstream."""
    found = [runc_default(), containerd_default(), podman_default(), crio_default()]
    return [f for f in found if f is not None]
