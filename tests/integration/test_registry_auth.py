"""`ocix pull` against REAL `docker-registry` servers that require authentication.

Two registries start per module on free loopback ports, storage in temp dirs:

* htpasswd (Basic) auth, user alice / s3cret (bcrypt), serving `library/busybox`;
* token (Bearer) auth against tokenserver.py, which signs RS256 JWTs with a self-signed
  certificate that the registry trusts through `rootcertbundle`. Anonymous token requests get
  `pull` on `public/busybox` and nothing on `private/busybox`; alice gets pull and push on both.

The image is busybox plus one layer holding a nonce, so its config and that layer are new to
the lab's containerd (content is shared across namespaces) and the first successful pull really
downloads blobs through the authenticated registry. Credentials come from `--user`, from
OCIX_PASSWORD, or from `$DOCKER_CONFIG/config.json`; `--trace` (run as a real subprocess, as a
user would) must show each HTTP call and no secret.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from click.testing import Result

from ocix.lab.images import recipes
from ocix.lab.images.build import (
    BuiltImage,
    Data,
    File,
    ImageSpec,
    LayerSpec,
    PlatformImage,
    build_image,
)
from ocix.lab.state import LabState
from ocix.registry.http import TracedRegistry
from ocix.registry.push import push
from tests.helpers import run_cli
from tests.integration.registries import registry as start_registry
from tests.integration.tokenserver import TokenServer

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
OCIX = str(Path(sys.executable).with_name("ocix"))

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180),
              pytest.mark.skipif(not Path(REGISTRY_BIN).exists(),
                                 reason="docker-registry is not installed")]

USER, PASSWORD = "alice", "s3cret"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()  # YWxpY2U6czNjcmV0
SERVICE, ISSUER = "ocix-test", "ocix-test-issuer"
PUBLIC, PRIVATE = "public/busybox", "private/busybox"
HINT = "Hint: log in with `docker login` or pass --user USER:PASSWORD"
SUBPROCESS_TIMEOUT = 120


@dataclass(frozen=True)
class Served:
    host: str  # 127.0.0.1:PORT
    digest: str  # of the pushed image's manifest (the same in every repository)
    log: Path
    tokens: TokenServer | None = None


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    base = recipes.busybox()
    [plat] = base.images
    nonce = secrets.token_hex(16)
    extra = LayerSpec((File("etc/ocix-auth-test", Data(f"{nonce}\n".encode())),),
                      created_by="ocix tests: a nonce, so these blobs are new to containerd")
    spec = ImageSpec("library/busybox", "latest",
                     (PlatformImage(plat.platform, (*plat.layers, extra), plat.config),),
                     description="busybox plus a nonce layer (registry auth tests)")
    return build_image(tmp_path_factory.mktemp("authlayout"), spec)


@contextmanager
def _registry(root: Path, auth: str) -> Iterator[tuple[str, Path]]:
    """docker-registry with the given `auth:` section; yields (host, log path)."""
    with start_registry(root, extra_config=auth) as host:
        status = requests.get(f"http://{host}/v2/", timeout=5).status_code
        assert status == 401, f"docker-registry on {host} answered /v2/ with {status} without auth"
        yield host, root / "logs" / "registry.log"


def _pusher(host: str) -> TracedRegistry:
    client = TracedRegistry(host, insecure=True)
    client.auth.set_basic_auth(USER, PASSWORD)
    return client


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, image: BuiltImage) -> Iterator[Served]:
    import bcrypt

    root = tmp_path_factory.mktemp("basicreg")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    auth = f"""auth:
  htpasswd:
    realm: ocix-basic
    path: {root / "htpasswd"}
