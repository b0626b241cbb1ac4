"""`ocix sbom` against images pushed to the lab's registry.

The lab has no Debian image, so one is built here: a layer carrying a snapshot of this host's
/var/lib/dpkg/status.  The expected package list is `dpkg-query -W` over the same snapshot; the
busybox applet count comes from Python's tarfile over the layer blob, the version from the
binary's own banner.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ocix.lab.images import recipes
from ocix.lab.images.build import BuiltImage, ImageSpec, PlatformImage, build_image
from ocix.lab.images.entries import Data, File, Symlink, Whiteout
from ocix.lab.images.layers import LayerSpec
from ocix.lab.state import LabState
from ocix.oci.descriptor import Platform
from ocix.registry.push import push
from tests.helpers import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240),
              pytest.mark.skipif(not shutil.which("dpkg-query"), reason="needs dpkg-query")]

APK_DB = (b"C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n"
          b"C:Q1def=\nP:busybox\nV:1.36.1-r5\nA:x86_64\no:busybox\n\n")
STANZA = b"Package: base-files\nVersion: 12.4\nArchitecture: amd64\nStatus: install ok installed\n"


def _push(lab: LabState, layout: Path, repo: str, *layers: LayerSpec) -> BuiltImage:
    arch = recipes.busybox().images[0].platform.architecture
    image = build_image(layout, ImageSpec(repo, "latest", (PlatformImage(Platform("linux", arch), layers),)))
    push(lab.registry, image, insecure=True)
    return image


@pytest.fixture(scope="module")
def status(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[tuple[str, str]]]:
    admin = tmp_path_factory.mktemp("dpkgadmin")
    data = Path("/var/lib/dpkg/status").read_bytes()  # a snapshot: apt may change it meanwhile
    (admin / "status").write_bytes(data)
    out = subprocess.run(["dpkg-query", f"--admindir={admin}", "-W", "-f", "${Package}\t${Version}\n"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return data, sorted(tuple(line.split("\t")) for line in out.splitlines())  # type: ignore[misc]


def test_dpkg_packages_equal_dpkg_query(lab: LabState, tmp_path: Path,
                                        status: tuple[bytes, list[tuple[str, str]]]) -> None:
    data, expected = status
    _push(lab, tmp_path, "ocix-tests/debianish",
          LayerSpec((File("var/lib/dpkg/status", Data(b"Package: stale\nStatus: install ok installed\n")),)),
          LayerSpec((File("var/lib/dpkg/status", Data(data)),)))
    r = run_cli(["sbom", f"{lab.registry}/ocix-tests/debianish:latest", "--json"])
    assert r.exit_code == 0, r.stderr
    bom = json.loads(r.stdout)
    assert bom["bomFormat"] == "CycloneDX"
    got = sorted((c["name"], c["version"]) for c in bom["components"])
    assert got == expected
    assert len(got) > 100


def test_a_whiteout_hides_the_database_and_apk_is_read(lab: LabState, tmp_path: Path,
                                                       status: tuple[bytes, list[tuple[str, str]]]) -> None:
    _push(lab, tmp_path, "ocix-tests/whiteout",
          LayerSpec((File("var/lib/dpkg/status", Data(status[0])),)),
          LayerSpec((Whiteout("var/lib/dpkg"), File("lib/apk/db/installed", Data(APK_DB)))))
    r = run_cli(["sbom", f"{lab.registry}/ocix-tests/whiteout:latest", "--json"])
    assert r.exit_code == 0, r.stderr
    comps = json.loads(r.stdout)["components"]
    assert sorted((c["name"], c["version"], c["purl"]) for c in comps) == [
        ("busybox", "1.36.1-r5", "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64"),
        ("musl", "1.2.4-r2", "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64")]


def test_busybox_is_one_package_with_its_applets_and_attach(lab: LabState, tmp_path: Path) -> None:
    ref = f"{lab.registry}/library/busybox:latest"
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
        capture_output=True, text=True, check=True, timeout=60).stdout)
    [layer] = manifest["layers"]
    blob = Path(lab.dir) / "layout" / "blobs" / "sha256" / layer["digest"][7:]
    with tarfile.open(blob) as tar:
        applets = sum(1 for m in tar if (m.issym() or m.islnk()) and m.linkname.endswith("busybox"))
    banner = subprocess.run(["busybox"], capture_output=True, text=True, check=False).stdout
    version = re.search(r"BusyBox v(\S+)", banner).group(1)  # type: ignore[union-attr]
    r = run_cli(["sbom", ref, "--json"])
    assert r.exit_code == 0, r.stderr
    [comp] = json.loads(r.stdout)["components"]
    assert (comp["name"], comp["version"]) == ("busybox", version)
    assert comp["properties"] == [{"name": "ocix:applets", "value": str(applets)}]

    r = run_cli(["sbom", ref, "--attach"])
    assert r.exit_code == 0, r.stderr
    attached = re.search(r"Attached\s+(sha256:[0-9a-f]{64}) \(via the tag schema\)", r.stdout)
    assert attached, r.stdout
    r = run_cli(["referrers", ref, "--artifact-type", "application/vnd.cyclonedx+json", "--json"])
    nodes = {n["digest"]: n for n in json.loads(r.stdout)["referrers"]}
    node = nodes[attached.group(1)]
    assert node["kind"] == "CycloneDX SBOM" and node["valid"]
    r = run_cli(["artifact", "pull", f"{lab.registry}/library/busybox@{attached.group(1)}", "-o",
                 str(tmp_path / "sbom")])
    assert r.exit_code == 0, r.stderr
    pulled = json.loads((tmp_path / "sbom" / "sbom.cdx.json").read_text())
    assert [(c["name"], c["version"]) for c in pulled["components"]] == [("busybox", version)]


def test_merged_usr_links_and_status_d_are_read_inside_the_image_root(lab: LabState, tmp_path: Path) -> None:
    # /lib -> usr/lib as on merged-/usr images: the database is written under usr/lib only.
    _push(lab, tmp_path, "ocix-tests/mergedusr",
          LayerSpec((Symlink("lib", "usr/lib"), File("usr/lib/apk/db/installed", Data(APK_DB)))),
          LayerSpec((File("var/lib/dpkg/status.d/base", Data(STANZA)),
                     File("var/lib/dpkg/status.d/base.md5sums", Data(b"0123abcd  etc/issue\n")))))
    ref = f"{lab.registry}/ocix-tests/mergedusr:latest"
    r = run_cli(["sbom", ref, "--json"])
    assert r.exit_code == 0, r.stderr
    assert sorted((c["name"], c["version"], c["purl"]) for c in json.loads(r.stdout)["components"]) == [
        ("base-files", "12.4", "pkg:deb/debian/base-files@12.4?arch=amd64"),
        ("busybox", "1.36.1-r5", "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64"),
        ("musl", "1.2.4-r2", "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64")]
    r = run_cli(["sbom", ref])
    assert r.exit_code == 0, r.stderr
    assert re.search(r"^Read\s+/lib/apk/db/installed, /var/lib/dpkg/status\.d/$", r.stdout, re.M), r.stdout


def test_a_hostile_entry_at_the_database_path_is_refused(lab: LabState, tmp_path: Path,
                                                         status: tuple[bytes, list[tuple[str, str]]]) -> None:
    _push(lab, tmp_path, "ocix-tests/hostile",
          LayerSpec((File("etc/shadow", Data(status[0])),)),
          LayerSpec((Symlink("var/lib/dpkg/status", "../../../../etc/shadow"),)))
    r = run_cli(["sbom", f"{lab.registry}/ocix-tests/hostile:latest", "--json"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr.splitlines()[0] == (
        f"Error: refusing /var/lib/dpkg/status in {lab.registry}/ocix-tests/hostile:latest: layer 2 has it "
        "as a hostile symlink 'var/lib/dpkg/status': symlink leaves the root (-> ../../../../etc/shadow)")
