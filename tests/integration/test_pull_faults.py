"""`ocix pull` under faults, killed halfway, and eight at once.

Every fault goes through the REAL lab registry: a fault-injecting proxy (faultproxy.py) sits in
front of it, or the registry's own storage is corrupted, or a second real registry with
htpasswd auth serves the same storage.  Each failure must give one `Error:` line (plus an
optional `Hint:` line), a non-zero exit, no image record, no committed blob of bad content, no
ingest and no lease left behind.

The images pulled here are single-layer `sized` images seeded for this module only, so their
blobs are in no namespace of the lab's containerd before a test starts (containerd shares
content across namespaces: a blob present elsewhere would never be downloaded).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

from ocix.containerd import content, images, leases
from ocix.containerd.connection import Connection
from ocix.errors import OcixError
from ocix.lab import lab as labmod
from ocix.lab.daemons import free_port
from ocix.lab.state import LabState
from ocix.oci import mediatypes as mt
from tests.helpers import run_cli, wait_for
from tests.integration.faultproxy import FaultProxy
from tests.integration.registries import registry as start_registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

OCIX = str(Path(sys.executable).with_name("ocix"))
MIB = 1 << 20
# One image per purpose: a blob a test fails to commit (or commits) never changes another test.
SIZES = {"corrupt": 2, "cut": 3, "storage": 4, "concurrent": 5, "config": 6, "auth": 7,
         "transient": 8, "killed": 50}


@dataclass(frozen=True)
class Blobs:
    repo: str  # library/blob<N>
    manifest: str
    config: str
    layer: str
    layer_size: int


def _manifest(registry: str, repo: str) -> Blobs:
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/latest",
                                 headers={"Accept": f"{mt.OCI_MANIFEST}, {mt.OCI_INDEX}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        digest = r.headers["Docker-Content-Digest"]
        doc = json.loads(r.read())
    (layer,) = doc["layers"]
    return Blobs(repo, digest, doc["config"]["digest"], layer["digest"], layer["size"])


@pytest.fixture(scope="module")
def blobs(lab: LabState) -> dict[str, Blobs]:
    """Push this module's sized images to the session lab registry (built once, cached)."""
    labmod.seed_registry(lab, sized=tuple(sorted(set(SIZES.values()))))
    return {k: _manifest(lab.registry, f"library/blob{n}") for k, n in SIZES.items()}


@pytest.fixture
def proxy(lab: LabState) -> Iterator[FaultProxy]:
    p = FaultProxy(lab.registry).start()
    try:
        yield p
    finally:
        p.stop()


# -- helpers ------------------------------------------------------------------------------------

def pull(env: dict[str, str], ref: str, *args: str) -> Result:
    return run_cli(["pull", *args, ref], env=env)


def one_error(r: Result, exit_code: int = 1) -> str:
    """The `Error:` line of a failed command, after checking the one-line contract."""
    assert r.exit_code == exit_code, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, r.stderr
    assert lines[0].startswith("Error: "), r.stderr
    if len(lines) == 2:
        assert lines[1].startswith("Hint: "), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    return lines[0]


def hint(r: Result) -> str:
    lines = r.stderr.strip().splitlines()
    return lines[1] if len(lines) > 1 else ""


def assert_clean(conn: Connection, *absent: str) -> None:
    """No image, no lease, no ingest in the namespace; the given blobs are not committed."""
    assert images.list_images(conn) == []
    assert leases.list_leases(conn) == []
    # The lease is deleted without waiting for GC; the partial ingest goes with the next GC run.
    wait_for("the ingests to be collected", lambda: content.statuses(conn) == [], 10)
    for digest in absent:
        assert not content.exists(conn, digest), f"{digest} was committed"


def ingested(conn: Connection, digest: str) -> int:
    return max((s.offset for s in content.statuses(conn) if s.ref.endswith(digest)), default=0)


# -- bad content --------------------------------------------------------------------------------