"""
    with _registry(root, auth) as (host, log):
        result = push(host, image, insecure=True, client=_pusher(host))
        assert result.digest == image.root.digest
        yield Served(host, result.digest, log)


@pytest.fixture(scope="module")
def bearer_registry(tmp_path_factory: pytest.TempPathFactory, image: BuiltImage) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("bearerreg")
    tokens = TokenServer(service=SERVICE, issuer=ISSUER, users={USER: PASSWORD},
                         public=frozenset({PUBLIC}), directory=root / "tokens").start()
    auth = f"""auth:
  token:
    realm: {tokens.realm}
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {tokens.cert_path}
"""
    try:
        with _registry(root, auth) as (host, log):
            # One client for both repositories: its pull token must widen to pull+push, then
            # give way to a token for the other repository.
            client = _pusher(host)
            for repo in (PUBLIC, PRIVATE):
                result = push(host, image, insecure=True, client=client, repo=repo)
                assert result.digest == image.root.digest
            yield Served(host, image.root.digest, log, tokens)
    finally:
        tokens.stop()


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """An empty $DOCKER_CONFIG dir: no credentials unless a test writes config.json."""
    d = tmp_path / "docker"
    d.mkdir()
    return d


@pytest.fixture
def env(lab: LabState, docker_config: Path, tmp_path: Path) -> dict[str, str]:
    hosts = tmp_path / "hosts"  # no hosts.toml: loopback registries are plain HTTP by default
    hosts.mkdir()
    return {"CONTAINERD_ADDRESS": lab.containerd_socket, "DOCKER_CONFIG": str(docker_config),
            "OCIX_HOSTS_DIR": str(hosts), "OCIX_TRACE": "0"}


# -- helpers -----------------------------------------------------------------------------------
def _pull(env: dict[str, str], namespace: str, ref: str, *args: str) -> Result:
    return run_cli(["-n", namespace, "pull", "--no-unpack", *args, ref], env=env)


def _images(env: dict[str, str], namespace: str) -> list[str]:
    r = run_cli(["-n", namespace, "images", "ls", "-q"], env=env)
    assert r.exit_code == 0, r.stderr
    return r.stdout.split()


def _assert_pulled(r: Result, served: Served, env: dict[str, str], namespace: str,
                   ref: str) -> None:
    assert r.exit_code == 0, (r.stdout, r.stderr, served.log.read_text()[-3000:])
    assert r.stdout.strip() == served.digest
    assert _images(env, namespace) == [ref]


def _assert_refused(r: Result, env: dict[str, str], namespace: str, error: str) -> None:
    """Exit 1, exactly `Error: ...` and the login hint on stderr, nothing else, no image."""
    assert r.exit_code == 1, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.splitlines() == [error, HINT]
    assert _images(env, namespace) == []


def _unauthorized(host: str, repo: str) -> str:
    return (f"Error: resolve {host}/{repo}:latest: GET http://{host}/v2/{repo}/manifests/latest: "
            "401 UNAUTHORIZED authentication required")


def _write_config(docker_config: Path, key: str, form: str, password: str = PASSWORD) -> None:
    if form == "auth":
        entry = {"auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}
    else:
        entry = {"username": USER, "password": password}
    (docker_config / "config.json").write_text(json.dumps({"auths": {key: entry}}))


def _wrong_password(source: str, docker_config: Path, host: str, form: str) -> list[str]:
    """A wrong password from `source`: pull arguments for --user, or a docker config entry."""
    if source == "user":
        return ["--user", f"{USER}:wrong"]
    _write_config(docker_config, host, form, password="wrong")
    return []


def _traced_pull(env: dict[str, str], namespace: str, ref: str, *args: str
                 ) -> subprocess.CompletedProcess[str]:
    """The real `ocix --trace pull` as a user runs it (trace lines go to the real stderr)."""
    return subprocess.run([OCIX, "--trace", "-n", namespace, "pull", "--no-unpack", "-q", *args,
                           ref], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, stdin=subprocess.DEVNULL)


def _http_lines(trace: str) -> list[str]:
    """`GET URL -> STATUS` of each traced HTTP call, in order."""
    out = []
    for line in trace.splitlines():
        if "] http " in line:
            what = line.split("] http ", 1)[1].strip()
            out.append(what.rsplit(" (", 1)[0])
    return out


def _assert_no_secrets(text: str, *extra: str) -> None:
    for secret in (PASSWORD, BASIC, *extra):
        assert secret not in text, f"{secret[:12]}... leaked into the output"
    for word in ("Basic ", "Bearer ", "Authorization"):
        assert word not in text


# -- Basic auth (htpasswd) ---------------------------------------------------------------------
def test_basic_anonymous_is_refused(basic_registry: Served, env: dict[str, str],
                                    namespace: str) -> None:
    host = basic_registry.host
    r = _pull(env, namespace, f"{host}/library/busybox:latest")
    _assert_refused(r, env, namespace, _unauthorized(host, "library/busybox"))


@pytest.mark.parametrize("source", ["user", "docker-config"])
def test_basic_wrong_password_is_refused(basic_registry: Served, env: dict[str, str],
                                         docker_config: Path, namespace: str, source: str) -> None:
    host = basic_registry.host
    args = _wrong_password(source, docker_config, host, "auth")
    r = _pull(env, namespace, f"{host}/library/busybox:latest", *args)
    _assert_refused(r, env, namespace, _unauthorized(host, "library/busybox"))


def test_basic_user_flag(basic_registry: Served, env: dict[str, str], namespace: str) -> None:
    ref = f"{basic_registry.host}/library/busybox:latest"
    r = _pull(env, namespace, ref, "--user", f"{USER}:{PASSWORD}", "-q")
    _assert_pulled(r, basic_registry, env, namespace, ref)


def test_basic_user_flag_password_from_env(basic_registry: Served, env: dict[str, str],
                                           namespace: str) -> None:
    ref = f"{basic_registry.host}/library/busybox:latest"
    r = _pull({**env, "OCIX_PASSWORD": PASSWORD}, namespace, ref, "--user", USER, "-q")
    _assert_pulled(r, basic_registry, env, namespace, ref)


@pytest.mark.parametrize(("key", "form"), [("{host}", "auth"), ("{host}", "userpass"),
                                           ("http://{host}", "auth")],
                         ids=["host-auth", "host-username-password", "url-auth"])
def test_basic_docker_config(basic_registry: Served, env: dict[str, str], docker_config: Path,
                             namespace: str, key: str, form: str) -> None:
    host = basic_registry.host
    _write_config(docker_config, key.format(host=host), form)
    ref = f"{host}/library/busybox:latest"
    r = _pull(env, namespace, ref, "-q")
    _assert_pulled(r, basic_registry, env, namespace, ref)


def test_basic_user_flag_wins_over_docker_config(basic_registry: Served, env: dict[str, str],
                                                 docker_config: Path, namespace: str) -> None:
    host = basic_registry.host
    _write_config(docker_config, host, "auth", password="stale")
    ref = f"{host}/library/busybox:latest"
    r = _pull(env, namespace, ref, "--user", f"{USER}:{PASSWORD}", "-q")
    _assert_pulled(r, basic_registry, env, namespace, ref)


@pytest.mark.parametrize("source", ["user", "docker-config"])
def test_basic_trace_redacts_credentials(basic_registry: Served, env: dict[str, str],
                                         docker_config: Path, namespace: str, source: str) -> None:
    host = basic_registry.host
    ref = f"{host}/library/busybox:latest"
    args = ["--user", f"{USER}:{PASSWORD}"] if source == "user" else []
    if source == "docker-config":
        _write_config(docker_config, host, "auth")
    p = _traced_pull(env, namespace, ref, *args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == basic_registry.digest
    calls = _http_lines(p.stderr)
    manifest = f"GET http://{host}/v2/library/busybox/manifests/latest"
    # The anonymous attempt is refused, then the same request with Basic credentials succeeds.
    assert calls[:2] == [f"{manifest} -> 401", f"{manifest} -> 200"], calls
    assert any("/v2/library/busybox/blobs/sha256:" in c and c.endswith("-> 200") for c in calls)
    assert all(c.startswith(("GET ", "HEAD ")) for c in calls), calls
    _assert_no_secrets(p.stderr + p.stdout)


# -- Bearer token auth -------------------------------------------------------------------------
def _token_requests_since(served: Served, start: int) -> list[tuple[str, tuple[str, ...], int,
                                                                  tuple[tuple[str, tuple[str, ...]], ...]]]:
    assert served.tokens is not None
    return [(t.account, t.scopes, t.status, t.access) for t in served.tokens.requests[start:]]


def test_bearer_push_tokens(bearer_registry: Served) -> None:
    """The fixture's push: pull tokens widened to pull+push per repository, all as alice."""
    assert bearer_registry.tokens is not None
    # A cross-repository mount asks for two scopes at once, in no fixed order, and the client
    # lists a scope's actions in no fixed order either ("pull,push" or "push,pull", it varies
    # with the hash seed): compare the actions as sets.
    def pull_push(actions: str | tuple[str, ...]) -> bool:
        return set(actions.split(",") if isinstance(actions, str) else actions) == {"pull", "push"}

    pushes = [r for r in bearer_registry.tokens.requests
              if any(pull_push(s.rpartition(":")[2]) for s in r.scopes)]
    assert pushes and all((r.account, r.status) == (USER, 200) for r in pushes)
    for repo in (PUBLIC, PRIVATE):
        assert any(name == repo and pull_push(actions) for r in pushes
                   for name, actions in r.access), repo


