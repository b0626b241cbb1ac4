"""ocix's image tools on the lab's real images (library/debian:bookworm and library/app:latest),
each checked against a source that is not ocix: `dpkg-query -W` run inside the container by
`ctr run`, `cat` run the same way, the registry's own HTTP answers, skopeo, and `tar -tv` of
the layer blobs (and the filesystems flattened with GNU tar, tests/integration/flatten.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ocix.lab.state import LabState
from tests.divereference import Entry, dive_reference
from tests.helpers import ctr, pulled_namespace, run_cli

from .flatten import extract, layer_blobs, listing, ocix_diff, truth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NS = "t-real-images-tools"
DEBIAN, APP = "docker.io/library/debian:bookworm", "docker.io/library/app:latest"
REPOS = {"debian": ("library/debian", "bookworm", DEBIAN), "app": ("library/app", "latest", APP)}
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json, "
                    "application/vnd.oci.image.index.v1+json"}
SBOM_TYPE, NOTES_TYPE = "application/vnd.cyclonedx+json", "application/vnd.example.notes"


@pytest.fixture(scope="module")
def real_env(debian_lab: LabState, lab_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """One namespace for the module with debian and app pulled once (app is 172 MiB)."""
    yield from pulled_namespace(debian_lab, lab_env, NS, ["debian:bookworm", "app"])


@pytest.fixture(scope="module")
def dpkg_query(debian_lab: LabState, real_env: dict[str, str]) -> dict[str, set[tuple[str, str]]]:
    """name and version of every package, from `dpkg-query -W` inside each image (ctr run)."""
    out = {}
    for name, (_, _, ref) in REPOS.items():
        p = ctr(debian_lab, NS, "run", "--rm", ref, f"dpkg-{name}-{os.urandom(4).hex()}",
                "dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n", timeout=120)
        assert p.returncode == 0, p.stderr
        rows = [tuple(line.split("\t")) for line in p.stdout.splitlines()]
        out[name] = set(rows)
        assert len(out[name]) == len(rows) and all(len(x) == 2 for x in rows)
    return out  # type: ignore[return-value]


def manifest(lab: LabState, repo: str, ref: str) -> dict[str, Any]:
    r = requests.get(f"http://{lab.registry}/v2/{repo}/manifests/{ref}", headers=ACCEPT,
                     timeout=30)
    r.raise_for_status()
    return r.json()


def _blob(lab: LabState, repo: str, digest: str, tmp: Path) -> Path:
    """A layer blob fetched from the registry into `tmp` (once)."""
    blob = tmp / digest[7:]
    if not blob.exists():
        with requests.get(f"http://{lab.registry}/v2/{repo}/blobs/{digest}", stream=True,
                          timeout=120) as r:
            r.raise_for_status()
            with open(blob, "wb") as f:
                for chunk in r.iter_content(1 << 20):
                    f.write(chunk)
    return blob


def tar_tv(lab: LabState, repo: str, tmp: Path) -> list[list[tuple[str, int, str]]]:
    """(type letter, size, /path) of every entry of each layer: `tar -tvz` of the blobs the
    registry serves (hardlinks and symlinks by their own name)."""
    out = []
    for layer in manifest(lab, repo, REPOS["app" if repo == "library/app" else "debian"][1]
                          )["layers"]:
        blob = _blob(lab, repo, layer["digest"], tmp)
        lines = subprocess.run(["tar", "-tvzf", str(blob), "--numeric-owner"],
                               capture_output=True, text=True, check=True,
                               timeout=120).stdout.splitlines()
        rows = []
        for line in lines:
            perms, _owner, size, _date, _time, name = line.split(None, 5)
            name = name.split(" -> ")[0] if perms[0] == "l" else name
            name = name.split(" link to ")[0] if perms[0] == "h" else name
            rows.append((perms[0], int(size), "/" + name.removeprefix("./").strip("/")))
        out.append(rows)
    return out


# -- ocix sbom: the package list equals dpkg-query in the container ---------------------------

@pytest.mark.parametrize("name", ["debian", "app"])
def test_sbom_packages_equal_dpkg_query_in_the_container(
        debian_lab: LabState, dpkg_query: dict[str, set[tuple[str, str]]], name: str) -> None:
    repo, tag, _ = REPOS[name]
    r = run_cli(["sbom", f"{debian_lab.registry}/{repo}:{tag}", "--json"])
    assert r.exit_code == 0, r.stderr
    got = [(c["name"], c["version"]) for c in json.loads(r.stdout)["components"]]
    assert sorted(got) == sorted(dpkg_query[name])
    assert len(got) > 90
    # The recipe: app is debian plus what apt-get installed for python3-minimal.
    if name == "app":
        assert dpkg_query["debian"] < dpkg_query["app"]
        assert {"python3-minimal", "ca-certificates"} <= {n for n, _ in dpkg_query["app"]}


# -- referrers on a registry without the API: attach, list, copy, validate ------------------

def _validate(lab: LabState, repo: str, digest: str) -> None:
    ref = f"{lab.registry}/{repo}@{digest}"
    r = run_cli(["validate", "ref", ref])
    assert (r.exit_code, r.stdout.strip().splitlines()[-1]) == (
        0, f"image {ref} (registry): valid (0 errors, 0 warnings)"), r.stdout + r.stderr


def test_attach_sbom_and_notes_to_app_then_referrers_copy_and_validate(
        debian_lab: LabState, dpkg_query: dict[str, set[tuple[str, str]]], tmp_path: Path) -> None:
    lab = debian_lab
    ref = f"{lab.registry}/library/app:latest"
    subject = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format",
                              "{{.Digest}}", f"docker://{ref}"], capture_output=True, text=True,
                             check=True, timeout=60).stdout.strip()
    fallback = "sha256-" + subject[7:]

    r = run_cli(["sbom", ref, "--attach"])
    assert r.exit_code == 0, r.stderr
    found = re.search(r"^Attached\s+(sha256:[0-9a-f]{64})\s+\(via the tag schema\)$", r.stdout,
                      re.M)
    assert found, r.stdout
    sbom = found.group(1)
    (tmp_path / "notes.txt").write_text("release notes\n")
    r = run_cli(["attach", ref, "--artifact-type", NOTES_TYPE, "-a",
                 "org.opencontainers.image.description=notes", str(tmp_path / "notes.txt"),
                 "--json"])
    assert r.exit_code == 0, r.stderr
    attached = json.loads(r.stdout)
    notes = attached["digest"]
    assert (attached["via"], attached["fallback_tag"], attached["subject"]) == (
        "tag schema", fallback, subject)

    # The registry itself: the fallback tag is an index of both; each names app as subject.
    index = manifest(lab, "library/app", fallback)
    assert {(m["digest"], m["artifactType"]) for m in index["manifests"]} == {
        (sbom, SBOM_TYPE), (notes, NOTES_TYPE)}
    for digest, kind in ((sbom, SBOM_TYPE), (notes, NOTES_TYPE)):
        doc = manifest(lab, "library/app", digest)
        assert (doc["artifactType"], doc["subject"]["digest"]) == (kind, subject)
        [layer] = doc["layers"]
        data = requests.get(f"http://{lab.registry}/v2/library/app/blobs/{layer['digest']}",
                            timeout=30).content
        if kind == SBOM_TYPE:  # what was attached is the image's package list
            bom = json.loads(data)
            assert {(c["name"], c["version"]) for c in bom["components"]} == dpkg_query["app"]
        else:
            assert data == b"release notes\n"

    r = run_cli(["referrers", ref])
    assert r.exit_code == 0, r.stderr
    lines = [x.lstrip(" │├└─") for x in r.stdout.splitlines()]
    assert lines[0] == f"{ref}@{subject} (2 referrers, via the tag schema)"
    assert sorted(lines[1:]) == sorted([
        f"{SBOM_TYPE} [CycloneDX SBOM] {sbom[7:23]} {served_size(lab, sbom)} B valid",
        f"{NOTES_TYPE} {notes[7:23]} {served_size(lab, notes)} B valid",
        "org.opencontainers.image.description=notes"])

    dest = f"{lab.registry}/ocix-tests/app-copy:latest"
    r = run_cli(["copy", ref, dest, "--referrers", "--json"])
    assert r.exit_code == 0, r.stderr
    copied = json.loads(r.stdout)
    assert (copied["digest"], sorted(copied["referrers"])) == (subject, sorted([sbom, notes]))
    assert manifest(lab, "ocix-tests/app-copy", fallback) == index
    for digest in (subject, sbom, notes):
        assert (manifest(lab, "ocix-tests/app-copy", digest)
                == manifest(lab, "library/app", digest))
    r = run_cli(["referrers", dest, "--json"])
    assert r.exit_code == 0, r.stderr
    tree = json.loads(r.stdout)
    assert tree["source"] == "tag schema"
    assert sorted((n["digest"], n["artifact_type"], n["valid"], n["children"])
                  for n in tree["referrers"]) == sorted(
        [(sbom, SBOM_TYPE, True, []), (notes, NOTES_TYPE, True, [])])
    for repo in ("library/app", "ocix-tests/app-copy"):
        for digest in (subject, sbom, notes):
            _validate(lab, repo, digest)


def served_size(lab: LabState, digest: str) -> int:
    """The length of app's manifest `digest` as the registry serves it."""
    r = requests.get(f"http://{lab.registry}/v2/library/app/manifests/{digest}", headers=ACCEPT,
                     timeout=30)
    r.raise_for_status()
    return len(r.content)


