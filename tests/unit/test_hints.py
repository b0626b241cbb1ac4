"""Hints that name an `ocix` command are the command line's (cli/hints.py): the library gives
its errors a kind and a subject, and no hint of its own that names ocix."""

from __future__ import annotations

import ast
from pathlib import Path

import grpc
import pytest

from ocix.cli.hints import BY_KIND, UNREACHABLE, hint_for
from ocix.errors import NotFoundError, OcixError, UnreachableError, from_grpc
from tests.fakes import FakeRpcError
from tests.helpers import run_cli

PACKAGE = Path(__file__).resolve().parents[2] / "ocix"


def library_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if "cli" not in p.relative_to(PACKAGE).parts[:1] and "_api" not in p.parts]


# The tour's StepFailed hints are lines of a step's transcript (teaching text the tour shows
# with the step), not errors that reach the command line.
TRANSCRIPT_ONLY = {"StepFailed"}


def error_keywords(tree: ast.AST, name: str, names: bool = False) -> list[tuple[int, str]]:
    """The string constants (f-string parts too) given as `name` to an error: a keyword of a
    call to a class named ...Error, or an assignment to `.name`; with `names`, the variables
    given instead."""
    out = []
    for node in ast.walk(tree):
        values: list[ast.AST] = []
        if isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            if (callee.endswith("Error") or callee == "type") and callee not in TRANSCRIPT_ONLY:
                values = [k.value for k in node.keywords if k.arg == name]
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == name for t in node.targets):
            values = [node.value]
        for v in values:
            for sub in ast.walk(v):
                if names and isinstance(sub, ast.Name):
                    out.append((sub.lineno, sub.id))
                elif not names and isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    out.append((sub.lineno, sub.value))
    return out


def test_no_library_hint_names_an_ocix_command() -> None:
    bad = []
    for path in library_modules():
        tree = ast.parse(path.read_text())
        used = {name for _, name in error_keywords(tree, "hint", names=True)}
        constants = [(n.lineno, n.value.value) for n in tree.body
                     if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                     and isinstance(n.value.value, str)
                     and any(isinstance(t, ast.Name) and t.id in used for t in n.targets)]
        for line, text in error_keywords(tree, "hint") + constants:
            if "`ocix " in text or "ocix lab" in text or "ocix run" in text:
                bad.append(f"{path.relative_to(PACKAGE)}:{line}: {text}")
    assert bad == []


def test_every_kind_the_library_raises_has_a_hint_or_is_plain_unreachable() -> None:
    kinds = set()
    for path in library_modules():
        tree = ast.parse(path.read_text())
        for _, text in error_keywords(tree, "kind"):
            kinds.add(text)
    # the CRI client's f"cri-{kind}-unknown", kind "pod" or "container"
    assert {"cri-", "-unknown"} <= kinds
    assert {"cri-pod-unknown", "cri-container-unknown"} <= set(BY_KIND)
    assert kinds - {"unreachable", "cri-", "-unknown"} <= set(BY_KIND), kinds - set(BY_KIND)


def test_from_grpc_names_its_peer_and_the_cli_picks_the_peers_hint() -> None:
    failure = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    cri = from_grpc(failure, peer="the CRI runtime", address="/run/crio/crio.sock")
    assert isinstance(cri, UnreachableError)
    assert cri.message == "cannot reach the CRI runtime at /run/crio/crio.sock: " \
                          "failed to connect to all addresses"
    assert hint_for(cri) == UNREACHABLE["the CRI runtime"]
    late = from_grpc(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline"), peer="the CRI runtime")
    assert late.message == "the CRI runtime did not answer in time (deadline)"
    assert hint_for(late) == "is the daemon overloaded or stopped?"


@pytest.mark.parametrize(("error", "hint"), [
    (OcixError("x", kind="lab-down"), "start it with `ocix lab up`"),
    (OcixError("x", kind="lab-part-missing", subject="podman"),
     "start the lab with `ocix lab up --with-podman`, then `eval \"$(ocix lab env)\"`"),
    (NotFoundError("x", kind="tour-step-unknown", subject="25"), "steps are 1-25: `ocix tour --list`"),
    (NotFoundError("x", kind="cri-image-missing", subject="busybox"),
     "pull it with `ocix cri pull busybox`"),
    (NotFoundError("x", hint="its own", kind="image-unknown"), "its own"),
    (NotFoundError("x", kind="image-unknown", subject="127.0.0.1:5000/library/layers:latest"),
     "`ocix pull 127.0.0.1:5000/library/layers:latest` first, or see `ocix images ls`"),
    (OcixError("x"), None),
    (UnreachableError("x"), None),
])
def test_hint_for(error: OcixError, hint: str | None) -> None:
    assert hint_for(error) == hint


def test_the_cli_prints_the_hint_it_chose() -> None:
    r = run_cli(["--address", "/nonexistent/containerd.sock", "version"])
    assert r.stderr.splitlines()[1] == f"Hint: {UNREACHABLE['containerd']}"


def test_an_unknown_registry_host_gets_the_offline_lab_hint() -> None:
    r = run_cli(["validate", "ref", "nonexistent.invalid/x:1"])  # .invalid never resolves
    assert r.exit_code == 2
    assert r.stderr.splitlines()[1] == f"Hint: {BY_KIND['registry-host-unknown']}"
    assert BY_KIND["registry-host-unknown"] == (
        "check the name and the network; offline, `ocix lab up` and "
        "`eval \"$(ocix lab env)\"` make the lab registry a docker.io mirror")
