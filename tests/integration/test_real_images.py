"""library/debian:bookworm and library/app:latest: built from the Debian archive, pushed to the
lab, read back with skopeo and tar, and explored with ocix's own commands."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ocix.lab.images import realimages
from ocix.lab.state import LabState
from tests.helpers import run_cli

from .conftest import DEBIAN_CACHE

pytestmark = pytest.mark.integration

ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                      check=True).stdout.strip()
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The app's Dockerfile, as the recipe promises it (appimage.STEPS), written out here by hand.
APP_HISTORY = [
    (f"# debian.sh --arch '{ARCH}' out/ 'bookworm' '@1704067200'", False),
    ("ENV APP_HOME=/app", True),
    ("RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends "
     "python3-minimal ca-certificates # buildkit", False),
    ("RUN /bin/sh -c rm -rf /var/lib/apt/lists/* /var/cache/apt/* # buildkit", False),
    ("COPY app.py run.sh /app/ # buildkit", False),
    ("WORKDIR /app", True),
    ("RUN /bin/sh -c dd if=/dev/urandom of=/app/model.bin bs=1M count=24 status=none # buildkit",
     False),
    ("RUN /bin/sh -c dd if=/dev/urandom of=/app/model.bin bs=1M count=24 status=none # buildkit",
     False),
    ("RUN /bin/sh -c chmod 0755 /app/run.sh # buildkit", False),
    ('CMD ["/app/run.sh"]', True),
]


def skopeo(lab: LabState, ref: str, *extra: str) -> Any:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", *extra,
                          f"docker://{lab.registry}/{ref}"],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def layer_listing(lab: LabState, repo: str, digest: str, tmp: Path) -> list[str]:
    """`tar -tvz` of a layer blob fetched from the registry."""
    blob = tmp / digest.replace(":", "-")
    with requests.get(f"http://{lab.registry}/v2/{repo}/blobs/{digest}", stream=True,
                      timeout=60) as r:
        r.raise_for_status()
        with open(blob, "wb") as f:
            for chunk in r.iter_content(1 << 20):
                f.write(chunk)
    out = subprocess.run(["tar", "-tvzf", str(blob), "--numeric-owner"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return out.splitlines()


def test_a_second_seed_takes_the_cached_images(debian_lab: LabState,
                                               lab_env: dict[str, str]) -> None:
    start = time.monotonic()
    r = run_cli(["lab", "seed", "--debian"],
                env={**lab_env, "OCIX_DEBIAN_CACHE": str(DEBIAN_CACHE)})
    took = time.monotonic() - start
    assert r.exit_code == 0, r.stderr
    assert f"lab: debian and app: cached in {DEBIAN_CACHE}\n" in r.stderr
    assert f"{debian_lab.registry}/library/debian:bookworm\n" in r.stdout
    assert f"{debian_lab.registry}/library/app:latest\n" in r.stdout
    assert took < 30, f"a cached seed took {took:.1f}s"


def test_two_builds_give_the_same_debian_digest(debian_lab: LabState, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    again = realimages.seed_real(tmp_path, with_app=False, cache=cache)[0]
    registry = skopeo(debian_lab, "library/debian:bookworm")
    assert again.root.digest == registry["Digest"]
    assert json.loads((cache / "blobs" / "sha256" / again.root.digest[7:]).read_bytes()
                      )["layers"][0]["digest"] == registry["Layers"][0]


def test_an_unreachable_archive_fails_in_one_line_naming_it(lab: LabState,
                                                           lab_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    r = run_cli(["lab", "seed", "--debian", "-q", "--mirror", "http://127.0.0.1:9/debian"],
                env={**lab_env, "OCIX_DEBIAN_CACHE": str(tmp_path)})
    assert r.exit_code == 2
    first = r.stderr.splitlines()[0]
    assert first == ("Error: cannot bootstrap Debian bookworm: the archive at "
                     "http://127.0.0.1:9/debian bookworm main is unreachable; offline, bring an "
                     "image as a file with `ocix lab import PATH`")
    assert not list(tmp_path.glob(".build-*"))  # the failed build left nothing


def test_debian_has_the_official_images_config(debian_lab: LabState) -> None:
    cfg = skopeo(debian_lab, "library/debian:bookworm", "--config")
    assert cfg["config"] == {"Env": [PATH_ENV], "Cmd": ["bash"]}
    assert cfg["created"] == "2024-01-01T00:00:00Z"
    version = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert cfg["history"] == [{"created": "2024-01-01T00:00:00Z", "comment": version,
                               "created_by": APP_HISTORY[0][0]}]
    assert cfg["architecture"] == ARCH and len(cfg["rootfs"]["diff_ids"]) == 1


def test_debian_is_a_whole_minbase_tree(debian_lab: LabState, tmp_path: Path) -> None:
    layer = skopeo(debian_lab, "library/debian:bookworm")["Layers"][0]
    lines = layer_listing(debian_lab, "library/debian", layer, tmp_path)
    names = {line.split()[-1] for line in lines if " -> " not in line and " link to " not in line}
    assert len(lines) > 5000
    assert {"usr/bin/apt-get", "usr/bin/dpkg", "var/lib/dpkg/status", "etc/debian_version",
            "usr/bin/bash"} <= names
    assert not {"etc/resolv.conf", "etc/hostname", "dev/null"} & names
    assert all(" 2024-01-01 00:00 " in line for line in lines)


def test_app_history_reads_like_its_dockerfile(debian_lab: LabState) -> None:
    cfg = skopeo(debian_lab, "library/app:latest", "--config")
    got = [(h["created_by"], bool(h.get("empty_layer"))) for h in cfg["history"]]
    assert got == APP_HISTORY
    assert len(cfg["rootfs"]["diff_ids"]) == sum(not empty for _, empty in APP_HISTORY)
    assert cfg["config"] == {"Env": [PATH_ENV, "APP_HOME=/app"], "Cmd": ["/app/run.sh"],
                             "WorkingDir": "/app"}
    deb = skopeo(debian_lab, "library/debian:bookworm", "--config")
    assert cfg["rootfs"]["diff_ids"][0] == deb["rootfs"]["diff_ids"][0]


def test_app_layers_hold_the_waste_layer_tools_find(debian_lab: LabState,
                                                    tmp_path: Path) -> None:
    layers = skopeo(debian_lab, "library/app:latest")["Layers"]
    listing = [layer_listing(debian_lab, "library/app", d, tmp_path) for d in layers]
    apt, clean, copy, big1, big2, chmod = listing[1:]
    assert any(re.search(r" var/lib/apt/lists/\S+_Packages$", x) for x in apt)
    assert any(re.search(r" var/cache/apt/archives/python3\S+\.deb$", x) for x in apt)
    assert any(x.endswith(" usr/bin/python3.11") for x in apt)
    assert any(x.endswith(" var/cache/apt/.wh.archives") for x in clean)
    assert any(re.search(r" var/lib/apt/lists/\.wh\.\S+_Packages$", x) for x in clean)
    size = str(24 << 20)
    for layer in (big1, big2):
        assert [x.split()[2] for x in layer if x.endswith(" app/model.bin")] == [size]
    run_sh = [x.split()[0] for x in copy + chmod if x.endswith(" app/run.sh")]
    assert run_sh == ["-rw-r--r--", "-rwxr-xr-x"]
    assert [x.split()[-1] for x in chmod if not x.startswith("d")] == ["app/run.sh"]


@pytest.fixture
def app_ns(debian_lab: LabState, ns_env: dict[str, str]) -> dict[str, str]:
    r = run_cli(["pull", "app"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    return ns_env


def test_ocix_commands_explore_app(debian_lab: LabState, app_ns: dict[str, str],
                                   tmp_path: Path) -> None:
    layers = skopeo(debian_lab, "library/app:latest")["Layers"]
    r = run_cli(["layers", "app", "--json"], env=app_ns)
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["layers"]
    assert [x["digest"] for x in rows] == layers
    clean = layer_listing(debian_lab, "library/app", layers[2], tmp_path)
    assert rows[2]["deleted"] == sum("/.wh." in x for x in clean) > 10
    entries = layer_listing(debian_lab, "library/app", layers[1], tmp_path)
    assert rows[1]["entries"] == len(entries)
    r = run_cli(["images", "history", "app"], env=app_ns)
    assert r.exit_code == 0 and "<empty layer>" in r.stdout and "WORKDIR /app" in r.stdout
    r = run_cli(["validate", "image", "app"], env=app_ns)
    assert r.exit_code == 0
    assert r.stdout.strip().endswith("docker.io/library/app:latest: valid (0 errors, 0 warnings)")
    r = run_cli(["df"], env=app_ns)
    assert r.exit_code == 0 and "docker.io/library/app:latest" in r.stdout
    r = run_cli(["why", layers[5]], env=app_ns)
    assert r.exit_code == 0
    assert r.stdout.startswith(f"layer {layers[5]} is kept by 1 root(s): image "
                               "docker.io/library/app:latest.")


def test_app_runs_through_containerd(debian_lab: LabState, app_ns: dict[str, str],
                                     tmp_path: Path) -> None:
    base = skopeo(debian_lab, "library/debian:bookworm")["Layers"][0]
    layer_listing(debian_lab, "library/debian", base, tmp_path)
    version = subprocess.run(["tar", "-xzOf", str(tmp_path / base.replace(":", "-")),
                              "etc/debian_version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    r = run_cli(["run", "--rm", "app"], env=app_ns)
    assert r.exit_code == 0, r.stderr
    assert re.fullmatch(rf"app: python 3\.11\.\d+ on debian {re.escape(version)}\n", r.stdout)