# -- cat, diff and the waste ledger against ctr and tar -------------------------------------

def test_cat_os_release_equals_ctr_run(debian_lab: LabState, real_env: dict[str, str]) -> None:
    # /bin/sh goes through merged /usr's /bin -> usr/bin and then sh -> dash.
    for path in ("/etc/os-release", "/etc/debian_version", "/app/run.sh", "/usr/bin/python3",
                 "/bin/sh"):
        p = subprocess.run(["ctr", "-a", debian_lab.containerd_socket, "-n", NS, "run", "--rm",
                            APP, f"cat-{os.urandom(4).hex()}", "cat", path],
                           capture_output=True, check=False, timeout=120)
        assert p.returncode == 0, p.stderr
        r = run_cli(["cat", "app", path], env=real_env)
        assert r.exit_code == 0, r.stderr
        assert r.stdout_bytes == p.stdout and p.stdout, path
    history = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--config",
         f"docker://{debian_lab.registry}/library/app:latest"], capture_output=True, text=True,
        check=True, timeout=60).stdout)["history"]
    layers = [h["created_by"] for h in history if not h.get("empty_layer")]
    rm = next(i for i, h in enumerate(layers, 1) if h.startswith("RUN /bin/sh -c rm -rf"))
    r = run_cli(["cat", "app", "/var/cache/apt/pkgcache.bin"], env=real_env)
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines()[0] == (
        f"Error: no such file in {APP}: /var/cache/apt/pkgcache.bin (deleted in layer {rm} by "
        f"{layers[rm - 1]!r}: whiteout)")