def test_bearer_anonymous_pull_of_public_repo(bearer_registry: Served, env: dict[str, str],
                                              namespace: str) -> None:
    assert bearer_registry.tokens is not None
    start = len(bearer_registry.tokens.requests)
    ref = f"{bearer_registry.host}/{PUBLIC}:latest"
    r = _pull(env, namespace, ref, "-q")
    _assert_pulled(r, bearer_registry, env, namespace, ref)
    # One anonymous token for the whole pull, with pull (only) on the public repository.
    scope = f"repository:{PUBLIC}:pull"
    assert _token_requests_since(bearer_registry, start) == [
        ("", (scope,), 200, ((PUBLIC, ("pull",)),))]


def test_bearer_anonymous_pull_of_private_repo_is_refused(
        bearer_registry: Served, env: dict[str, str], namespace: str) -> None:
    assert bearer_registry.tokens is not None
    start = len(bearer_registry.tokens.requests)
    host = bearer_registry.host
    r = _pull(env, namespace, f"{host}/{PRIVATE}:latest")
    _assert_refused(r, env, namespace, _unauthorized(host, PRIVATE))
    # The token server was asked once, anonymously, and granted nothing.
    assert _token_requests_since(bearer_registry, start) == [
        ("", (f"repository:{PRIVATE}:pull",), 200, ())]


