"""`ocix layers --waste` and `--ci` on images built here with known overwrites, a mode-only
change, a deleted directory, an opaque directory and a deleted file, over a base layer that a
second image shares.  Both are pushed to the lab registry; the expected figures are worked out
from the recipe below (by hand, in the comments), never from ocix."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import requests

from ocix.lab.images.build import (
    BuiltImage,
    Data,
    File,
    ImageSpec,
    LayerSpec,
    Opaque,
    PlatformImage,
    Symlink,
    Whiteout,
    build_image,
)
from ocix.lab.state import LabState
from ocix.oci.layout import blob_path
from ocix.oci.platform import host
from ocix.registry.push import push
from tests.divereference import Entry, dive_reference
from tests.helpers import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BASE = LayerSpec((File("etc/passwd", Data(b"p" * 100)), File("bin/tool", Data(b"t" * 1000)),
                  Symlink("bin/sh", "tool"), File("usr/lib/a", Data(b"a" * 300)),
                  File("usr/lib/b", Data(b"b" * 200)), File("data/x", Data(b"x" * 50))),
                 created_by="base: passwd, tool, lib, data")
EDIT = LayerSpec((File("etc/passwd", Data(b"q" * 120)),
                  File("bin/tool", Data(b"t" * 1000), mode=0o755),  # chmod +x: the file again
                  Whiteout("usr/lib"), Opaque("data"), File("data/y", Data(b"y" * 10))),
                 created_by="edit: passwd, chmod tool, rm -r lib, opaque data")
DROP = LayerSpec((Whiteout("etc/passwd"),), created_by="rm /etc/passwd")
OTHER = LayerSpec((File("srv/z", Data(b"z" * 7)),), created_by="other: srv/z")

# The ledger, from the recipe: each copy a later layer hides.
HIDDEN = [  # path, added in, hidden by, how, bytes, entries
    ("/bin/tool", 1, 2, "overwritten", 1000, 1),
    ("/usr/lib", 1, 2, "deleted", 500, 3),  # the directory, a and b
    ("/etc/passwd", 2, 3, "deleted", 120, 1),
    ("/etc/passwd", 1, 2, "overwritten", 100, 1),
    ("/data", 1, 2, "opaque", 50, 1),
]
# dive, from the recipe: sightings per leaf path (a file whiteout counts 0, a directory
# whiteout what the directory held; the opaque marker is not seen at all).
SIGHTINGS = {"/etc/passwd": [100, 120, 0], "/bin/tool": [1000, 1000], "/bin/sh": [0],
             "/usr/lib/a": [300], "/usr/lib/b": [200], "/data/x": [50], "/usr/lib": [500],
             "/data/y": [10]}
WASTED = sum(sum(v) for v in SIGHTINGS.values() if len(v) > 1)  # 2220
EFFICIENCY = (sum(min(v) for v in SIGHTINGS.values())
              / sum(sum(v) for v in SIGHTINGS.values()))  # 2060 / 3280
USER_BYTES = 120 + 1000 + 10  # every entry of layers 2 and 3
HIDDEN_BYTES = 1000 + 500 + 120 + 100 + 50


@pytest.fixture(scope="module")
def built(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltImage]:
    layout = tmp_path_factory.mktemp("waste-layout")
    out = {}
    for name, layers in (("app", (BASE, EDIT, DROP)), ("sibling", (BASE, OTHER))):
        spec = ImageSpec(f"waste/{name}", "1", (PlatformImage(host(), layers),))
        out[name] = image = build_image(layout, spec)
        push(lab.registry, image, insecure=True)
    return out


def ref(lab: LabState, name: str) -> str:
    return f"{lab.registry}/waste/{name}:1"


def pull(lab: LabState, ns_env: dict[str, str], name: str) -> None:
    r = run_cli(["pull", "--quiet", ref(lab, name)], env=ns_env)
    assert r.exit_code == 0, r.stderr


def layer_ratios(image: BuiltImage) -> list[float]:
    """compressed / uncompressed size of each layer, from the layout's blobs."""
    manifest = json.loads(blob_path(image.layout, image.root.digest).read_bytes())
    out = []
    for layer in manifest["layers"]:
        blob = blob_path(image.layout, layer["digest"]).read_bytes()
        out.append(layer["size"] / len(gzip.decompress(blob)))
    return out