def test_layer_bytes_not_matching_digest(proxy: FaultProxy, blobs: dict[str, Blobs],
                                         ns_env: dict[str, str], nsconn: Connection) -> None:
    b = blobs["corrupt"]
    rule = proxy.add(f"/blobs/{b.layer}$", corrupt=True)
    r = pull(ns_env, f"{proxy.address}/{b.repo}:latest")
    line = one_error(r)
    assert line.startswith(f"Error: pull {proxy.address}/{b.repo}:latest: blob {b.layer}: "
                           "containerd refused the content"), line
    assert "unexpected commit digest" in line and f"expected {b.layer}" in line
    assert rule.hits == 1
    assert_clean(nsconn, b.layer)


def test_config_bytes_not_matching_digest(proxy: FaultProxy, blobs: dict[str, Blobs],
                                          ns_env: dict[str, str], nsconn: Connection) -> None:
    b = blobs["config"]
    proxy.add(f"/blobs/{b.config}$", corrupt=True)
    line = one_error(pull(ns_env, f"{proxy.address}/{b.repo}:latest"))
    assert line.startswith(f"Error: pull {proxy.address}/{b.repo}:latest: content of {b.config} "
                           "has digest sha256:"), line
    assert_clean(nsconn, b.config, b.layer)
    assert proxy.requests(b.layer) == []  # nothing fetched after the bad config


def test_corrupt_blob_in_registry_storage(lab: LabState, lab_env: dict[str, str],
                                          blobs: dict[str, Blobs], ns_env: dict[str, str],
                                          nsconn: Connection) -> None:
    """The registry serves a stored layer whose bytes were changed on disk (same length)."""
    b = blobs["storage"]
    hexpart = b.layer.split(":", 1)[1]
    data = Path(lab.dir, "registry/data/docker/registry/v2/blobs/sha256", hexpart[:2], hexpart, "data")
    original = data.read_bytes()
    assert len(original) == b.layer_size
    middle = len(original) // 2
    data.write_bytes(original[:middle] + bytes([original[middle] ^ 0x55]) + original[middle + 1:])
    try:
        ref = f"{lab.registry}/{b.repo}:latest"
        line = one_error(pull(ns_env, ref))
        assert line.startswith(f"Error: pull {ref}: blob {b.layer}: containerd refused the content"), line
        assert_clean(nsconn, b.layer)
        # The ingest was aborted: a second try downloads from zero and fails the same way.
        assert one_error(pull(ns_env, ref)) == line
        assert_clean(nsconn, b.layer)
    finally:
        data.write_bytes(original)


def test_manifest_not_json(proxy: FaultProxy, blobs: dict[str, Blobs], ns_env: dict[str, str],
                           nsconn: Connection) -> None:
    b = blobs["corrupt"]
    proxy.add(r"/manifests/", body=b"<html><body>Welcome to nginx!</body></html>")
    ref = f"{proxy.address}/{b.repo}:latest"
    line = one_error(pull(ns_env, ref))
    assert line.startswith(f"Error: {ref}: the registry's manifest is not JSON (Content-Type "), line
    assert proxy.requests("/blobs/") == []
    assert_clean(nsconn, b.manifest)


# -- HTTP errors ----------------------------------------------------------------------------------

def test_404_unknown_repository(proxy: FaultProxy, ns_env: dict[str, str], nsconn: Connection) -> None:
    ref = f"{proxy.address}/library/no-such-image:latest"
    r = pull(ns_env, ref)
    line = one_error(r)
    assert line == (f"Error: resolve {ref}: GET http://{proxy.address}/v2/library/no-such-image/"
                    "manifests/latest: 404 MANIFEST_UNKNOWN manifest unknown"), line
    assert hint(r) == "Hint: check the repository name and tag"
    assert len(proxy.requests()) == 1  # a 404 is not retried
    assert_clean(nsconn)


@pytest.mark.parametrize(("status", "code", "message", "tries"), [
    (404, "BLOB_UNKNOWN", "blob unknown to registry", None),
    (500, "UNKNOWN", "storage backend on fire", 5),  # a 5xx that persists: retried, bounded
], ids=["404-missing-layer", "5xx-that-persists"])
def test_blob_error_status(proxy: FaultProxy, blobs: dict[str, Blobs], ns_env: dict[str, str],
                           nsconn: Connection, status: int, code: str, message: str,
                           tries: int | None) -> None:
    b = blobs["corrupt"]
    proxy.add(f"/blobs/{b.layer}$", status=status,
              body=json.dumps({"errors": [{"code": code, "message": message}]}).encode())
    r = pull(ns_env, f"{proxy.address}/{b.repo}:latest")
    line = one_error(r)
    assert line == (f"Error: fetch blob {b.layer}: GET http://{proxy.address}/v2/{b.repo}/blobs/"
                    f"{b.layer}: {status} {code} {message}"), line
    if tries is not None:
        assert [s.status for s in proxy.requests(b.layer)] == [status] * tries
    assert_clean(nsconn, b.layer)


