"""The numbers the teaching text quotes, checked against this host and the upstream lists.

Each default capability set is computed the way the component computes it (`runc spec` in a
temp dir, containerd's default spec as ocix generates it like ctr, containers.conf as podman
reads it); CRI-O, absent here, is its upstream list (docs/sources.md). A topic, tour step, doc
or `compare` sentence that quotes a mask or count contradicting these fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from ocix.jobs.compare import differences
from ocix.jobs.store.df import WHY_SIZES_DIFFER
from ocix.kernel.userns import CAPS_STAY_INSIDE
from ocix.teach import explain, facts
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
# Bit numbers from capabilities(7), independent of ocix's own table.
BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
        "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_RAW": 13, "SYS_CHROOT": 18,
        "SYS_ADMIN": 21, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}


def mask_of(names: list[str] | tuple[str, ...]) -> int:
    return sum(1 << BITS[n.removeprefix("CAP_")] for n in names)


def topic(name: str) -> str:
    t = explain.load(name)
    return " ".join(f"{t.summary}\n{t.diagram}\n{t.text}".split())


def tour_text() -> str:
    data = tomllib.loads((resources.files("ocix.teach") / "tour.toml").read_text())
    return " ".join(" ".join(f"{s['look_for']} {s['explanation']}" for s in data["step"]).split())


def docs_text(name: str) -> str:
    return " ".join((ROOT / name).read_text().split())


def every_text() -> dict[str, str]:
    texts = {f"topic {n}": topic(n) for n in explain.topic_names()}
    texts["tour.toml"] = tour_text()
    for doc in ("README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))):
        texts[doc] = docs_text(doc)
    why = [*differences.ROW_WHY.values(), *differences.WHY.values(), CAPS_STAY_INSIDE,
           WHY_SIZES_DIFFER]
    texts["compare/df/userns sentences"] = " ".join(why)
    return texts


@pytest.fixture(scope="module")
def runc_caps() -> list[str]:
    runc = shutil.which("runc") or ("/usr/sbin/runc" if os.access("/usr/sbin/runc", os.X_OK)
                                    else None)
    if runc is None:
        pytest.skip("runc is not installed")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        subprocess.run([runc, "spec"], cwd=d, check=True, capture_output=True)
        return list(json.loads((Path(d) / "config.json").read_text())
                    ["process"]["capabilities"]["effective"])


@pytest.fixture(scope="module")
def podman_caps() -> list[str]:
    conf: dict = {}
    for f in ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf"):
        if os.path.exists(f):
            caps = tomllib.loads(Path(f).read_text()).get("containers", {}).get(
                "default_capabilities")
            if caps:
                conf["caps"] = caps  # a later file replaces the list, as podman reads them
    if "caps" not in conf:
        pytest.skip("no containers.conf with default_capabilities")
    return [f"CAP_{c.upper().removeprefix('CAP_')}" for c in conf["caps"]]


def test_runc_spec_default_is_three_caps_and_the_topic_says_so(runc_caps: list[str]) -> None:
    live = facts.runc_default()
    assert live is not None and list(live.names) == runc_caps
    assert sorted(runc_caps) == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    mask = mask_of(runc_caps)
    text = topic("capabilities")
    m = re.search(r"`runc spec` writes keeps only (\d+): ([A-Z_, ]+?) \(mask ([0-9a-f]+)\)", text)
    assert m, "the capabilities topic no longer states runc spec's set"
    assert int(m.group(1)) == len(runc_caps) and int(m.group(3), 16) == mask
    assert sorted(f"CAP_{n}" for n in m.group(2).split(", ")) == sorted(runc_caps)
    assert f"runc spec {mask:016x}" in topic("capabilities")
    assert f"(`{mask:016x}`)" in docs_text("docs/compare.md")


def test_containerd_default_is_fourteen_and_not_called_runcs() -> None:
    live = facts.containerd_default()
    assert (live.count, live.mask) == (14, "00000000a80425fb")
    assert mask_of(live.names) == 0xa80425fb
    assert re.search(r"Docker and containerd keep 14 \(mask a80425fb", topic("capabilities"))
    compare_md = docs_text("docs/compare.md")
    assert "the 14 runc defaults" not in compare_md
    assert "`00000000a80425fb`, the 14 defaults of containerd's `oci/spec.go`" in compare_md
    assert "keeps 14 capabilities" in tour_text() or "mask keeps 14" in tour_text()


def test_podman_default_is_what_containers_conf_says(podman_caps: list[str]) -> None:
    live = facts.podman_default()
    assert live is not None and list(live.names) == podman_caps
    mask = mask_of(podman_caps)
    m = re.search(r"podman keeps the (\d+) of containers-common's containers.conf \(mask "
                  r"([0-9a-f]+)", topic("capabilities"))
    assert m and int(m.group(1)) == len(podman_caps) and int(m.group(2), 16) == mask
    assert f"CapEff is `{mask:016x}` (podman's default set)" in docs_text("docs/rootless.md")
    assert f"podman gives `{mask:016x}`" in docs_text("docs/compare.md")
    assert {"CAP_SYS_CHROOT", "CAP_SETFCAP"} <= set(podman_caps)  # what CRI-O drops besides


def test_crio_default_is_nine_without_sys_chroot_and_setfcap() -> None:
    crio = facts.crio_default()
    assert crio.count == 9 and mask_of(crio.names) == 0x5fb == int(crio.mask, 16)
    assert not crio.live and "capabilities_linux.go" in crio.source
    for name, text in (("cri-o", topic("cri-o")), ("capabilities", topic("capabilities")),
                       ("podman", topic("podman"))):
        assert re.search(r"\b9\b.*mask 5fb", text), name
        assert "SYS_CHROOT and SETFCAP" in text, name
    readme = docs_text("README.md")
    assert "9 capabilities, `00000000000005fb`, without SYS_CHROOT and SETFCAP" in readme
    # the old claim that CRI-O's defaults are podman's is gone everywhere
    for where, text in every_text().items():
        assert "as CRI-O's defaults" not in text, where
        assert "the list CRI-O's defaults follow too" not in text, where
        assert "podman and CRI-O leave some of them out" not in text, where


def test_every_quoted_capability_mask_is_a_known_one(runc_caps: list[str],
                                                     podman_caps: list[str]) -> None:
    containerd = mask_of(facts.containerd_default().names)
    known = {containerd, mask_of(podman_caps), mask_of(runc_caps), 0x5fb, 0,
             containerd & ~mask_of(podman_caps),  # NET_RAW MKNOD AUDIT_WRITE
             0x000001fffeffffff, 0x000001ffffffffff}  # this VM's CapBnd; every capability
    pattern = re.compile(r"(?:CapEff|mask|caps(?: --diff)?|default[^.]{0,40}?) `?"
                         r"((?:[0-9a-f]{8}){1,2})\b")
    full = re.compile(r"\b(0000[0-9a-f]{12})\b")  # any 64-bit mask written out
    found = 0
    for where, text in every_text().items():
        for m in [*pattern.finditer(text), *full.finditer(text)]:
            found += 1
            assert int(m.group(1), 16) in known, f"{where}: unknown mask in {m.group(0)!r}"
    assert found > 20


def test_no_default_set_has_sys_admin(runc_caps: list[str], podman_caps: list[str]) -> None:
    for names in (runc_caps, podman_caps, facts.containerd_default().names,
                  facts.crio_default().names):
        assert "CAP_SYS_ADMIN" not in names
    for where, text in every_text().items():
        assert "mount, chown and create further namespaces" not in text, where
        assert "so it can mount and chown inside" not in text, where
        assert "full as it looks" not in text and "full-looking" not in text, where
    assert "mount -t tmpfs` and `unshare -m` fail with EPERM" in topic("rootless")


def test_cgroup_topic_matches_the_unified_tree() -> None:
    text = topic("cgroups")
    assert "an empty v2 tree" not in text
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if not unified.exists():
        pytest.skip("no hybrid cgroup2 tree on this host")
    controllers = unified.read_text().split()
    from ocix.kernel.host import cgroup_layout

    layout = cgroup_layout()
    assert layout.mode == "hybrid" and layout.v2_controllers == controllers
    if controllers:
        assert f"cgroup.controllers lists {' '.join(controllers)}" in text
        assert "crun 1.8 refuses a hybrid layout whose cgroup2 tree has controllers" in text


@pytest.mark.parametrize(("where", "wrong"), [
    ("topic docker", "`docker run` is create + start + wait + logs"),
    ("topic docker", "so dockerd and containerd can restart without killing containers"),
    ("topic docker", "Since Docker 1.11 it hands each container to containerd over gRPC (in"),
    ("tour.toml", "containerd is not involved"),
    ("compare/df/userns sentences", "(and `docker system df`) print the unpacked size"),
    ("topic shims", "in its own session"),
    ("topic namespaces", "with clone(2) flags"),
    ("topic storage", "aufs, devicemapper, btrfs, zfs, vfs before"),
    ("tour.toml", "roughly twice"),
])
def test_the_corrected_claims_stay_corrected(where: str, wrong: str) -> None:
    text = every_text()[where]
    assert " ".join(wrong.split()) not in text


def test_the_corrections_are_stated() -> None:
    docker = topic("docker")
    assert "live-restore" in docker and "attach" in docker
    assert "containerd 1.0" in docker and "17.11/17.12" in docker and "Docker 29" in docker
    assert "process group of its own (Setpgid) but in containerd's session" in topic("shims")
    assert "unshare(2)" in topic("namespaces")
    assert "aufs and devicemapper are gone" in topic("storage")
    tour = tour_text()
    assert "about three times its compressed size" in tour
    assert "moby-image-" in tour and "Error persisting manifest" in tour
    assert "`docker system df` counts each layer once" in WHY_SIZES_DIFFER


def test_suggested_pids_are_readable() -> None:
    """A topic's `ocix kernel --pid N` must work here (pid 1 is unreadable on this VM)."""
    for name in explain.topic_names():
        for line in explain.load(name).commands:
            m = re.fullmatch(r"ocix kernel --pid (\d+)", line)
            if m:
                os.readlink(f"/proc/{m.group(1)}/ns/net")  # raises where it would fail


