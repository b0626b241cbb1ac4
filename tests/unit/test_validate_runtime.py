"""Runtime config rules: a valid baseline, then one mutation per rule that must fail."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ocix.validate import validate_bundle, validate_document
from ocix.validate.findings import Severity


def base() -> dict[str, Any]:
    """What `runc spec` writes, with inheritable added so that it is warning-free."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                    "env": ["PATH=/usr/bin:/bin", "TERM=xterm"], "cwd": "/",
                    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                                     "inheritable": caps, "ambient": caps},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                    "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "hooks": {"createRuntime": [{"path": "/usr/bin/true"}]},
        "annotations": {"com.example.key": "v"},
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}],
                          "memory": {"limit": 1 << 30, "reservation": 1 << 29}},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229}],
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
        },
    }


def rules(doc: dict[str, Any]) -> dict[str, Severity]:
    return {f.rule: f.severity for f in validate_document(doc, "bundle").findings}


def test_baseline_is_clean() -> None:
    report = validate_document(base())
    assert report.kind == "bundle"
    assert report.findings == []
    assert report.valid


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        keys = path.split("/")
        target: Any = doc
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return apply


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = doc
        for k in parents:
            target = target[k]
        del target[last]
    return apply


ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("semver", _set("ociVersion", "1.0"), "runtime.version.semver"),
    ("major 2", _set("ociVersion", "2.0.0"), "runtime.version.major"),
    ("args empty", _set("process/args", []), "runtime.process.args"),
    ("args missing", _del("process/args"), "runtime.process.args"),
    ("cwd relative", _set("process/cwd", "tmp"), "runtime.process.cwd-absolute"),
    ("env no =", _set("process/env/1", "TERM"), "runtime.process.env"),
    ("cap name", _set("process/capabilities/bounding/0", "CAP_FLY"), "runtime.capabilities.name"),
    ("effective > permitted", _set("process/capabilities/permitted", ["CAP_KILL"]),
     "runtime.capabilities.effective-subset"),
    ("rlimit name", _set("process/rlimits/0/type", "RLIMIT_FOO"), "runtime.rlimits.type"),
    ("rlimit dup", _set("process/rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}] * 2),
     "runtime.rlimits.duplicate"),
    ("soft > hard", _set("process/rlimits/0/soft", 2048), "runtime.rlimits.soft-hard"),
    ("masked relative", _set("linux/maskedPaths/0", "proc/kcore"), "runtime.maskedPaths.absolute"),
    ("readonly relative", _set("linux/readonlyPaths/0", "x"), "runtime.readonlyPaths.absolute"),
    ("hook relative", _set("hooks/createRuntime/0/path", "true"), "runtime.hooks.path-absolute"),
    ("ns type", _set("linux/namespaces/0/type", "pidz"), "runtime.namespaces.type"),
    ("ns dup", _set("linux/namespaces/1", {"type": "pid"}), "runtime.namespaces.duplicate"),
    ("ns path", _set("linux/namespaces/0/path", "proc/1/ns/pid"), "runtime.namespaces.path-absolute"),
    ("idmap no userns", _set("linux/uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]),
     "runtime.idmappings.userns"),
    ("hostname no uts", _set("linux/namespaces/3", {"type": "cgroup"}), "runtime.hostname.uts"),
    ("net sysctl no netns", _set("linux/namespaces/1", {"type": "cgroup"}), "runtime.sysctl.netns"),
    ("device type", _set("linux/devices/0/type", "x"), "runtime.devices.type"),
    ("device path", _set("linux/devices/0/path", "dev/fuse"), "runtime.devices.path-absolute"),
    ("cgroup device type", _set("linux/resources/devices/0/type", "u"),
     "runtime.resources.devices.type"),
    ("reservation > limit", _set("linux/resources/memory/reservation", 1 << 31),
     "runtime.resources.memory.reservation"),
    ("annotation empty key", _set("annotations", {"": "x"}), "runtime.annotations.key-empty"),
    ("args type", _set("process/args", 5), "schema.type"),
    ("linux type", _set("linux", []), "schema.type"),
    ("rootfsPropagation", _set("linux/rootfsPropagation", "weird"), "schema.enum"),
]

WARNINGS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("ambient not inheritable", _del("process/capabilities/inheritable"),
     "runtime.capabilities.ambient"),
    ("mount relative", _set("mounts/0/destination", "proc"), "runtime.mounts.destination-absolute"),
    ("annotation key format", _set("annotations", {"nodots": "x"}), "runtime.annotations.key-format"),
    ("swap < limit", _set("linux/resources/memory/swap", 1 << 20), "runtime.resources.memory.swap"),
]


@pytest.mark.parametrize(("name", "mutate", "rule"), ERRORS, ids=[e[0] for e in ERRORS])
def test_each_error_rule_fails(name: str, mutate: Callable[[dict[str, Any]], None], rule: str) -> None:
    doc = copy.deepcopy(base())
    mutate(doc)
    report = validate_document(doc, "bundle")
    assert rules(doc).get(rule) is Severity.ERROR, report.findings
    assert not report.valid


@pytest.mark.parametrize(("name", "mutate", "rule"), WARNINGS, ids=[w[0] for w in WARNINGS])
def test_each_warning_rule_warns(name: str, mutate: Callable[[dict[str, Any]], None], rule: str) -> None:
    doc = copy.deepcopy(base())
    mutate(doc)
    report = validate_document(doc, "bundle")
    assert rules(doc) == {rule: Severity.WARNING}
    assert report.valid


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0-rc.1", "1.2.0", "1.2.1+build.5",
                                     "1.99.0"])
def test_every_1x_semver_is_accepted(version: str) -> None:
    doc = base()
    doc["ociVersion"] = version
    assert rules(doc) == {}


def test_ambient_warning_names_the_capabilities() -> None:
    doc = base()
    doc["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    [f] = validate_document(doc, "bundle").findings
    assert f.pointer == "/process/capabilities/ambient"
    assert f.message == ("ambient capabilities not in both permitted and inheritable will not be "
                         "raised: CAP_AUDIT_WRITE, CAP_NET_BIND_SERVICE")
    assert f.spec == "runtime-spec config.md#linux-process"


def test_schema_error_is_located_with_spec_section() -> None:
    doc = base()
    doc["process"]["args"] = 5
    [f] = validate_document(doc, "bundle").findings
    assert (f.pointer, f.message, f.spec, f.rule) == (
        "/process/args", "5 is not of type 'array'", "runtime-spec config.md#process", "schema.type")


def test_bundle_root_must_exist_and_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(base()))
    report = validate_bundle(tmp_path)
    assert [f.rule for f in report.findings] == ["runtime.root.exists"]
    (tmp_path / "rootfs").write_text("not a dir")
    assert [f.rule for f in validate_bundle(tmp_path).findings] == ["runtime.root.directory"]
    (tmp_path / "rootfs").unlink()
    (tmp_path / "rootfs").mkdir()
    report = validate_bundle(tmp_path)
    assert report.valid and report.findings == []


def test_bundle_without_config_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    report = validate_bundle(tmp_path)
    assert not report.valid
    assert [f.rule for f in report.findings] == ["bundle.config-missing"]