@pytest.mark.parametrize("source", ["user", "docker-config"])
def test_bearer_wrong_password_is_refused(bearer_registry: Served, env: dict[str, str],
                                          docker_config: Path, namespace: str,
                                          source: str) -> None:
    assert bearer_registry.tokens is not None
    start = len(bearer_registry.tokens.requests)
    host = bearer_registry.host
    args = _wrong_password(source, docker_config, host, "userpass")
    r = _pull(env, namespace, f"{host}/{PRIVATE}:latest", *args)
    _assert_refused(r, env, namespace, _unauthorized(host, PRIVATE))
    # One token request with the wrong password, refused; no anonymous fallback after it.
    assert _token_requests_since(bearer_registry, start) == [
        (USER, (f"repository:{PRIVATE}:pull",), 401, ())]


@pytest.mark.parametrize("source", ["user", "docker-config-auth", "docker-config-userpass"])
def test_bearer_private_repo_with_credentials(bearer_registry: Served, env: dict[str, str],
                                              docker_config: Path, namespace: str,
                                              source: str) -> None:
    assert bearer_registry.tokens is not None
    start = len(bearer_registry.tokens.requests)
    host = bearer_registry.host
    ref = f"{host}/{PRIVATE}:latest"
    args: list[str] = []
    if source == "user":
        args = ["--user", f"{USER}:{PASSWORD}"]
    else:
        _write_config(docker_config, host, source.rsplit("-", 1)[1])
    r = _pull(env, namespace, ref, "-q", *args)
    _assert_pulled(r, bearer_registry, env, namespace, ref)
    scope = f"repository:{PRIVATE}:pull"
    assert _token_requests_since(bearer_registry, start) == [
        (USER, (scope,), 200, ((PRIVATE, ("pull",)),))]


def test_bearer_credentials_do_not_leak_into_the_public_repo_check(
        bearer_registry: Served, env: dict[str, str], docker_config: Path,
        namespace: str) -> None:
    """With credentials configured, the public repository is pulled as alice, not anonymously."""
    assert bearer_registry.tokens is not None
    start = len(bearer_registry.tokens.requests)
    _write_config(docker_config, bearer_registry.host, "auth")
    ref = f"{bearer_registry.host}/{PUBLIC}:latest"
    r = _pull(env, namespace, ref, "-q")
    _assert_pulled(r, bearer_registry, env, namespace, ref)
    assert [req[0] for req in _token_requests_since(bearer_registry, start)] == [USER]