def test_explain_shows_the_default_sets_it_computed() -> None:
    from ocix.teach.probe import probe

    crio = probe("CRI-O", "defaults:cri-o")
    assert (crio.present, crio.version) == (False, "00000000000005fb (9)")
    assert "upstream, not on this host: cri-o internal/config/capabilities" in crio.detail
    containerd = probe("containerd", "defaults:containerd")
    assert (containerd.present, containerd.version) == (True, f"{0xa80425fb:016x} (14)")
    marks = {p.probe for p in explain.load("capabilities").parts}
    assert {"defaults:containerd", "defaults:podman", "defaults:cri-o", "defaults:runc"} <= marks


def test_shim_version_is_asked_with_dash_v() -> None:
    """containerd-shim-runc-v2 knows only -v; --version gets Go's flag error, never shown."""
    from ocix.programs import find, version_line
    from ocix.teach.probe import probe

    shim = find("containerd-shim-runc-v2")
    if shim is None:
        pytest.skip("containerd-shim-runc-v2 is not installed")
    out = subprocess.run([shim, "-v"], capture_output=True, text=True, check=True).stdout
    expected = next(ln.split()[1] for ln in out.splitlines() if ln.strip().startswith("Version:"))
    assert probe("shim", "process:containerd-shim-runc-v2 -v").version == expected
    assert version_line([shim, "--version"]) == ""
    for name in explain.topic_names():
        for part in explain.load(name).parts:
            if part.probe.split()[0].endswith("containerd-shim-runc-v2"):
                assert part.probe.split()[1:] == ["-v"], name


