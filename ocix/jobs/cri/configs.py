"""crictl-style pod and container config files (JSON, snake_case field names) -> config dataclasses.

The accepted fields are the SCHEMA tables below; anything else is refused by its dotted path,
so a typo never silently drops a setting.  Fields the file leaves out keep the CRI's zero value
(for namespaces: `pod`), exactly as crictl sends them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...cri.config import (
    NAMESPACE_MODES,
    PROPAGATIONS,
    PROTOCOLS,
    ContainerConfig,
    DeviceSpec,
    MountSpec,
    PodConfig,
    PortMapping,
)
from ...errors import UsageError

# A leaf is a kind name; a dict is a nested object; a one-item list is a list of such objects.
_NAMESPACES = {"network": "mode", "pid": "mode", "ipc": "mode"}
_ID_VALUE = {"value": "int"}

POD_SCHEMA: dict[str, Any] = {
    "metadata": {"name": "str", "uid": "str", "namespace": "str", "attempt": "int"},
    "hostname": "str",
    "log_directory": "str",
    "dns_config": {"servers": "strs", "searches": "strs", "options": "strs"},
    "port_mappings": [{"protocol": "protocol", "container_port": "int", "host_port": "int",
                       "host_ip": "str"}],
    "labels": "map",
    "annotations": "map",
    "linux": {
        "cgroup_parent": "str",
        "sysctls": "map",
        "security_context": {"namespace_options": _NAMESPACES, "run_as_user": _ID_VALUE,
                             "run_as_group": _ID_VALUE, "readonly_rootfs": "bool",
                             "supplemental_groups": "ints", "privileged": "bool"},
    },
}

CONTAINER_SCHEMA: dict[str, Any] = {
    "metadata": {"name": "str", "attempt": "int"},
    "image": {"image": "str"},
    "command": "strs",
    "args": "strs",
    "working_dir": "str",
    "envs": [{"key": "str", "value": "str"}],
    "mounts": [{"container_path": "str", "host_path": "str", "readonly": "bool",
                "selinux_relabel": "bool", "propagation": "propagation"}],
    "devices": [{"container_path": "str", "host_path": "str", "permissions": "str"}],
    "labels": "map",
    "annotations": "map",
    "log_path": "str",
    "stdin": "bool",
    "stdin_once": "bool",
    "tty": "bool",
    "linux": {
        "resources": {"cpu_period": "int", "cpu_quota": "int", "cpu_shares": "int",
                      "memory_limit_in_bytes": "int", "oom_score_adj": "int",
                      "cpuset_cpus": "str", "cpuset_mems": "str"},
        "security_context": {
            "capabilities": {"add_capabilities": "strs", "drop_capabilities": "strs"},
            "privileged": "bool",
            "namespace_options": {**_NAMESPACES, "target_id": "str"},
            "run_as_user": _ID_VALUE, "run_as_group": _ID_VALUE, "run_as_username": "str",
            "readonly_rootfs": "bool", "supplemental_groups": "ints", "no_new_privs": "bool",
            "masked_paths": "strs", "readonly_paths": "strs",
        },
    },
}

# Enum fields take the CRI's number or its name (any case, with or without the prefix).
_ENUMS = {"mode": NAMESPACE_MODES, "protocol": PROTOCOLS, "propagation": PROPAGATIONS}


def load_json(path: str | Path, what: str) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise UsageError(f"{what} file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {what} file {p}: {e}") from None
    except ValueError as e:
        raise UsageError(f"{what} file {p} is not valid JSON: {e}",
                         hint="ocix reads JSON config files only (no YAML)") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} file {p} must hold a JSON object")
    return data


def check(data: Any, schema: Any, what: str, path: str = "") -> Any:
    """`data` checked against `schema`, enum values turned into ocix's names; UsageError else."""
    where = f"{what}: {path or 'top level'}"
    if isinstance(schema, dict):
        if not isinstance(data, dict):
            raise UsageError(f"{where} must be an object")
        unknown = sorted(set(data) - set(schema))
        if unknown:
            names = ", ".join(f"{path}.{k}" if path else k for k in unknown)
            raise UsageError(f"{what}: unsupported field {names}",
                             hint=f"ocix supports here: {', '.join(schema)}")
        return {k: check(v, schema[k], what, f"{path}.{k}" if path else k) for k, v in data.items()}
    if isinstance(schema, list):
        if not isinstance(data, list):
            raise UsageError(f"{where} must be a list")
        return [check(item, schema[0], what, f"{path}[{i}]") for i, item in enumerate(data)]
    return _leaf(data, schema, where)


def _leaf(value: Any, kind: str, where: str) -> Any:
    if kind in _ENUMS:
        return _enum(value, _ENUMS[kind], where)
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "strs": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "ints": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                for v in value),
        "map": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
    }[kind]
    if not ok:
        expected = {"str": "a string", "int": "an integer", "bool": "true or false",
                    "strs": "a list of strings", "ints": "a list of integers",
                    "map": "an object of strings"}[kind]
        raise UsageError(f"{where} must be {expected}, not {json.dumps(value)}")
    return value