@pytest.mark.parametrize("source", ["anonymous-public", "anonymous-private", "user",
                                    "docker-config"])
def test_bearer_trace_shows_the_token_request_and_no_secret(
        bearer_registry: Served, env: dict[str, str], docker_config: Path, namespace: str,
        source: str) -> None:
    tokens = bearer_registry.tokens
    assert tokens is not None
    issued_before = len(tokens.issued)
    host = bearer_registry.host
    repo = PUBLIC if source == "anonymous-public" else PRIVATE
    args = ["--user", f"{USER}:{PASSWORD}"] if source == "user" else []
    if source == "docker-config":
        _write_config(docker_config, host, "auth")
    p = _traced_pull(env, namespace, f"{host}/{repo}:latest", *args)
    manifest = f"GET http://{host}/v2/{repo}/manifests/latest"
    query = urlencode({"service": SERVICE, "scope": f"repository:{repo}:pull"})
    token = f"GET {tokens.realm}?{query}"
    calls = _http_lines(p.stderr)
    if source == "anonymous-private":
        # The token grants nothing: the retry is refused too, and that is the error.
        assert p.returncode == 1, p.stderr
        assert calls == [f"{manifest} -> 401", f"{token} -> 200", f"{manifest} -> 401"], calls
        assert p.stderr.splitlines()[-2:] == [_unauthorized(host, repo), HINT]
    else:
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == bearer_registry.digest
        # Challenge, token, the same request again with the token.
        assert calls[:3] == [f"{manifest} -> 401", f"{token} -> 200", f"{manifest} -> 200"], calls
        assert sum(c.startswith(f"GET {tokens.realm}") for c in calls) == 1, calls
    issued = tokens.issued[issued_before:]
    assert len(issued) == 1
    # Neither the password, nor the Basic string, nor the JWT (or its signature) is printed.
    _assert_no_secrets(p.stderr + p.stdout, issued[0], issued[0].rsplit(".", 1)[1])


# -- browsing and artifacts use the same credentials ----------------------------------------------
def test_registry_tags_and_inspect_with_basic_credentials(basic_registry: Served,
                                                          env: dict[str, str]) -> None:
    host = basic_registry.host
    r = run_cli(["registry", "tags", f"{host}/library/busybox"], env=env)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        f"Error: tags of {host}/library/busybox: GET http://{host}/v2/library/busybox/tags/list"
        "?n=1000: 401 UNAUTHORIZED authentication required", HINT]
    r = run_cli(["registry", "tags", f"{host}/library/busybox", "--digests", "--json",
                 "--user", f"{USER}:{PASSWORD}"], env=env)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == [{"tag": "latest", "digest": basic_registry.digest,
                                     "media_type": "application/vnd.oci.image.manifest.v1+json"}]
    r = run_cli(["registry", "inspect", f"{host}/library/busybox:latest", "--json", "--user", USER],
                env={**env, "OCIX_PASSWORD": PASSWORD})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["manifest_digest"] == basic_registry.digest


def test_attach_and_referrers_on_a_private_bearer_repo(bearer_registry: Served, env: dict[str, str],
                                                       tmp_path: Path) -> None:
    ref = f"{bearer_registry.host}/{PRIVATE}:latest"
    user = ["--user", f"{USER}:{PASSWORD}"]
    (tmp_path / "sbom.json").write_text('{"bomFormat":"CycloneDX","specVersion":"1.5"}')
    r = run_cli(["attach", ref, "--artifact-type", "application/vnd.cyclonedx+json",
                 str(tmp_path / "sbom.json"), "--json", *user], env=env)
    assert r.exit_code == 0, r.stderr
    attached = json.loads(r.stdout)
    assert (attached["subject"], attached["via"]) == (bearer_registry.digest, "tag schema")
    r = run_cli(["referrers", ref, "--json", *user], env=env)
    assert r.exit_code == 0, r.stderr
    assert [n["digest"] for n in json.loads(r.stdout)["referrers"]] == [attached["digest"]]