UNAUTHORIZED = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'


@pytest.mark.parametrize("challenge", [None, 'Bearer realm="http://127.0.0.1:9/token",service="x"',
                                       'Bearer realm="not a url"', 'Basic realm="proxy"'],
                         ids=["no-challenge", "token-server-down", "realm-not-url", "basic"])
def test_401_unusable_challenge(proxy: FaultProxy, blobs: dict[str, Blobs], ns_env: dict[str, str],
                                nsconn: Connection, challenge: str | None) -> None:
    b = blobs["corrupt"]
    proxy.add(r"/v2/", status=401, body=UNAUTHORIZED,
              headers={"WWW-Authenticate": challenge} if challenge else {})
    ref = f"{proxy.address}/{b.repo}:latest"
    r = pull(ns_env, ref)
    line = one_error(r)
    assert line == (f"Error: resolve {ref}: GET http://{proxy.address}/v2/{b.repo}/manifests/latest: "
                    "401 UNAUTHORIZED authentication required"), line
    assert hint(r) == "Hint: log in with `docker login` or pass --user USER:PASSWORD"
    assert_clean(nsconn)


@pytest.fixture(scope="module")
def auth_registry(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second real registry, htpasswd auth (user ocix, password s3cret), same storage, read-only."""
    import bcrypt

    d = tmp_path_factory.mktemp("authreg")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=5)).decode()
    (d / "htpasswd").write_text(f"ocix:{hashed}\n")
    auth = f"auth:\n  htpasswd:\n    realm: ocix-test\n    path: {d / 'htpasswd'}\n"
    with start_registry(d, storage=Path(lab.dir) / "registry" / "data", readonly=True,
                        extra_config=auth) as addr:
        yield addr


def test_401_real_registry_with_basic_auth(auth_registry: str, blobs: dict[str, Blobs],
                                           ns_env: dict[str, str], nsconn: Connection) -> None:
    b = blobs["auth"]
    ref = f"{auth_registry}/{b.repo}:latest"
    expected = (f"Error: resolve {ref}: GET http://{auth_registry}/v2/{b.repo}/manifests/latest: "
                "401 UNAUTHORIZED authentication required")
    for user in ([], ["--user", "ocix:wrong"]):
        r = pull(ns_env, ref, "--no-unpack", *user)
        assert one_error(r) == expected
        assert hint(r).startswith("Hint: log in")
        assert_clean(nsconn)
    # The right password works (Basic auth, which oras's token flow alone cannot do).
    r = pull(ns_env, ref, "--no-unpack", "--user", "ocix:s3cret", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == b.manifest


def test_5xx_on_resolve_without_error_body(proxy: FaultProxy, ns_env: dict[str, str],
                                           nsconn: Connection) -> None:
    proxy.add(r"/manifests/", status=502, body=b"<html>Bad Gateway</html>",
              headers={"Content-Type": "text/html"})
    ref = f"{proxy.address}/library/busybox:latest"
    line = one_error(pull(ns_env, ref))
    assert line == (f"Error: resolve {ref}: GET http://{proxy.address}/v2/library/busybox/manifests/"
                    "latest: 502 Bad Gateway"), line
    assert len(proxy.requests("/manifests/")) == 5
    assert_clean(nsconn)


def test_transient_503_is_retried(proxy: FaultProxy, blobs: dict[str, Blobs],
                                  ns_env: dict[str, str], nsconn: Connection) -> None:
    b = blobs["transient"]
    proxy.add(r"/manifests/", status=503, times=1, headers={"Retry-After": "0"})
    proxy.add(f"/blobs/{b.layer}$", status=503, times=2)
    r = pull(ns_env, f"{proxy.address}/{b.repo}:latest", "--quiet")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == b.manifest
    assert [s.status for s in proxy.requests("/manifests/")] == [503, 200]
    assert [s.status for s in proxy.requests(b.layer)] == [503, 503, 200]
    assert content.info(nsconn, b.layer).size == b.layer_size
    assert leases.list_leases(nsconn) == [] and content.statuses(nsconn) == []


def test_refused_connection(ns_env: dict[str, str], nsconn: Connection) -> None:
    port = free_port()  # bound and closed again: nothing listens there
    start = time.monotonic()
    r = pull(ns_env, f"127.0.0.1:{port}/library/busybox:latest")
    assert one_error(r, exit_code=2) == f"Error: cannot reach registry 127.0.0.1:{port}: connection refused"
    assert hint(r) == "Hint: is the registry running?"
    assert time.monotonic() - start < 10  # not retried with backoff
    assert_clean(nsconn)


def test_connection_dropped_mid_blob(proxy: FaultProxy, blobs: dict[str, Blobs],
                                     ns_env: dict[str, str], nsconn: Connection) -> None:
    b = blobs["cut"]
    ref = f"{proxy.address}/{b.repo}:latest"
    # Every response is cut after 256 KiB: the fetch resumes from where it broke, 5 times, then fails.
    proxy.add(f"/blobs/{b.layer}$", cut_after=256 << 10)
    line = one_error(pull(ns_env, ref), exit_code=2)
    assert line.startswith(f"Error: fetch blob {b.layer}: the connection to {proxy.address} broke "
                           f"after {5 * 256 << 10} of {b.layer_size} bytes, 5 times"), line
    assert [s.range for s in proxy.requests(b.layer)] == [""] + [
        f"bytes={i * 256 << 10}-" for i in range(1, 5)]
    assert_clean(nsconn, b.layer)
    # Cut once: the pull resumes with a Range request and succeeds.
    proxy.clear()
    proxy.seen.clear()
    proxy.add(f"/blobs/{b.layer}$", cut_after=1 * MIB, times=1)
    r = pull(ns_env, ref, "--json")
    assert r.exit_code == 0, r.stderr
    assert [(s.range, s.status) for s in proxy.requests(b.layer)] == [("", 200), (f"bytes={MIB}-", 206)]
    assert proxy.bytes_sent(b.layer) == b.layer_size
    assert json.loads(r.stdout)["layers"][0]["downloaded"] == b.layer_size


# -- containerd goes away -----------------------------------------------------------------------

def _wait_containerd(socket: str) -> Connection:
    c = Connection(socket, "default", timeout=5)
    def ok() -> bool:
        try:
            leases.list_leases(c)
            return True
        except OcixError:
            return False
    wait_for("containerd to answer", ok, timeout=30)  # gRPC reconnects with backoff
    return c


def test_containerd_dies_mid_pull(lab: LabState, proxy: FaultProxy, blobs: dict[str, Blobs],
                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    """A private lab's containerd is SIGKILLed while a 50 MiB layer streams in; after a restart
    the re-pull resumes the ingest, and the dead pull's lease is gone at the end."""
    b = blobs["killed"]
    root = tmp_path_factory.mktemp("plab")
    state = labmod.up(root, seed=False).state
    try:
        env = {"CONTAINERD_ADDRESS": state.containerd_socket, "CONTAINERD_NAMESPACE": "default"}
        ref = f"{proxy.address}/{b.repo}:latest"
        proxy.add(f"/blobs/{b.layer}$", throttle=10 * MIB)
        daemon = state.proc("containerd")
        assert daemon is not None
        killed = threading.Event()

        def killer() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proxy.progress < 12 * MIB:
                time.sleep(0.02)
            os.kill(daemon.pid, signal.SIGKILL)
            killed.set()

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        r = run_cli(["pull", ref], env=env)
        t.join(timeout=70)
        assert killed.is_set()
        line = one_error(r, exit_code=2)
        assert line.startswith(f"Error: cannot reach containerd at {state.containerd_socket}: "), line

        labmod.down(root)
        state = labmod.up(root, seed=False).state
        conn = _wait_containerd(state.containerd_socket)
        try:
            assert images.list_images(conn) == []
            assert len(leases.list_leases(conn)) == 1  # the failed pull could not delete it
            part = ingested(conn, b.layer)
            assert 0 < part < b.layer_size
            assert not content.exists(conn, b.layer)

            proxy.wait_idle()  # the failed run's request is recorded before `seen` is cleared
            proxy.clear()
            proxy.seen.clear()
            r = run_cli(["pull", ref, "--json"], env={**env, "CONTAINERD_ADDRESS": state.containerd_socket})
            assert r.exit_code == 0, r.stderr
            layer = json.loads(r.stdout)["layers"][0]
            assert layer["fetch"] == "resumed" and layer["downloaded"] == b.layer_size - part
            assert [s.range for s in proxy.requests(b.layer)] == [f"bytes={part}-"]
            assert proxy.bytes_sent(b.layer) == b.layer_size - part
            assert leases.list_leases(conn) == []  # the dead one was dropped after the pull
            assert content.statuses(conn) == []
            assert content.info(conn, b.layer).size == b.layer_size
        finally:
            conn.close()
    finally:
        labmod.down(root)


# -- SIGKILL halfway, then resume ------------------------------------------------------------------

def test_sigkill_halfway_then_resume(proxy: FaultProxy, blobs: dict[str, Blobs], ns_env: dict[str, str],
                                     nsconn: Connection, namespace: str) -> None:
    b = blobs["killed"]
    assert not content.exists(nsconn, b.layer)
    ref = f"{proxy.address}/{b.repo}:latest"
    proxy.add(f"/blobs/{b.layer}$", throttle=8 * MIB)
    proc = subprocess.Popen([OCIX, "pull", "--quiet", ref], env={**os.environ, **ns_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for("part of the layer to be ingested",
                 lambda: ingested(nsconn, b.layer) >= 16 * MIB or proc.poll() is not None)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
    # The killed run left its partial ingest and its lease (its pid is dead now).
    assert images.list_images(nsconn) == []
    (dead,) = leases.list_leases(nsconn)
    assert dead.labels["ocix.io/owner"].endswith(f":{proc.pid}")

    # The proxy records the killed run's request only once it notices the dead connection.
    proxy.wait_idle()
    proxy.clear()
    proxy.seen.clear()
    r = pull(ns_env, ref, "--json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    layer = result["layers"][0]
    assert layer["fetch"] == "resumed", layer
    assert 16 * MIB <= b.layer_size - layer["downloaded"] < b.layer_size
    (seen,) = proxy.requests(b.layer)
    assert seen.range == f"bytes={b.layer_size - layer['downloaded']}-" and seen.status == 206
    assert seen.sent == layer["downloaded"]  # nothing downloaded twice
    assert [i.name for i in images.list_images(nsconn)] == [result["name"]]
    assert content.info(nsconn, b.layer).size == b.layer_size
    assert leases.list_leases(nsconn) == []  # ours deleted, the dead run's dropped
    assert content.statuses(nsconn) == []


# -- eight at once ---------------------------------------------------------------------------------

def test_eight_concurrent_pulls(lab: LabState, proxy: FaultProxy, blobs: dict[str, Blobs],
                                ns_env: dict[str, str], nsconn: Connection) -> None:
    b = blobs["concurrent"]
    ref = f"{proxy.address}/{b.repo}:latest"
    # Slow enough that all eight are in flight together and contend for the same ingest ref.
    proxy.add(f"/blobs/{b.layer}$", throttle=2 * MIB)
    procs = [subprocess.Popen([OCIX, "pull", "--quiet", ref], env={**os.environ, **ns_env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outs.append((p.returncode, out.strip(), err.strip()))
    assert outs == [(0, b.manifest, "")] * 8
    assert len(proxy.requests(b.layer)) >= 1
    (img,) = images.list_images(nsconn)
    assert img.target.digest == b.manifest
    assert content.info(nsconn, b.layer).size == b.layer_size
    assert leases.list_leases(nsconn) == []
    assert content.statuses(nsconn) == []
    r = run_cli(["images", "check"], env=ns_env)
    assert r.exit_code == 0 and "complete (2/2)" in r.stdout and "true" in r.stdout, r.stdout