def _enum(value: Any, table: dict[str, int], where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        for name, code in table.items():
            if code == value:
                return name
    elif isinstance(value, str):
        key = value.lower().removeprefix("propagation_")
        if key in table:
            return key
    choices = ", ".join(f"{code} ({name.upper()})" for name, code in table.items())
    raise UsageError(f"{where} must be one of {choices}, not {json.dumps(value)}")


def _get(data: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def pod_config(data: dict[str, Any]) -> PodConfig:
    """A PodConfig from a parsed crictl pod config."""
    d = check(data, POD_SCHEMA, "pod config")
    name = _get(d, "metadata.name", "")
    if not name:
        raise UsageError("pod config: metadata.name is required")
    sc = "linux.security_context."
    return PodConfig(
        name=name, uid=_get(d, "metadata.uid", ""), namespace=_get(d, "metadata.namespace", ""),
        attempt=_get(d, "metadata.attempt", 0), log_directory=d.get("log_directory", ""),
        hostname=d.get("hostname", ""),
        network=_get(d, sc + "namespace_options.network", "pod"),
        pid=_get(d, sc + "namespace_options.pid", "pod"),
        ipc=_get(d, sc + "namespace_options.ipc", "pod"),
        labels=d.get("labels", {}), annotations=d.get("annotations", {}),
        cgroup_parent=_get(d, "linux.cgroup_parent", ""), sysctls=_get(d, "linux.sysctls", {}),
        dns_servers=_get(d, "dns_config.servers", []), dns_searches=_get(d, "dns_config.searches", []),
        dns_options=_get(d, "dns_config.options", []),
        port_mappings=[PortMapping(container_port=p.get("container_port", 0),
                                   host_port=p.get("host_port", 0),
                                   protocol=p.get("protocol", "tcp"), host_ip=p.get("host_ip", ""))
                       for p in d.get("port_mappings", [])],
        privileged=_get(d, sc + "privileged", False),
        readonly_rootfs=_get(d, sc + "readonly_rootfs", False),
        run_as_user=_get(d, sc + "run_as_user.value"), run_as_group=_get(d, sc + "run_as_group.value"),
        supplemental_groups=_get(d, sc + "supplemental_groups", []))


def container_config(data: dict[str, Any]) -> ContainerConfig:
    """A ContainerConfig from a parsed crictl container config."""
    d = check(data, CONTAINER_SCHEMA, "container config")
    name, image = _get(d, "metadata.name", ""), _get(d, "image.image", "")
    if not name:
        raise UsageError("container config: metadata.name is required")
    if not image:
        raise UsageError("container config: image.image is required")
    sc, res = "linux.security_context.", "linux.resources."
    return ContainerConfig(
        name=name, image=image, command=d.get("command", []), args=d.get("args", []),
        env={e.get("key", ""): e.get("value", "") for e in d.get("envs", [])},
        working_dir=d.get("working_dir", ""), log_path=d.get("log_path", ""),
        attempt=_get(d, "metadata.attempt", 0), labels=d.get("labels", {}),
        annotations=d.get("annotations", {}),
        mounts=[MountSpec(container_path=m.get("container_path", ""), host_path=m.get("host_path", ""),
                          readonly=m.get("readonly", False),
                          selinux_relabel=m.get("selinux_relabel", False),
                          propagation=m.get("propagation", "private")) for m in d.get("mounts", [])],
        devices=[DeviceSpec(container_path=v.get("container_path", ""),
                            host_path=v.get("host_path", ""), permissions=v.get("permissions", ""))
                 for v in d.get("devices", [])],
        stdin=d.get("stdin", False), stdin_once=d.get("stdin_once", False), tty=d.get("tty", False),
        network=_get(d, sc + "namespace_options.network", "pod"),
        pid=_get(d, sc + "namespace_options.pid", "pod"),
        ipc=_get(d, sc + "namespace_options.ipc", "pod"),
        target_id=_get(d, sc + "namespace_options.target_id", ""),
        memory_limit=_get(d, res + "memory_limit_in_bytes", 0),
        cpu_period=_get(d, res + "cpu_period", 0), cpu_quota=_get(d, res + "cpu_quota", 0),
        cpu_shares=_get(d, res + "cpu_shares", 0), oom_score_adj=_get(d, res + "oom_score_adj", 0),
        cpuset_cpus=_get(d, res + "cpuset_cpus", ""), cpuset_mems=_get(d, res + "cpuset_mems", ""),
        privileged=_get(d, sc + "privileged", False),
        readonly_rootfs=_get(d, sc + "readonly_rootfs", False),
        no_new_privs=_get(d, sc + "no_new_privs", False),
        run_as_user=_get(d, sc + "run_as_user.value"), run_as_group=_get(d, sc + "run_as_group.value"),
        run_as_username=_get(d, sc + "run_as_username", ""),
        supplemental_groups=_get(d, sc + "supplemental_groups", []),
        cap_add=_get(d, sc + "capabilities.add_capabilities", []),
        cap_drop=_get(d, sc + "capabilities.drop_capabilities", []),
        masked_paths=_get(d, sc + "masked_paths", []), readonly_paths=_get(d, sc + "readonly_paths", []))


def load_pod_config(path: str | Path) -> PodConfig:
    return pod_config(load_json(path, "pod config"))


def load_container_config(path: str | Path) -> ContainerConfig:
    return container_config(load_json(path, "container config"))