def waste(lab: LabState, ns_env: dict[str, str], *extra: str) -> dict:
    r = run_cli(["layers", *extra, "--waste", "--json"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_ledger_figures_and_what_the_node_pays(lab: LabState, ns_env: dict[str, str],
                                                built: dict[str, BuiltImage]) -> None:
    pull(lab, ns_env, "app")
    doc = waste(lab, ns_env, ref(lab, "app"))
    assert [(h["path"], h["added_in"], h["hidden_by"], h["how"], h["bytes"], h["entries"])
            for h in doc["hidden"]] == HIDDEN
    lines = [BASE.created_by, EDIT.created_by, DROP.created_by]
    assert [(h["added_by"], h["hidden_by_created_by"]) for h in doc["hidden"]] == [
        (lines[a - 1], lines[b - 1]) for _, a, b, *_ in HIDDEN]
    per_layer = [1000 + 500 + 100 + 50, 120, 0]
    assert [x["hidden_bytes"] for x in doc["layers"]] == per_layer
    assert [x["added_bytes"] for x in doc["layers"]] == [1650, 1130, 0]
    ratios = layer_ratios(built["app"])
    assert [x["hidden_compressed"] for x in doc["layers"]] == [
        round(b * r) for b, r in zip(per_layer, ratios, strict=True)]
    t = doc["totals"]
    assert (t["hidden_bytes"], t["visible_bytes"], t["added_bytes"]) == (HIDDEN_BYTES, 1010, 2780)
    assert doc["dive"]["wasted_bytes"] == WASTED
    assert doc["dive"]["efficiency"] == pytest.approx(EFFICIENCY, rel=1e-12)
    assert doc["dive"]["user_wasted_percent"] == pytest.approx(WASTED / USER_BYTES, rel=1e-12)
    assert doc["why_figures_differ"].startswith("dive's wastedBytes adds every sighting")
    # Alone in the namespace: nothing is shared, removing the image frees every hidden byte.
    assert [x["shared_with"] for x in doc["layers"]] == [[], [], []]
    assert (t["hidden_shared_bytes"], t["unshared_hidden_bytes"]) == (0, HIDDEN_BYTES)
    assert all(h["shared"] is False for h in doc["hidden"])

    pull(lab, ns_env, "sibling")  # shares the base layer
    doc = waste(lab, ns_env, ref(lab, "app"))
    assert [x["shared_with"] for x in doc["layers"]] == [[ref(lab, "sibling")], [], []]
    t = doc["totals"]
    assert (t["hidden_shared_bytes"], t["unshared_hidden_bytes"]) == (1650, 120)
    assert t["unshared_hidden_compressed"] == round(120 * ratios[1])
    assert [h["shared"] for h in doc["hidden"]] == [a == 1 for _, a, *_ in HIDDEN]

    r = run_cli(["layers", ref(lab, "app"), "--waste", "--top", "2"], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert "… 3 more (--top N, or --json)" in r.stdout
    assert ("in layers shared with other images (paid once, removing this image frees none of "
            f"it): 1650; unshared: 120 (~{round(120 * ratios[1])} compressed)") in r.stdout
    assert (f"dive: efficiency {EFFICIENCY:.4f}, wastedBytes {WASTED}, userWastedPercent "
            f"{WASTED / USER_BYTES:.4f}") in r.stdout


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / f"dive-ci-{len(list(tmp_path.iterdir()))}.yaml"
    p.write_text(text)
    return str(p)


def test_ci_gate_exit_codes(lab: LabState, ns_env: dict[str, str], built: dict[str, BuiltImage],
                            tmp_path: Path) -> None:
    pull(lab, ns_env, "app")
    image = ref(lab, "app")
    ok = write(tmp_path, "rules:\n  lowestEfficiency: 0.6\n  highestWastedBytes: 3KB\n"
                         "  highestUserWastedPercent: disabled\n"
                         f"  highestHiddenBytes: {HIDDEN_BYTES}\n"
                         "  highestUnsharedHiddenBytes: 1.8kB\n")
    r = run_cli(["layers", image, "--ci", "--ci-config", ok], env=ns_env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        f"{image}: CI rules from {ok}",
        f"  PASS: lowestEfficiency: measured {EFFICIENCY:.4f}, configured 0.6",
        f"  PASS: highestWastedBytes: measured {WASTED}, configured 3KB",
        f"  SKIP: highestUserWastedPercent: measured {WASTED / USER_BYTES:.4f}, "
        "configured disabled",
        f"  PASS: highestHiddenBytes: measured {HIDDEN_BYTES}, configured {HIDDEN_BYTES}",
        f"  PASS: highestUnsharedHiddenBytes: measured {HIDDEN_BYTES}, configured 1.8kB",
        "Result: PASS"]

    bad = write(tmp_path, "rules:\n  lowestEfficiency: 0.95\n  highestUserWastedPercent: 0.5\n"
                          "  highestUnsharedHiddenBytes: 1000\n")
    r = run_cli(["layers", image, "--ci", "--ci-config", bad, "--json"], env=ns_env)
    assert r.exit_code == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["pass"] is False
    assert {x["key"]: x["status"] for x in doc["rules"]} == {
        "lowestEfficiency": "FAIL", "highestWastedBytes": "SKIP",
        "highestUserWastedPercent": "FAIL", "highestHiddenBytes": "SKIP",
        "highestUnsharedHiddenBytes": "FAIL"}

    broken = write(tmp_path, "rules:\n  lowestEfficiency: 90%\n")
    r = run_cli(["layers", image, "--ci", "--ci-config", broken], env=ns_env)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == (
        "Error: invalid lowestEfficiency config value, given '90%': "
        'strconv.ParseFloat: parsing "90%": invalid syntax')
    r = run_cli(["layers", image, "--ci", "--ci-config", str(tmp_path / "missing")], env=ns_env)
    assert r.exit_code == 2
    assert "cannot read the CI config" in r.stderr

    # After the sibling arrives, the base layer's hidden bytes are paid once: 120 unshared.
    pull(lab, ns_env, "sibling")
    r = run_cli(["layers", image, "--ci", "--ci-config", bad, "--json"], env=ns_env)
    assert r.exit_code == 1
    rules = {x["key"]: (x["status"], x["measured"]) for x in json.loads(r.stdout)["rules"]}
    assert rules["highestUnsharedHiddenBytes"] == ("PASS", "120")


def test_ci_on_a_registry_image_without_pulling(lab: LabState, ns_env: dict[str, str],
                                                built: dict[str, BuiltImage],
                                                tmp_path: Path) -> None:
    image = ref(lab, "app")
    cfg = write(tmp_path, "rules:\n  highestWastedBytes: 2KB\n  highestUserWastedPercent: 2\n")
    r = run_cli(["layers", "--ref", image, "--ci", "--ci-config", cfg], env=ns_env)
    assert r.exit_code == 2  # 2 is outside 0..1
    cfg = write(tmp_path, "rules:\n  lowestEfficiency: 0.6\n  highestWastedBytes: 2KB\n"
                          "  highestUserWastedPercent: off\n")
    r = run_cli(["layers", "--ref", image, "--ci", "--ci-config", cfg], env=ns_env)
    assert r.exit_code == 1, r.stdout + r.stderr
    assert (f"  FAIL: highestWastedBytes: measured {WASTED}, configured 2KB ({WASTED} bytes > "
            "threshold=2KB (2000 bytes))") in r.stdout.splitlines()
    doc = waste(lab, ns_env, "--ref", image)
    assert doc["source"] == "registry"
    assert [(h["path"], h["bytes"]) for h in doc["hidden"]] == [(p, b) for p, _, _, _, b, _ in HIDDEN]
    assert doc["dive"]["wasted_bytes"] == WASTED
    assert [x["shared_with"] for x in doc["layers"]] == [None, None, None]
    r = run_cli(["images", "ls", "--json"], env=ns_env)
    assert json.loads(r.stdout) == []  # nothing was pulled


def registry_layers(registry: str, repo: str, tag: str = "latest") -> list[list[Entry]]:
    """Each layer's tar headers, fetched over plain HTTP from the registry and read by tarfile."""
    accept = {"Accept": ", ".join(
        f"application/vnd.{t}+json" for t in (
            "oci.image.manifest.v1", "oci.image.index.v1",
            "docker.distribution.manifest.v2", "docker.distribution.manifest.list.v2"))}
    doc = requests.get(f"http://{registry}/v2/{repo}/manifests/{tag}", headers=accept,
                       timeout=10).json()
    if "manifests" in doc:
        arch = host().architecture
        entry = next(m for m in doc["manifests"] if m["platform"]["architecture"] == arch)
        doc = requests.get(f"http://{registry}/v2/{repo}/manifests/{entry['digest']}",
                           headers=accept, timeout=10).json()
    out = []
    for layer in doc["layers"]:
        blob = requests.get(f"http://{registry}/v2/{repo}/blobs/{layer['digest']}",
                            timeout=60).content
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            out.append([(m.name, m.size, "f" if m.isreg() else "d" if m.isdir() else "o")
                        for m in tar])
    return out


@pytest.mark.parametrize("repo", ["library/busybox", "library/layers", "library/multiarch"])
def test_dive_figures_of_the_seed_images_match_the_reference(lab: LabState,
                                                              ns_env: dict[str, str],
                                                              repo: str) -> None:
    expected = dive_reference(registry_layers(lab.registry, repo))
    assert (expected[1] > 0) == (repo == "library/layers")  # the one that rewrites files
    doc = waste(lab, ns_env, "--ref", f"{lab.registry}/{repo}:latest")["dive"]
    assert doc["efficiency"] == pytest.approx(expected[0], rel=1e-12)
    assert doc["wasted_bytes"] == expected[1]
    if doc["user_wasted_percent"] is None:  # one layer: dive's 0/0
        assert expected[2] != expected[2]
    else:
        assert doc["user_wasted_percent"] == pytest.approx(expected[2], rel=1e-12)


DOCKERFILE = """FROM busybox
RUN mkdir -p /opt/lib && head -c 3000 /dev/zero > /opt/lib/a && head -c 2000 /dev/zero > /opt/lib/b \\
    && head -c 700 /dev/zero > /big
RUN chmod 755 /big && echo changed > /opt/lib/a
RUN rm -rf /opt/lib && rm /big
"""
DOCKER_HIDDEN = [  # path, added in, hidden by, how, bytes, entries, below the path
    ("/opt/lib/a", 2, 3, "overwritten", 3000, 1, False),
    ("/opt/lib", 2, 4, "deleted", 2000, 1, True),  # b; the directory entry is layer 3's
    ("/big", 2, 3, "overwritten", 700, 1, False),  # chmod: the whole file again
    ("/big", 3, 4, "deleted", 700, 1, False),
    ("/opt/lib", 3, 4, "deleted", 8, 2, True),  # the directory and a ("changed\n")
]


def test_a_docker_built_image(docker_lab: LabState, ns_env: dict[str, str],
                              tmp_path: Path) -> None:
    """docker's own builder writes the layers; dive's figures come from the reference over the
    blobs as the registry serves them, the ledger from the Dockerfile."""
    image = f"{docker_lab.registry}/waste/docker:1"
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    env = {**os.environ, "DOCKER_HOST": f"unix://{docker_lab.docker_socket}",
           "DOCKER_BUILDKIT": "0"}
    for argv in (["pull", "-q", "busybox"], ["build", "-q", "-t", image, str(tmp_path)],
                 ["push", "-q", image]):
        p = subprocess.run(["docker", *argv], env=env, capture_output=True, text=True,
                           timeout=240, check=False)
        assert p.returncode == 0, p.stderr
    doc = waste(docker_lab, ns_env, "--ref", image)
    assert [(h["path"], h["added_in"], h["hidden_by"], h["how"], h["bytes"], h["entries"],
             h["subtree"]) for h in doc["hidden"]] == DOCKER_HIDDEN
    assert doc["totals"]["hidden_bytes"] == 3000 + 2000 + 700 + 700 + 8
    assert [x["added_bytes"] for x in doc["layers"]][1:] == [5700, 708, 0]
    expected = dive_reference(registry_layers(docker_lab.registry, "waste/docker", tag="1"))
    # by hand: /big [700, 700, 0] and /opt/lib/a [3000, 8] are seen more than once
    assert doc["dive"]["wasted_bytes"] == expected[1] == 1400 + 3008
    assert doc["dive"]["efficiency"] == pytest.approx(expected[0], rel=1e-12)
    assert doc["dive"]["user_wasted_percent"] == pytest.approx(expected[2], rel=1e-12)
