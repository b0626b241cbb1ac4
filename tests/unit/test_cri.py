"""`ocix cri` without a runtime: config files, crictl's columns, the CRI log format, endpoints,
and the one call wrapper's error mapping and trace line."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import grpc
import pytest

from ocix import trace
from ocix.cli.cri.show import (
    CriState,
    container_rows,
    decimal_size,
    human_duration,
    image_rows,
    pod_rows,
    short_id,
    stats_rows,
    status_document,
)
from ocix.containerd.connection import Connection
from ocix.cri import logs
from ocix.cri.client import resolve_endpoint
from ocix.cri.types import Container, ContainerStats, Image, PodSandbox, RuntimeInfo, rfc3339
from ocix.errors import NotFoundError, UsageError
from ocix.jobs.cri import crictl as cri_ops
from ocix.jobs.cri.configs import container_config, load_pod_config, pod_config
from tests.fakes import FakeRpcError
from tests.helpers import run_cli

NOW = 1_700_000_000.0
NS = 1_000_000_000
POD_ID = "7f3c2a9d1e0b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"
CTR_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

POD_FILE = {
    "metadata": {"name": "web", "uid": "u-1", "namespace": "shop", "attempt": 2},
    "hostname": "web-0", "log_directory": "/var/log/pods/web",
    "dns_config": {"servers": ["10.0.0.10"], "searches": ["svc.local"], "options": ["ndots:5"]},
    "port_mappings": [{"protocol": "UDP", "container_port": 53, "host_port": 5353}],
    "labels": {"app": "web"}, "annotations": {"note": "x"},
    "linux": {"cgroup_parent": "/kubepods", "sysctls": {"net.core.somaxconn": "1024"},
              "security_context": {"namespace_options": {"network": 2, "pid": "CONTAINER"},
                                   "run_as_user": {"value": 1000}, "privileged": True}},
}
CONTAINER_FILE = {
    "metadata": {"name": "app", "attempt": 1}, "image": {"image": "busybox:latest"},
    "command": ["sh", "-c"], "args": ["sleep 1"], "working_dir": "/tmp",
    "envs": [{"key": "A", "value": "1"}, {"key": "B", "value": "2"}],
    "mounts": [{"container_path": "/data", "host_path": "/srv", "readonly": True,
                "propagation": "PROPAGATION_HOST_TO_CONTAINER"}],
    "log_path": "app/0.log", "tty": True,
    "linux": {"resources": {"memory_limit_in_bytes": 67108864, "cpu_shares": 512},
              "security_context": {"capabilities": {"drop_capabilities": ["ALL"]},
                                   "namespace_options": {"network": 2, "pid": 1},
                                   "readonly_rootfs": True, "no_new_privs": True}},
}


# -- config files ---------------------------------------------------------------------------

def test_pod_config_maps_every_supported_field_and_round_trips_to_the_proto() -> None:
    c = pod_config(POD_FILE)
    assert (c.name, c.uid, c.namespace, c.attempt, c.hostname) == ("web", "u-1", "shop", 2, "web-0")
    assert (c.network, c.pid, c.ipc) == ("node", "container", "pod")
    assert (c.run_as_user, c.run_as_group, c.privileged) == (1000, None, True)
    assert c.port_mappings[0].protocol == "udp" and c.port_mappings[0].host_port == 5353
    pb = c.to_pb()
    assert pb.metadata.attempt == 2 and pb.log_directory == "/var/log/pods/web"
    ns = pb.linux.security_context.namespace_options
    assert (ns.network, ns.pid, ns.ipc) == (2, 1, 0)
    assert pb.linux.security_context.run_as_user.value == 1000
    assert not pb.linux.security_context.HasField("run_as_group")
    assert list(pb.dns_config.options) == ["ndots:5"] and pb.port_mappings[0].protocol == 1
    assert dict(pb.linux.sysctls) == {"net.core.somaxconn": "1024"}


def test_container_config_maps_fields_and_omitted_namespaces_mean_pod() -> None:
    c = container_config(CONTAINER_FILE)
    assert (c.name, c.image, c.command, c.args) == ("app", "busybox:latest", ["sh", "-c"], ["sleep 1"])
    assert c.env == {"A": "1", "B": "2"} and c.mounts[0].propagation == "host_to_container"
    assert (c.memory_limit, c.cpu_shares, c.cap_drop) == (64 << 20, 512, ["ALL"])
    pb = c.to_pb()
    assert [(e.key, e.value) for e in pb.envs] == [("A", "1"), ("B", "2")]
    assert pb.mounts[0].propagation == 1 and pb.mounts[0].readonly
    assert list(pb.linux.security_context.capabilities.drop_capabilities) == ["ALL"]
    assert pb.linux.resources.cpu_shares == 512 and pb.tty
    bare = container_config({"metadata": {"name": "x"}, "image": {"image": "y"}})
    assert (bare.network, bare.pid, bare.ipc, bare.memory_limit) == ("pod", "pod", "pod", 0)
    assert pod_config({"metadata": {"name": "p"}}).network == "pod"


@pytest.mark.parametrize(("data", "message"), [
    ({"metadata": {"name": "p"}, "linux": {"security_context": {"selinux_options": {}}}},
     "pod config: unsupported field linux.security_context.selinux_options"),
    ({"metadata": {"name": "p", "nmae": "q"}}, "pod config: unsupported field metadata.nmae"),
    ({"metadata": {"name": "p"}, "windows": {}, "zz": 1},
     "pod config: unsupported field windows, zz"),
    ({"metadata": {"name": 3}}, "pod config: metadata.name must be a string, not 3"),
    ({"metadata": {"name": "p", "attempt": True}},
     "pod config: metadata.attempt must be an integer, not true"),
    ({"metadata": {"name": "p"}, "labels": {"a": 1}},
     'pod config: labels must be an object of strings, not {"a": 1}'),
    ({"metadata": {"name": "p"}, "port_mappings": {}}, "pod config: port_mappings must be a list"),
    ({"metadata": {"name": "p"}, "linux": {"security_context": {"namespace_options": {"network": 7}}}},
     "pod config: linux.security_context.namespace_options.network must be one of "
     "0 (POD), 1 (CONTAINER), 2 (NODE), 3 (TARGET), not 7"),
    ({"metadata": {"uid": "u"}}, "pod config: metadata.name is required"),
    ([], "pod config: top level must be an object"),
])
def test_pod_config_errors_name_the_field(data: Any, message: str) -> None:
    with pytest.raises(UsageError) as e:
        pod_config(data)
    assert e.value.message == message


def test_unknown_field_hint_lists_what_is_supported() -> None:
    with pytest.raises(UsageError) as e:
        container_config({"metadata": {"name": "x"}, "image": {"image": "y"}, "cdi_devices": []})
    assert e.value.message == "container config: unsupported field cdi_devices"
    assert e.value.hint is not None and e.value.hint.startswith("ocix supports here: metadata, image,")
    with pytest.raises(UsageError) as e:
        container_config({"metadata": {"name": "x"}, "image": {"image": "y"},
                          "mounts": [{"container_path": "/a", "host_path": "/b", "ro": True}]})
    assert e.value.message == "container config: unsupported field mounts[0].ro"
    with pytest.raises(UsageError) as e:
        container_config({"metadata": {"name": "x"}})
    assert e.value.message == "container config: image.image is required"


def test_config_files_bad_json_and_missing(tmp_path: Path) -> None:
    good = tmp_path / "pod.json"
    good.write_text(json.dumps(POD_FILE))
    assert load_pod_config(good).name == "web"
    bad = tmp_path / "bad.json"
    bad.write_text("metadata:\n  name: x\n")
    with pytest.raises(UsageError) as e:
        load_pod_config(bad)
    assert e.value.message.startswith(f"pod config file {bad} is not valid JSON: ")
    assert e.value.hint == "ocix reads JSON config files only (no YAML)"
    with pytest.raises(UsageError) as e:
        load_pod_config(tmp_path / "none.json")
    assert e.value.message == f"pod config file {tmp_path / 'none.json'} does not exist"


def test_runp_with_a_bad_config_is_exit_2_before_any_connection(tmp_path: Path) -> None:
    f = tmp_path / "pod.json"
    f.write_text(json.dumps({"metadata": {"name": "p"}, "log_dir": "/x"}))
    r = run_cli(["cri", "-r", "/nonexistent/cri.sock", "runp", str(f)])
    assert r.exit_code == 2, r.output
    assert r.stderr.splitlines()[0] == "Error: pod config: unsupported field log_dir"


# -- crictl's rendering -----------------------------------------------------------------------

@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (14 * 86400, "2 weeks"),
    (60 * 86400, "2 months"), (800 * 86400, "2 years"),
])
def test_human_duration_uses_gos_words(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("n", "precision", "text"), [
    (0, 3, "0B"), (999, 3, "999B"), (314928, 3, "315kB"), (1_040_000, 3, "1.04MB"),
    (4_261_234, 4, "4.261MB"), (8192, 4, "8.192kB"), (2_500_000_000, 3, "2.5GB"),
])
def test_decimal_size(n: int, precision: int, text: str) -> None:
    assert decimal_size(n, precision) == text


def test_pod_and_container_rows_follow_crictl() -> None:
    pod = PodSandbox(id=POD_ID, name="web", uid="u", namespace="shop", attempt=1, state="notready",
                     created_at=int((NOW - 300) * NS), labels={})
    assert pod_rows([pod], now=NOW) == [
        ["7f3c2a9d1e0b4", "5 minutes ago", "NotReady", "web", "shop", "1", "(default)"]]
    assert pod_rows([pod], no_trunc=True, now=NOW)[0][0] == POD_ID
    c = Container(id=CTR_ID, pod_sandbox_id=POD_ID, name="app", attempt=0,
                  image="sha256:" + "ab" * 32, image_ref="", state="running",
                  created_at=int((NOW - 2) * NS), labels={})
    entry = cri_ops.ContainerEntry(c, "web", "shop")
    assert container_rows([entry], now=NOW) == [
        ["0a1b2c3d4e5f6", "abababababab" + "a", "2 seconds ago", "Running", "app", "0",
         "7f3c2a9d1e0b4", "web", "shop"]]


def test_image_rows_one_per_tag_and_none_for_untagged() -> None:
    img = Image(id="sha256:" + "12" * 32, repo_tags=["r/busybox:1", "r/busybox:latest"],
                repo_digests=["r/busybox@sha256:" + "cd" * 32], size=1_040_000)
    untagged = Image(id="sha256:" + "34" * 32, repo_tags=[],
                     repo_digests=["r/pause@sha256:" + "ef" * 32], size=314928)
    cols, rows = image_rows([img, untagged])
    assert cols == ["IMAGE", "TAG", "IMAGE ID", "SIZE"]
    assert rows == [["r/busybox", "1", "1212121212121", "1.04MB"],
                    ["r/busybox", "latest", "1212121212121", "1.04MB"],
                    ["r/pause", "<none>", "3434343434343", "315kB"]]
    cols, rows = image_rows([untagged], digests=True, no_trunc=True)
    assert cols == ["IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE"]
    assert rows == [["r/pause", "<none>", "ef" * 32, "34" * 32, "315kB"]]


def test_status_document_is_crictls_shape() -> None:
    one = RuntimeInfo(conditions=[], info={"config": {"a": 1}}, api_json={"conditions": []})
    assert status_document([one]) == {"status": {"conditions": []}, "config": {"a": 1}}
    assert status_document([one, one]) == [{"status": {"conditions": []}, "config": {"a": 1}}] * 2
    assert short_id("sha256:abcdef0123456789", "sha256:") == "abcdef0123456"
    assert rfc3339(0) == "0001-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"


def test_api_json_is_protobuf_json_in_field_number_order() -> None:
    from ocix.cri.config import api_pb2
    from ocix.cri.types import message_json

    pb = api_pb2()
    img = pb.Image(id="sha256:1", pinned=True, size=5, repo_tags=["a:1"])
    img.uid.value = 0
    assert list(message_json(img)) == ["id", "repoTags", "repoDigests", "size", "uid", "username",
                                       "pinned"]
    assert message_json(img)["size"] == "5" and message_json(img)["uid"] == {"value": "0"}
    c = pb.Container(id="c", state=pb.CONTAINER_EXITED, created_at=7,
                     metadata=pb.ContainerMetadata(name="n", attempt=1))
    doc = message_json(c)
    assert list(doc) == ["id", "podSandboxId", "metadata", "imageRef", "state", "createdAt",
                         "labels", "annotations"]
    assert doc["state"] == "CONTAINER_EXITED" and doc["createdAt"] == "7"
    assert list(doc["metadata"]) == ["name", "attempt"]


# -- the library's listing rules over a fake client ------------------------------------------

class FakeClient:
    def __init__(self) -> None:
        self.container_filters: list[dict[str, Any]] = []
        self.pods = [PodSandbox(id=f"pod{i}", name=f"p{i}", uid="", namespace="ns" if i else "kube",
                                attempt=0, state="ready", created_at=i, labels={}) for i in range(3)]
        self.containers = [
            Container(id="c1", pod_sandbox_id="pod1", name="web", attempt=0, image="img",
                      image_ref="", state="running", created_at=5, labels={}),
            Container(id="c2", pod_sandbox_id="pod9", name="db", attempt=0, image="img",
                      image_ref="", state="running", created_at=9,
                      labels={"io.kubernetes.pod.name": "kp", "io.kubernetes.pod.namespace": "kns"}),
        ]
        self.samples = iter([
            [ContainerStats("c1", "web", {}, 1 * NS, 2 * NS, 100, 200, 4096, 3)],
            [ContainerStats("c1", "web", {}, 3 * NS, 3 * NS, 150, 250, 4096, 3),
             ContainerStats("c3", "new", {}, 3 * NS, 1, 1, 1, 0, 0)],
        ])

    def list_pod_sandboxes(self, **kw: Any) -> list[PodSandbox]:
        return list(self.pods)

    def list_containers(self, **kw: Any) -> list[Container]:
        self.container_filters.append(kw)
        return list(self.containers)

    def list_container_stats(self, **kw: Any) -> list[ContainerStats]:
        return next(self.samples)


def test_list_pods_filters_by_regex_and_sorts_newest_first() -> None:
    fake: Any = FakeClient()
    assert [p.id for p in cri_ops.list_pods(fake)] == ["pod2", "pod1", "pod0"]
    assert [p.id for p in cri_ops.list_pods(fake, namespace="^ns$")] == ["pod2", "pod1"]
    assert [p.id for p in cri_ops.list_pods(fake, name="p0|p1", latest=True)] == ["pod1"]
    with pytest.raises(UsageError) as e:
        cri_ops.list_pods(fake, name="(")
    assert e.value.message.startswith("invalid name pattern '(': ")


def test_list_containers_defaults_to_running_and_finds_pod_names() -> None:
    fake: Any = FakeClient()
    entries = cri_ops.list_containers(fake)
    assert fake.container_filters[-1]["state"] == "running"
    assert [(e.container.id, e.pod_name, e.pod_namespace) for e in entries] == [
        ("c2", "kp", "kns"), ("c1", "p1", "ns")]
    cri_ops.list_containers(fake, all=True)
    assert fake.container_filters[-1]["state"] == ""
    cri_ops.list_containers(fake, state="exited", last=1)
    assert fake.container_filters[-1]["state"] == ""  # --last looks at every state
    assert [e.container.id for e in cri_ops.list_containers(fake, namespace="^ns")] == ["c1"]


def test_sample_stats_cpu_percent_from_two_samples() -> None:
    fake: Any = FakeClient()
    (row,) = cri_ops.sample_stats(fake, seconds=0)
    assert row.id == "c1" and row.cpu_percent == pytest.approx(50.0)  # 1 s of CPU in 2 s
    assert stats_rows([row]) == [["c1", "web", "50.00", "150B", "4.096kB", "3"]]


def test_remove_all_with_nothing_to_remove_succeeds_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    fake: Any = FakeClient()
    fake.pods, fake.containers = [], []
    assert cri_ops.remove_pods(fake, [], all=True) == []
    assert cri_ops.remove_containers(fake, [], all=True) == []
    monkeypatch.setattr(CriState, "client", lambda self: fake)
    for args in (["rmp", "-a", "-f"], ["rmp", "--all"], ["rm", "-a", "-f"], ["rm", "--all"]):
        r = run_cli(["cri", *args])
        assert (r.exit_code, r.stdout, r.stderr) == (0, "", ""), args
    # Without IDs and without --all it is still a usage error.
    for args, what in ((["rmp"], "pod"), (["rm", "-f"], "container")):
        r = run_cli(["cri", *args])
        assert r.exit_code == 2
        assert r.stderr.splitlines() == [f"Error: no {what} ID given", "Hint: pass IDs or --all"]


# -- the CRI log format -----------------------------------------------------------------------

LOG = ("2024-01-01T00:00:00.1Z stdout F hello\n"
       "2024-01-01T00:00:00.2Z stderr P par\n"
       "2024-01-01T00:00:00.3Z stdout F second\n"
       "2024-01-01T00:00:00.4Z stderr F tial\n"
       "garbage\n"
       "2024-01-01T00:00:00.5Z stdout F \n")


def test_log_parse_joins_partial_lines_per_stream(tmp_path: Path) -> None:
    f = tmp_path / "0.log"
    f.write_text(LOG)
    entries = logs.read(str(f))
    assert [(e.stream, e.text) for e in entries] == [
        ("stdout", "hello"), ("stdout", "second"), ("stderr", "partial"), ("stdout", "")]
    assert entries[2].time == "2024-01-01T00:00:00.4Z"
    assert [e.text for e in logs.read(str(f), tail=2)] == ["partial", ""]
    assert [e.text for e in logs.follow(str(f), lambda: False, tail=1)] == [""]


def test_log_missing_file_says_logs_are_on_the_node(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as e:
        logs.read(str(tmp_path / "gone.log"))
    assert e.value.message == f"log file {tmp_path / 'gone.log'} does not exist on this host"


# -- endpoints and the call wrapper -----------------------------------------------------------

def test_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINER_RUNTIME_ENDPOINT", "unix:///run/crio/crio.sock")
    assert resolve_endpoint("unix:///x.sock", "/c.sock") == "/x.sock"
    assert resolve_endpoint(None, "/c.sock") == "/run/crio/crio.sock"
    monkeypatch.delenv("CONTAINER_RUNTIME_ENDPOINT")
    assert resolve_endpoint(None, "/c.sock") == "/c.sock"
    with pytest.raises(UsageError) as e:
        resolve_endpoint("tcp://10.0.0.1:10010")
    assert e.value.message == ("unsupported CRI endpoint 'tcp://10.0.0.1:10010': "
                               "only unix sockets are supported")


def test_unreachable_endpoints_are_exit_2_with_a_hint(tmp_path: Path) -> None:
    r = run_cli(["cri", "ps"], env={"CONTAINER_RUNTIME_ENDPOINT": "unix:///nonexistent/cri.sock"})
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        "Error: CRI endpoint /nonexistent/cri.sock does not exist",
        "Hint: pass --cri-address unix:///path/to.sock or set CONTAINER_RUNTIME_ENDPOINT; "
        "for the lab: `ocix lab up` then `eval \"$(ocix lab env)\"`"]
    dead = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))  # bound, never listening: connection refused
    try:
        r = run_cli(["cri", "--cri-address", f"unix://{dead}", "version"])
    finally:
        s.close()
    assert r.exit_code == 2
    first, hint = r.stderr.splitlines()
    assert first.startswith(f"Error: cannot reach the CRI runtime at {dead}: "), first
    assert hint.startswith("Hint: pass --cri-address")


class _Stub:
    def Ok(self, request: Any, metadata: Any, timeout: Any) -> tuple[Any, Any, Any]:
        return request, metadata, timeout

    def Missing(self, request: Any, metadata: Any, timeout: Any) -> None:
        raise FakeRpcError(grpc.StatusCode.NOT_FOUND, 'container "x" not found')


def test_connection_call_maps_errors_and_traces_once_per_call() -> None:
    conn = Connection("/nonexistent.sock", "k8s.io", timeout=7.0)
    out = io.StringIO()
    trace.enable(out)
    try:
        assert conn.call(_Stub(), "Ok", "req", label="cri.runtime.Ok") == ("req", None, 7.0)
        with pytest.raises(NotFoundError) as e:
            conn.call(_Stub(), "Missing", "req", label="cri.runtime.Missing", what="container x",
                      timeout=None)
    finally:
        trace.disable()
    assert e.value.message == 'container x: container "x" not found'
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "grpc cri.runtime.Ok -> OK (" in lines[0]
    assert "grpc cri.runtime.Missing -> NOT_FOUND (" in lines[1]
