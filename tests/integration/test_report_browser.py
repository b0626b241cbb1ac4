"""`ocix report`, `compare --html` and `layers --html` opened in headless Chromium with the
network cut off: no console error, no request but file: and data:, no sideways scroll at
1280 px, and the named elements hold what an independent source says (the recipe, ctr,
capsh).  A hostile image shows its names as text and runs nothing.  Screenshots go under
build/report-shots/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocix.lab import lab as labmod
from ocix.lab.images import recipes
from ocix.lab.images.build import ImageConfig, ImageSpec, LayerSpec, PlatformImage, build_image
from ocix.lab.images.entries import Data, Entry, File, Whiteout
from ocix.lab.state import LabState
from ocix.oci.platform import host as host_platform
from ocix.registry.push import push
from tests.helpers import ctr, run_cli
from tests.integration.browser import SHOTS, Loaded, chromium, only_local, open_page, screenshot
from tests.integration.test_layers_waste import BASE, DROP, EDIT, HIDDEN, OTHER

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Each would run if a page let it: the test looks for window.pwned afterwards.
HOSTILE = ['<script>window.pwned=1</script>', '"onload="window.pwned=2',
           '</svg><img src=x onerror="window.pwned=3">']
MANY_DIRS, MANY_FILES, BIG_DIR = 50, 100, 700  # 5,000 files in 50 dirs, plus one of 700


def _spec(repo: str, layers: tuple[LayerSpec, ...], labels: dict[str, str] | None = None
          ) -> ImageSpec:
    return ImageSpec(repo, "latest", (PlatformImage(
        host_platform(), (recipes.busybox_layer(), *layers),
        ImageConfig(cmd=("sh",), labels=labels or {})),))


def hostile_spec() -> ImageSpec:
    files = tuple(File(f"data/{name}", Data(b"x\n")) for name in HOSTILE)
    return _spec("library/hostile", (LayerSpec(files, created_by=" ".join(HOSTILE)),),
                 {HOSTILE[0]: HOSTILE[1], "note": HOSTILE[2]})


def many_spec() -> ImageSpec:
    """A smaller stand-in for the lab's `large` (same 5,000 small files, no 200 MiB blob)."""
    small = [File(f"data/small/d{d:02d}/f{i:03d}.txt", Data(f"{d} {i}\n".encode()))
             for d in range(MANY_DIRS) for i in range(MANY_FILES)]
    small += [File(f"data/big/f{i:04d}", Data(b"b\n")) for i in range(BIG_DIR)]
    gone: list[Entry] = [Whiteout(f"data/small/d{d:02d}") for d in range(5)]
    gone += [File(f"data/small/d{d:02d}/f001.txt", Data(b"changed\n")) for d in range(5, 10)]
    return _spec("library/manyfiles", (LayerSpec(tuple(small), created_by="many files"),
                                       LayerSpec(tuple(gone), created_by="delete 5 dirs")))


