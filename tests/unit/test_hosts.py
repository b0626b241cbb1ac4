"""hosts.toml parsing: mirrors in order, then the server; plain HTTP only for loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocix.errors import UsageError
from ocix.registry.hosts import is_loopback, load


def write(d: Path, host: str, text: str) -> None:
    (d / host).mkdir(parents=True)
    (d / host / "hosts.toml").write_text(text)


def test_no_file_means_the_registry_itself(tmp_path: Path) -> None:
    cfg = load("quay.io", str(tmp_path))
    assert [e.base for e in cfg.endpoints] == ["https://quay.io/v2"]
    assert load("docker.io", str(tmp_path)).endpoints[0].base == "https://registry-1.docker.io/v2"
    assert load("127.0.0.1:5000", str(tmp_path)).endpoints[0].base == "http://127.0.0.1:5000/v2"
    assert load("quay.io", str(tmp_path), plain_http=True).endpoints[0].base == "http://quay.io/v2"


def test_mirrors_then_server_with_capabilities(tmp_path: Path) -> None:
    write(tmp_path, "docker.io", '''
server = "https://registry-1.docker.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example.com/prefix"]
  capabilities = ["pull"]
  skip_verify = true
  ca = "/etc/ca.pem"
''')
    cfg = load("docker.io", str(tmp_path))
    assert [e.base for e in cfg.endpoints] == [
        "http://127.0.0.1:5000/v2", "https://mirror.example.com/prefix/v2", "https://registry-1.docker.io/v2"]
    assert cfg.endpoints[0].can("resolve") and not cfg.endpoints[1].can("resolve")
    assert cfg.endpoints[1].skip_verify and cfg.endpoints[1].ca == ("/etc/ca.pem",)
    assert cfg.endpoints[2].can("push")
    assert cfg.endpoints[0].mirror and not cfg.endpoints[2].mirror


def test_override_path_and_duplicates(tmp_path: Path) -> None:
    write(tmp_path, "r.example", '''
server = "http://r.example:8080"
[host."http://r.example:8080"]
[host."https://m.example/custom/api"]
  override_path = true
''')
    cfg = load("r.example", str(tmp_path))
    assert [e.base for e in cfg.endpoints] == ["http://r.example:8080/v2", "https://m.example/custom/api"]


def test_bad_toml_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "x.io", "server = [")
    with pytest.raises(UsageError) as e:
        load("x.io", str(tmp_path))
    assert e.value.message.startswith(f"{tmp_path}/x.io/hosts.toml: invalid TOML:")


@pytest.mark.parametrize(("host", "loop"), [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.3.4.5", True),
    ("[::1]:5000", True), ("10.0.0.1:5000", False), ("quay.io", False), ("docker.io", False)])
def test_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop
