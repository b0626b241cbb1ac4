"""Shared test helpers (import as `from tests.helpers import run_cli`)."""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from click.testing import CliRunner, Result

from ocix import trace
from ocix.cli.main import cli
from ocix.lab.state import LabState

if TYPE_CHECKING:
    from ocix.containerd.connection import Connection


T = TypeVar("T")


def run_cli(args: list[str], env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    """Invoke the real `ocix` click app in-process; stdout and stderr are kept apart."""
    try:
        return CliRunner().invoke(cli, args, env=dict(env or {}), input=input, catch_exceptions=False)
    finally:
        trace.disable()  # --trace flips a process-wide switch


def ctr(lab: LabState, namespace: str, *args: str, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    """containerd's own `ctr` against the lab, in `namespace`; the caller checks the result."""
    return subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", namespace, *args],
                          capture_output=True, text=True, check=False, timeout=timeout)


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30.0,
             interval: float = 0.05) -> T:
    """Poll `check` until it returns something true, and return that; AssertionError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def is_root() -> bool:
    return os.geteuid() == 0


def remove_namespace(c: Connection, name: str) -> list[str]:
    """Empty namespace `name` and remove it.

    Returns one line per lease the test left behind and per thing that could not be removed
    (then followed by what is still in the namespace); [] when all went well."""
    from ocix.containerd import containers, content, images, leases, namespaces, snapshots, tasks
    from ocix.errors import NotFoundError, OcixError

    problems: list[str] = []  # what could not be removed
    leaks: list[str] = []  # what should not have been there

    def attempt(what: str, fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(c, *args)
        except NotFoundError:
            pass  # gone already: nothing to remove
        except OcixError as e:
            problems.append(f"{what}: {e}")

    try:
        if name not in {n.name for n in namespaces.list_namespaces(c)}:
            return []  # the test never created anything in it
        for t in tasks.list_tasks(c):
            attempt(f"task {t.container_id}", tasks.force_remove, t.container_id)
        for ct in containers.list_containers(c):
            if ct.snapshot_key:
                attempt(f"snapshot {ct.snapshot_key} of container {ct.id}", snapshots.remove,
                        ct.snapshot_key, ct.snapshotter or snapshots.DEFAULT_SNAPSHOTTER)
            attempt(f"container {ct.id}", containers.delete, ct.id)
        for lease in leases.list_leases(c):
            # A lease never outlives the command that took it: one left over is a leak.
            leaks.append(f"lease {lease.id} {dict(sorted(lease.labels.items()))} was left behind "
                         "(removed now)")
            attempt(f"lease {lease.id}", leases.delete, lease.id)
        for st in content.statuses(c):
            attempt(f"ingest {st.ref}", content.abort, st.ref)
        for img in images.list_images(c):
            attempt(f"image {img.name}", images.delete, img.name)
        # One synchronous garbage collection takes the content and snapshots nothing holds now.
        gc = leases.create(c, leases.new_id("teardown"))
        attempt(f"lease {gc.id}", functools.partial(leases.delete, sync=True), gc.id)
        if not problems:
            namespaces.remove(c, name)
    except OcixError as e:  # the namespace is not empty, or containerd is gone
        problems.append(f"namespace {name}: {e}")
    if problems:
        try:
            problems += _remaining(c)
        except OcixError:
            pass  # containerd is gone: the error above says so
    return leaks + problems


def _remaining(c: Connection) -> list[str]:
    """What is still in the namespace, for the teardown report."""
    from ocix.containerd import containers, content, images, leases, snapshots

    left = [f"image {i.name}" for i in images.list_images(c)]
    left += [f"container {x.id}" for x in containers.list_containers(c)]
    left += [f"lease {x.id}" for x in leases.list_leases(c)]
    left += [f"snapshot {x.name} ({x.kind})" for x in snapshots.list_snapshots(c)]
    left += [f"blob {x.digest}" for x in content.list_content(c)]
    left += [f"ingest {x.ref}" for x in content.statuses(c)]
    return left


def tar_bytes(members: list[tuple[str, bytes, Any, int, int]], *, mtime: int = 1700000000
              ) -> bytes:
    """(name, type, data or link target, mode, uid) -> an uncompressed tar; gid = uid."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, body, mode, uid in members:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, uid, mtime
            if kind == tarfile.REGTYPE:
                ti.size = len(body)
                tar.addfile(ti, io.BytesIO(body))
            else:
                ti.linkname = body
                tar.addfile(ti)
    return buf.getvalue()


def pulled_namespace(lab: LabState, env: Mapping[str, str], namespace: str,
                     refs: list[str]) -> Iterator[dict[str, str]]:
    """For a module fixture: `env` pointed at `namespace` with `refs` pulled once by ocix;
    the namespace is emptied and removed afterwards, and anything left fails the test."""
    from ocix.containerd.connection import Connection

    ns_env = {**env, "CONTAINERD_NAMESPACE": namespace}
    for ref in refs:
        r = run_cli(["pull", "--quiet", ref], env=ns_env)
        assert r.exit_code == 0, r.stderr
    yield ns_env
    c = Connection(lab.containerd_socket, namespace, timeout=60)
    try:
        problems = remove_namespace(c, namespace)
    finally:
        c.close()
    assert not problems, problems