@pytest.fixture(scope="module")
def pushed(lab: LabState, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    layout = tmp_path_factory.mktemp("report-layout")
    out = {}
    for spec in (hostile_spec(), many_spec(), *waste_specs()):
        push(lab.registry, build_image(layout, spec), insecure=True)
        out[spec.repo.split("/")[-1]] = f"{lab.registry}/{spec.ref}"
    return out


def waste_specs() -> tuple[ImageSpec, ImageSpec]:
    """test_layers_waste.py's images: known overwrites and deletions, a base both share."""
    return (ImageSpec("report/waste-app", "1", (PlatformImage(host_platform(),
                                                              (BASE, EDIT, DROP)),)),
            ImageSpec("report/waste-sibling", "1", (PlatformImage(host_platform(),
                                                                  (BASE, OTHER)),)))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _pull(ref: str, env: dict[str, str]) -> None:
    r = run_cli(["pull", "--quiet", ref], env=env)
    assert r.exit_code == 0, r.stderr


def _clean(loaded: Loaded, name: str) -> None:
    """What every page must satisfy, with its screenshot taken first (the page beside it)."""
    shutil.copyfile(loaded.path, screenshot(loaded.driver, name).with_suffix(".html"))
    assert loaded.errors == []
    assert only_local(loaded.requests) == []
    assert loaded.requests and loaded.requests[0].startswith("file:")
    assert loaded.scroll_width <= loaded.client_width, "the page scrolls sideways at 1280 px"


def _text(driver: Any, css: str) -> str:
    return str(driver.execute_script(
        "return document.querySelector(arguments[0]).textContent", css))


def test_hostile_names_show_as_text_and_nothing_runs(pushed: dict[str, str], ns_env: dict[str, str],
                                                     tmp_path: Path, browser: Any) -> None:
    ref = pushed["hostile"]
    _pull(ref, ns_env)
    page = tmp_path / "hostile.html"
    r = run_cli(["report", ref, "-o", str(page)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith(f"wrote {page} (")
    loaded = open_page(browser, page)
    _clean(loaded, "hostile")
    d = loaded.driver
    assert d.execute_script("return window.pwned === undefined")
    assert d.execute_script("return document.scripts.length") == 1
    assert d.execute_script("return document.images.length") == 0
    assert d.execute_script(
        "return [...document.querySelectorAll('*')].filter(e => [...e.attributes]"
        ".some(a => a.name.startsWith('on'))).length") == 0
    assert _text(d, "#layer-2 .created-by") == " ".join(HOSTILE)
    drawn = _text(d, "svg.anatomy")  # created_by also titles its layer's box in the SVG
    assert "layer 2 · " + " ".join(HOSTILE)[:33] + "…" in drawn
    labels = _text(d, "table.labels")
    assert all(h in labels for h in HOSTILE)
    tree = _text(d, "#tree-image-1")  # a '/' in a name makes a directory: look for the parts
    for h in HOSTILE:
        assert all(part in tree for part in h.split("/") if part)


def _exact(n: int) -> str:
    return f"{n:,} B" if n < 1024 else f"{n / 1024:.1f} KiB ({n:,} B)"


def test_the_waste_section_names_the_layer_that_wastes_the_most(
        pushed: dict[str, str], ns_env: dict[str, str], tmp_path: Path, browser: Any) -> None:
    app, sibling = pushed["waste-app"], pushed["waste-sibling"]
    for ref in (app, sibling):  # the sibling shares the base: its hidden bytes are paid once
        _pull(ref, ns_env)
    # From the recipe's ledger (test_layers_waste.HIDDEN): the bytes each layer wrote that a
    # later one hides, and which layers hid them.
    per_layer = [sum(h[4] for h in HIDDEN if h[1] == n) for n in (1, 2, 3)]
    worst = per_layer.index(max(per_layer)) + 1
    hiders = sorted({h[2] for h in HIDDEN if h[1] == worst})
    lines = [BASE.created_by, EDIT.created_by, DROP.created_by]
    page = tmp_path / "waste.html"
    r = run_cli(["layers", app, "--html", str(page)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    loaded = open_page(browser, page)
    _clean(loaded, "waste")
    d = loaded.driver
    section = d.find_element("css selector", "#waste-image-1")
    d.execute_script("arguments[0].scrollIntoView()", section)
    SHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(str(SHOTS / "waste-section.png"))
    assert worst == 1 and hiders == [2]
    assert _text(d, "#waste-most-image-1") == (
        f"Layer {worst} ({lines[worst - 1]}) stores the most hidden bytes: "
        f"{_exact(per_layer[worst - 1])}, hidden by layer 2. The layer is shared with 1 other "
        "image here: the node pays for these bytes once.")
    # Shared (paid once by the node) and unshared hidden bytes are drawn in their own colours.
    assert d.find_element("css selector", "#waste-most-image-1 .bytes").get_attribute(
        "class") == "bytes hidden-shared-text"
    kinds = d.execute_script(
        "return [1, 2, 3].map(n => [...document.querySelectorAll("
        "`#waste-bar-image-1-${n} rect`)].map(r => r.getAttribute('class')).join())")
    assert kinds == ["hidden-shared", "hidden-unshared", ""]
    assert _text(d, "#waste-unshared-image-1") == _exact(per_layer[1])
    rows = d.execute_script(
        "return [...document.querySelectorAll('#waste-layers-image-1 tr[id]')]"
        ".map(tr => [...tr.cells].map(c => c.textContent))")
    assert [row[3] for row in rows] == [_exact(n) for n in per_layer]
    assert rows[0][5] == f"yes: {sibling}" and rows[1][5] == "no"
    copies = d.execute_script(
        "return [...document.querySelectorAll('#waste-copies-image-1 tr')].slice(1)"
        ".map(tr => [...tr.cells].map(c => c.textContent))")
    assert [(c[2].removesuffix("/…"), c[3], c[4].split()[1], c[5].split()[1]) for c in copies] == [
        (p, how, str(a), str(b)) for p, a, b, how, *_ in HIDDEN]
    dive = _text(d, "#waste-dive-image-1")
    assert f"ocix hidden bytes{_exact(sum(per_layer))}" in dive
    assert _text(d, ".why-differ").startswith("Why they differ: dive's wastedBytes adds every")


def _snapshot_chain(lab: LabState, namespace: str, top: str) -> list[str]:
    """ctr's own KEY → PARENT walk from `top` down to the base."""
    p = ctr(lab, namespace, "snapshots", "ls")
    assert p.returncode == 0, p.stderr
    parents = {f[0]: (f[1] if len(f) == 3 else "") for f in
               (line.split() for line in p.stdout.splitlines()[1:]) if f}
    chain = [top]
    while parents.get(chain[-1]):
        chain.append(parents[chain[-1]])
    return chain[::-1]


def test_layers_page_counts_layers_and_the_report_draws_the_snapshot_chain(
        lab: LabState, ns_env: dict[str, str], namespace: str, tmp_path: Path,
        browser: Any) -> None:
    ref = f"{lab.registry}/library/layers:latest"
    _pull(ref, ns_env)
    recipe = recipes.layers().images[0].layers
    page = tmp_path / "layers.html"
    r = run_cli(["layers", ref, "--html", str(page)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    loaded = open_page(browser, page)
    _clean(loaded, "layers")
    d = loaded.driver
    assert _text(d, "#layer-count") == str(len(recipe))
    assert [_text(d, f"#layer-{n} .created-by") for n in range(1, len(recipe) + 1)] == \
        [x.created_by for x in recipe]
    assert d.execute_script("return document.querySelectorAll('#store').length") == 0

    made = ctr(lab, namespace, "containers", "create", ref, "report-ctr")  # on the top layer
    assert made.returncode == 0, made.stderr
    page = tmp_path / "report.html"
    r = run_cli(["report", ref, "-o", str(page)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    loaded = open_page(browser, page)
    _clean(loaded, "report-layers")
    keys = loaded.driver.execute_script(
        "return [...document.querySelectorAll('#snapshots li')].map(li => li.dataset.key)")
    p = ctr(lab, namespace, "snapshots", "ls")
    tops = [f[0] for f in (x.split() for x in p.stdout.splitlines()[1:])
            if f and not any(len(g) == 3 and g[1] == f[0]
                             for g in (y.split() for y in p.stdout.splitlines()[1:]))]
    assert tops == ["report-ctr"]  # ctr names a container's snapshot after the container
    chain = _snapshot_chain(lab, namespace, tops[0])
    assert len(chain) == len(recipe) + 1
    assert keys == chain  # one chain: each snapshot nested in its parent, base first
    tags = loaded.driver.execute_script(
        "return [...document.querySelectorAll(`#snapshots li[data-key='report-ctr'] > .tag`)]"
        ".map(t => t.textContent)")
    assert tags == ["active", "container report-ctr"]
    chain = chain[:-1]
    depth = loaded.driver.execute_script(
        "const li = document.querySelector(`#snapshots li[data-key='${arguments[0]}']`);"
        "let n = 0; for (let e = li; e; e = e.parentElement.closest('li')) n++; return n;",
        chain[-1])
    assert depth == len(recipe)
    # `why` draws the base layer's blob: kept by the image record through its manifest.
    base = json.loads(ctr(lab, namespace, "content", "get", _manifest_digest(lab, namespace, ref)
                          ).stdout)["layers"][0]["digest"]
    why = _text(loaded.driver, "svg.why")
    assert "image · image record" in why and "layer" in why
    assert base[:23] in why  # "sha256:" and 16 hex digits
    assert _text(loaded.driver, ".why-verdict").startswith(f"layer {base} is kept by 1 root(s): "
                                                           f"image {ref}")


def _cell(driver: Any, row: str, path: str) -> str:
    """A matrix cell's value: an odd cell keeps it in its <summary>, its why below."""
    return str(driver.execute_script(
        "const td = document.querySelector(`#row-${arguments[0]} td[data-path='${arguments[1]}']`);"
        "return (td.querySelector('summary') || td).textContent", row, path))


def _manifest_digest(lab: LabState, namespace: str, ref: str) -> str:
    """The image's target digest as `ctr images ls` prints it (REF TYPE DIGEST ...)."""
    p = ctr(lab, namespace, "images", "ls")
    assert p.returncode == 0, p.stderr
    return next(f[2] for f in (x.split() for x in p.stdout.splitlines()[1:]) if f and f[0] == ref)


def _capsh(mask: str) -> set[str]:
    out = subprocess.run(["capsh", f"--decode={mask}"], capture_output=True, text=True,
                         check=True).stdout
    return {c.strip().upper().removeprefix("CAP_") for c in out.split("=", 1)[1].split(",")}


def test_report_with_compare_shows_which_path_drops_net_raw(
        docker_lab: LabState, podman_lab: LabState, tmp_path: Path, browser: Any) -> None:
    env = {**os.environ, **labmod.env(podman_lab.dir), "CONTAINERD_NAMESPACE": "default"}
    page = tmp_path / "compare.html"
    r = run_cli(["report", "busybox", "--compare", "grep CapEff /proc/self/status",
                 "-o", str(page)], env=env)
    assert r.exit_code == 0, r.stderr
    loaded = open_page(browser, page)
    _clean(loaded, "report-compare")
    d = loaded.driver
    seen = {}
    for path in ("docker", "podman"):
        out = _cell(d, "stdout", path)
        seen[path] = _capsh(out.split()[-1])
    assert "NET_RAW" in seen["docker"] and "NET_RAW" not in seen["podman"]
    assert _text(d, "#cap-docker-NET_RAW") == "NET_RAW"
    assert _text(d, "#cap-podman-NET_RAW") == "—"
    assert "odd" in d.find_element("css selector", "#cap-podman-NET_RAW").get_attribute("class")
    why = d.find_element("css selector", "#row-capabilities td.odd[data-path='podman'] details")
    assert "NET_RAW" in why.get_attribute("textContent")
    parent = _cell(d, "parent", "podman")
    assert parent.startswith("conmon (pid ")
    pid = parent.removeprefix("conmon (pid ").rstrip(")")
    assert f"init's parent · pid {pid}" in _text(d, "#chain-4")  # podman → conmon


def test_many_files_page_stays_small_and_fast(pushed: dict[str, str], ns_env: dict[str, str],
                                              tmp_path: Path, browser: Any) -> None:
    ref = pushed["manyfiles"]
    _pull(ref, ns_env)
    page = tmp_path / "many.html"
    r = run_cli(["report", ref, "-o", str(page)], env=ns_env)
    assert r.exit_code == 0, r.stderr
    size = page.stat().st_size
    loaded = open_page(browser, page)
    _clean(loaded, "manyfiles")
    print(f"many files: page {size} bytes, browser load {loaded.seconds:.2f} s")
    assert size < 5 << 20
    # Not a benchmark (bench/report measures report against layers --files): a wide margin.
    assert loaded.seconds < 2.0
    tree = _text(loaded.driver, "#tree-image-1")
    assert "500 more entries (A 500), summed up here" in tree  # 700 in data/big, 200 listed
    assert "f0699" not in tree and "f0199" in tree
    small = loaded.driver.find_element(
        "xpath", "//summary[span[@class='name']='small/']").get_attribute("textContent")
    kept = (MANY_DIRS - 5) * (MANY_FILES + 1)  # the files and their dirs; 5 dirs deleted
    assert small == f"Csmall/ {kept + 5} below · A {kept - 10} · C 10 · D 5 · L3"


def test_compare_html_is_only_the_compare_section(docker_lab: LabState, podman_lab: LabState,
                                                  tmp_path: Path, browser: Any) -> None:
    env = {**os.environ, **labmod.env(podman_lab.dir), "CONTAINERD_NAMESPACE": "default"}
    page = tmp_path / "only-compare.html"
    r = run_cli(["compare", "--path", "docker", "--path", "podman", "--html", str(page),
                 "busybox", "--", "true"], env=env)
    assert r.exit_code == 0, r.stderr
    assert f"wrote {page} (" in r.stderr
    loaded = open_page(browser, page)
    _clean(loaded, "compare-only")
    d = loaded.driver
    assert d.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)") \
        == ["compare"]
    heads = d.execute_script("return [...document.querySelectorAll('#matrix th[id]')]"
                             ".map(th => th.textContent)")
    assert heads == ["docker", "podman"]
    assert _text(d, "#cap-docker-NET_RAW") == "NET_RAW" and _text(d, "#cap-podman-NET_RAW") == "—"


def test_without_containerd_the_report_keeps_the_host_and_drops_the_store(
        tmp_path: Path, browser: Any) -> None:
    page = tmp_path / "nostore.html"
    env = {"CONTAINERD_ADDRESS": str(tmp_path / "no.sock"), "PATH": os.environ["PATH"]}
    r = run_cli(["report", "-o", str(page)], env=env)
    assert r.exit_code == 0, r.stderr
    loaded = open_page(browser, page)
    _clean(loaded, "no-containerd")
    d = loaded.driver
    assert d.execute_script("return [...document.querySelectorAll('section')].map(s => s.id)") \
        == ["host"]
    row = d.execute_script("return [...document.querySelectorAll('#daemons tr')]"
                           ".map(tr => [...tr.cells].map(c => c.textContent))"
                           ".find(r => r[0] === 'containerd')")
    assert row[1] == "absent" and row[4] == str(tmp_path / "no.sock")