def test_seccomp_mark_says_what_mode_0_means() -> None:
    from ocix.teach.probe import probe

    mode = next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
                if ln.startswith("Seccomp:"))
    mark = probe("seccomp", "kernel:seccomp")
    assert mark.version == f"supported (this process: mode {mode})"
    if mode == "0":
        assert mark.detail.startswith("mode 0: ocix's own process has no filter")


def test_dfreclaimable_text_line_does_not_contradict_itself() -> None:
    from ocix.cli.store.df import reclaimable_text

    assert reclaimable_text(0) == "0 B (an image, container or lease keeps every blob and snapshot)"
    assert reclaimable_text(2048) == "2.0 KiB (kept by nothing: the next GC frees it)"


def test_pid_1_unreadable_as_root_suggests_a_pid_that_works() -> None:
    """On this VM /proc/1/ns is unreadable even for root: the hint names `--pid $$`."""
    try:
        os.readlink("/proc/1/ns/uts")
    except PermissionError:
        pass
    else:
        pytest.skip("pid 1's namespaces are readable here")
    r = run_cli(["kernel", "--pid", "1"])
    assert r.exit_code == 1
    if os.geteuid() == 0:
        assert r.stderr.endswith("any other pid works, e.g. your shell: ocix kernel --pid $$\n")
    r = run_cli(["kernel", "--pid", str(os.getpid())])
    assert r.exit_code == 0, r.stderr


def test_tour_step_13_names_containerds_default_set() -> None:
    steps = tomllib.loads((resources.files("ocix.teach") / "tour.toml").read_text())["step"]
    text = " ".join(next(s for s in steps if s["number"] == 13)["explanation"].split())
    m = re.search(r"keeps (\d+) capabilities \(([A-Z_, ]+)\)", text)
    assert m, text
    names = sorted(f"CAP_{n}" for n in m.group(2).split(", "))
    live = facts.containerd_default()
    assert int(m.group(1)) == live.count and names == sorted(live.names)
    assert "00000000a80425fb" in next(s for s in steps if s["number"] == 13)["look_for"]
    readme = docs_text("README.md")
    assert f"`{live.mask}` ({live.count} capabilities)" in readme