def test_diff_of_debian_and_app_equals_tar(debian_lab: LabState, real_env: dict[str, str],
                                           tmp_path: Path) -> None:
    a, b = tmp_path / "debian", tmp_path / "app"
    extract(layer_blobs(debian_lab, NS, DEBIAN), a)
    extract(layer_blobs(debian_lab, NS, APP), b)
    expected = truth(a, b, content=True)
    assert ocix_diff(real_env, "debian:bookworm", "app", "--content") == expected
    plain = {p: (c, w - {"content"}) for p, (c, w) in expected.items() if w - {"content"}
             or c != "changed"}
    assert ocix_diff(real_env, "debian:bookworm", "app") == plain
    # The recipe's facts, so that a wrong flattening here cannot hide a wrong ocix: apt's
    # lists and cache are gone, python arrived, the model and the app's files are new.
    removed = {p for p, (c, _) in expected.items() if c == "removed"}
    assert removed and all(p.startswith(("/var/lib/apt/lists/", "/var/cache/apt/"))
                           for p in removed)
    for path in ("/usr/bin/python3.11", "/app/model.bin", "/app/run.sh", "/app/app.py"):
        assert expected[path] == ("added", frozenset()), path
    assert expected["/var/lib/dpkg/status"][0] == "changed"
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli(["cp", "app:/app", str(out)], env=real_env)
    assert r.exit_code == 0, r.stderr
    assert sorted(x.name for x in (out / "app").iterdir()) == ["app.py", "model.bin", "run.sh"]
    for x in ("app.py", "model.bin", "run.sh"):
        assert (out / "app" / x).read_bytes() == (b / "app" / x).read_bytes(), x
        assert (out / "app" / x).stat().st_mode == (b / "app" / x).stat().st_mode, x
    r = run_cli(["diff", "debian:bookworm", "app", "--summary", "--json"], env=real_env)
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)["summary"]
    counts = Counter(c for c, _ in plain.values())
    assert (s["added"], s["removed"], s["changed"]) == (
        counts["added"], counts["removed"], counts["changed"])
    la, lb = listing(a), listing(b)
    sizes = {(c, side): sum(listing_[p][4] for p, (k, _) in plain.items() if k == c)
             for c, side, listing_ in (("added", "b", lb), ("removed", "a", la),
                                       ("changed", "a", la), ("changed", "b", lb))}
    assert (s["added_bytes"], s["removed_bytes"], s["changed_bytes_a"], s["changed_bytes_b"]) == (
        sizes[("added", "b")], sizes[("removed", "a")], sizes[("changed", "a")],
        sizes[("changed", "b")])
    apt = {p: v for p, v in plain.items() if p == "/var/cache/apt" or p.startswith("/var/cache/apt/")}
    assert apt and ocix_diff(real_env, "debian:bookworm", "app", "--path", "/var/cache/apt") == apt


def _hidden_by_tar(layers: list[list[tuple[str, int, str]]]) -> Counter[tuple[str, int, int]]:
    """(path, layer that wrote the copy, layer that hid it) -> bytes, replayed from the tar
    listings: a whiteout hides what is at and under its target, an opaque marker what is under
    its directory, and any entry hides the non-directory it lands on."""
    visible: dict[str, tuple[int, int, str]] = {}  # path -> (layer, size, type)
    hidden: Counter[tuple[str, int, int]] = Counter()
    for k, rows in enumerate(layers, 1):
        for _typ, _size, path in rows:
            parent, _, base = path.rpartition("/")
            if base.startswith(".wh."):
                target = parent if base == ".wh..wh..opq" else f"{parent}/{base[4:]}"
                under = [p for p in visible if p.startswith(target + "/")
                         or (p == target and base != ".wh..wh..opq")]
                for p in under:
                    hidden[(target, visible[p][0], k)] += visible.pop(p)[1]
        for typ, size, path in rows:
            if "/.wh." in path:
                continue
            old = visible.get(path)
            if old and old[2] != "d":
                hidden[(path, old[0], k)] += old[1]
            visible[path] = (k, size, typ)
    return hidden


def test_waste_ledger_equals_tar_listings_of_the_blobs(debian_lab: LabState,
                                                       real_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    layers = tar_tv(debian_lab, "library/app", tmp_path)
    history = [h["created_by"] for h in json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--config",
         f"docker://{debian_lab.registry}/library/app:latest"], capture_output=True, text=True,
        check=True, timeout=60).stdout)["history"] if not h.get("empty_layer")]
    expected = _hidden_by_tar(layers)
    r = run_cli(["layers", "app", "--waste", "--json"], env=real_env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    got = Counter({(h["path"], h["added_in"], h["hidden_by"]): h["bytes"] for h in doc["hidden"]})
    assert len(got) == len(doc["hidden"])
    assert got == expected
    assert all((h["added_by"], h["hidden_by_created_by"])
               == (history[h["added_in"] - 1], history[h["hidden_by"] - 1]) for h in doc["hidden"])
    # The two kinds of waste the Dockerfile makes, by the figures tar gives.
    apt = next(i for i, h in enumerate(history, 1) if h.startswith("RUN /bin/sh -c apt-get"))
    rm = next(i for i, h in enumerate(history, 1) if h.startswith("RUN /bin/sh -c rm -rf"))
    under = ("/var/lib/apt/lists/", "/var/cache/apt/")
    cleaned = sum(s for t, s, p in layers[apt - 1] if t != "d" and p.startswith(under))
    assert cleaned > 100 << 20
    assert sum(b for (p, a, h), b in got.items() if (a, h) == (apt, rm)) == cleaned
    dd = [i for i, rows in enumerate(layers, 1) if any(p == "/app/model.bin" for _, _, p in rows)]
    [size] = {s for _, s, p in layers[dd[0] - 1] if p == "/app/model.bin"}
    assert (len(dd), size) == (2, 24 << 20)
    assert got[("/app/model.bin", dd[0], dd[1])] == size
    assert [h["how"] for h in doc["hidden"] if h["path"] == "/app/model.bin"] == ["overwritten"]
    assert doc["hidden"][0]["path"].startswith("/var/lib/apt/lists/")  # the biggest copy
    assert [x["hidden_bytes"] for x in doc["layers"]] == [
        sum(b for (_, a, _), b in got.items() if a == i) for i in range(1, len(layers) + 1)]
    assert doc["totals"]["hidden_bytes"] == sum(expected.values())
    # debian is pulled in this namespace too: its layer is app's first, paid once.
    assert doc["layers"][0]["shared_with"] == [DEBIAN]
    assert [x["shared_with"] for x in doc["layers"][1:]] == [[]] * (len(layers) - 1)
    assert doc["totals"]["hidden_shared_bytes"] == sum(b for (_, a, _), b in got.items() if a == 1)
    entries: list[list[Entry]] = [[(p.lstrip("/"), s, "f" if t == "-" else "d" if t == "d" else "o")
                                   for t, s, p in rows] for rows in layers]
    efficiency, wasted, user = dive_reference(entries)
    assert doc["dive"]["wasted_bytes"] == wasted
    assert doc["dive"]["efficiency"] == pytest.approx(efficiency, rel=1e-12)
    assert doc["dive"]["user_wasted_percent"] == pytest.approx(user, rel=1e-12)
    r = run_cli(["layers", "app", "--waste", "--top", "5"], env=real_env)
    assert r.exit_code == 0, r.stderr
    assert re.search(rf"^24\.0 MiB\s+/app/model\.bin\s+1\s+layer {dd[0]}\s+layer {dd[1]}"
                     r"\s+overwritten\s+no *$", r.stdout, re.M), r.stdout


def test_hardlinks_keep_their_targets_mode_in_a_container(debian_lab: LabState,
                                                          real_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    """Every hard link's header has its target's mode, as GNU tar writes it: containerd chmods
    the shared inode to the link's mode, so a 0644 link made perl unrunnable."""
    links: dict[str, str] = {}
    modes: dict[str, str] = {}
    for layer in manifest(debian_lab, "library/app", "latest")["layers"]:
        lines = subprocess.run(["tar", "-tvzf", str(_blob(debian_lab, "library/app", layer["digest"], tmp_path)),
                                "--numeric-owner"], capture_output=True, text=True, check=True,
                               timeout=120).stdout.splitlines()
        for line in lines:
            perms, _owner, _size, _date, _time, name = line.split(None, 5)
            if perms[0] == "h":
                name, target = name.split(" link to ")
                links["/" + name] = "/" + target
            if perms[0] in "-h":
                modes["/" + name] = perms[1:]
    assert "/usr/bin/perl5.36.0" in links
    assert {p: modes[p] for p in links} == {p: modes[t] for p, t in links.items()}
    sample = [*sorted(links)[:8], "/usr/bin/perl5.36.0"]
    p = ctr(debian_lab, NS, "run", "--rm", APP, f"stat-{os.urandom(4).hex()}", "stat", "-c",
            "%A %n", *sample, *(links[x] for x in sample), timeout=120)
    assert p.returncode == 0, p.stderr
    seen = {line.split()[1]: line.split()[0][1:] for line in p.stdout.splitlines()}
    assert seen == {x: modes[x] for x in sample + [links[x] for x in sample]}
    assert seen["/usr/bin/perl5.36.0"] == "rwxr-xr-x"
