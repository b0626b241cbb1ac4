"""The report a person opens for the lab's real `app` image with a compare run: in Chromium,
it must say which path drops which capability and which layer wastes the most bytes, and
keep its ~10,000 files in a page under 5 MB, collapsed rather than dropped.  The expected
values come from capsh (each path's CapEff) and from `tar -tv` of the layer blobs that
`ctr content get` hands out.  Screenshots go under build/report-shots/."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ocix.lab import lab as labmod
from ocix.lab.state import LabState
from tests.helpers import ctr, run_cli
from tests.integration.browser import SHOTS, chromium, only_local, open_page, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

COMMAND = "grep CapEff /proc/self/status"
WH, OPQ = ".wh.", ".wh..wh..opq"


@dataclass(frozen=True)
class TarEntry:
    path: str
    kind: str  # tar -tv's first letter: - d l h c b p
    size: int


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _text(driver: Any, css: str) -> str:
    return str(driver.execute_script(
        "return document.querySelector(arguments[0]).textContent", css))


def _exact(n: int) -> str:
    """The page's figure: short and exact (report/waste.py's format, written out again)."""
    if n < 1024:
        return f"{n:,} B"
    short, units = n / 1024, ["KiB", "MiB", "GiB"]
    while short >= 1024 and len(units) > 1:
        short, units = short / 1024, units[1:]
    return f"{short:.1f} {units[0]} ({n:,} B)"


def _capsh(mask: str) -> set[str]:
    out = subprocess.run(["capsh", f"--decode={mask}"], capture_output=True, text=True,
                         check=True).stdout
    return {c.strip().upper().removeprefix("CAP_") for c in out.split("=", 1)[1].split(",")}


def _listing(blob: Path) -> list[TarEntry]:
    """`tar -tv` of one layer blob (GNU tar finds the compression itself)."""
    out = subprocess.run(["tar", "-tvf", str(blob), "--numeric-owner"], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    entries = []
    for line in out.splitlines():
        perms, _owner, size, _day, _time, name = line.split(None, 5)
        if perms[0] == "l":
            name = name.rsplit(" -> ", 1)[0]
        elif perms[0] == "h":
            name = name.rsplit(" link to ", 1)[0]
        path = name.removeprefix("./").strip("/")
        if path and path != ".":
            entries.append(TarEntry(path, perms[0], int(size) if size.isdigit() else 0))
    return entries


def _under(path: str, top: str) -> bool:
    return path.startswith(top + "/")


def _hidden(layers: list[list[TarEntry]], i: int) -> list[tuple[TarEntry, str, int]]:
    """Layer i's entries that a later layer overwrites, whites out (the path or a directory
    above it) or hides under an opaque directory: (entry, how, the first layer that does)."""
    mine = {e.path: e for e in layers[i] if not posixpath.basename(e.path).startswith(WH)}
    out = []
    for path, e in mine.items():
        ancestors = [path]
        while "/" in ancestors[-1]:
            ancestors.append(posixpath.dirname(ancestors[-1]))
        for j, upper in enumerate(layers[i + 1:], i + 2):
            names = {u.path for u in upper}
            if path in names:
                out.append((e, "overwritten", j))
            elif any(posixpath.join(posixpath.dirname(a), WH + posixpath.basename(a)) in names
                     for a in ancestors):
                out.append((e, "deleted", j))
            elif any(posixpath.join(a, OPQ) in names for a in ancestors[1:]):
                out.append((e, "opaque", j))
            else:
                continue
            break
    return out


def _final(layers: list[list[TarEntry]]) -> dict[str, TarEntry]:
    """The final filesystem: each layer applied over the ones below."""
    state: dict[str, TarEntry] = {}
    for entries in layers:
        for e in entries:
            base, parent = posixpath.basename(e.path), posixpath.dirname(e.path)
            if base.startswith(WH):
                top = parent if base == OPQ else posixpath.join(parent, base.removeprefix(WH))
                for p in [p for p in state if _under(p, top) or (base != OPQ and p == top)]:
                    del state[p]
        for e in entries:
            if not posixpath.basename(e.path).startswith(WH):
                state[e.path] = e
    return state


def _image(lab: LabState) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """containerd's name for app in the default namespace, its manifest and its config."""
    p = ctr(lab, "default", "images", "ls")
    assert p.returncode == 0, p.stderr
    name, digest = next((f[0], f[2]) for f in (x.split() for x in p.stdout.splitlines()[1:])
                        if f and f[0].endswith("/library/app:latest"))
    doc = json.loads(ctr(lab, "default", "content", "get", digest).stdout)
    if "manifests" in doc:  # an index: the one manifest the lab builds
        doc = json.loads(ctr(lab, "default", "content", "get",
                             doc["manifests"][0]["digest"]).stdout)
    config = json.loads(ctr(lab, "default", "content", "get", doc["config"]["digest"]).stdout)
    return name, doc, config


def _blobs(lab: LabState, manifest: dict[str, Any], into: Path) -> list[Path]:
    out = []
    for layer in manifest["layers"]:
        blob = into / layer["digest"].replace(":", "-")
        with open(blob, "wb") as f:
            subprocess.run(["ctr", "-a", lab.containerd_socket, "-n", "default", "content",
                            "get", layer["digest"]], stdout=f, check=True, timeout=300)
        out.append(blob)
    return out


def test_the_app_report_says_who_drops_net_raw_and_which_layer_wastes_most(
        debian_lab: LabState, docker_lab: LabState, podman_lab: LabState, tmp_path: Path,
        browser: Any) -> None:
    env = {**os.environ, **labmod.env(podman_lab.dir), "CONTAINERD_NAMESPACE": "default"}
    page = tmp_path / "app.html"
    r = run_cli(["report", "app", "--compare", COMMAND, "-o", str(page)], env=env)
    assert r.exit_code == 0, r.stderr
    size = page.stat().st_size
    loaded = open_page(browser, page)
    shutil.copyfile(page, screenshot(browser, "report-app", max_height=16000).with_suffix(".html"))
    assert loaded.errors == []
    assert only_local(loaded.requests) == []
    assert loaded.scroll_width <= loaded.client_width, "the page scrolls sideways at 1280 px"
    assert size < 5 << 20
    d = loaded.driver
    SHOTS.mkdir(parents=True, exist_ok=True)
    for css, shot in (("#compare", "report-app-compare"), ("#waste-image-1", "report-app-waste")):
        el = d.find_element("css selector", css)
        d.execute_script("arguments[0].scrollIntoView()", el)
        el.screenshot(str(SHOTS / f"{shot}.png"))

    # Capabilities: what each path's init holds, decoded from its own CapEff line by capsh.
    held = {}
    ran = d.execute_script("return [...document.querySelectorAll('#caps tr:first-child th')]"
                           ".slice(1).map(th => th.textContent)")
    assert {"docker", "podman"} <= set(ran)
    for path in ran:
        out = d.execute_script(
            "const td = document.querySelector(`#row-stdout td[data-path='${arguments[0]}']`);"
            "return (td.querySelector('summary') || td).textContent", path)
        assert out.startswith("CapEff:"), out
        held[path] = _capsh(out.split()[-1])
    assert "NET_RAW" in held["docker"] and "NET_RAW" not in held["podman"]
    for cap in sorted(held["docker"] | held["podman"]):
        for path in ("docker", "podman"):
            assert _text(d, f"#cap-{path}-{cap}") == (cap if cap in held[path] else "—")
    assert "odd" in d.find_element("css selector", "#cap-podman-NET_RAW").get_attribute("class")
    lacks = sorted(held["docker"] - held["podman"])
    assert f"podman lacks {', '.join('CAP_' + c for c in lacks)} (against docker)" in \
        _text(d, "#cap-summary")
    # Said in words, at the top of the compare section, of the grid, and of the page.
    holders = [p for p in ran if set(lacks) <= held[p]]
    said = (f"podman drops {', '.join('CAP_' + c for c in lacks)}, which "
            f"{', '.join(holders[:-1])} and {holders[-1]} hold.")
    drops = d.execute_script(
        "return [...document.querySelectorAll('#cap-drops li')].map(li => li.textContent)")
    assert said in drops
    assert said in _text(d, "#cap-grid-summary")
    glance = d.execute_script(
        "return [...document.querySelectorAll('#glance li')].map(li => li.textContent)")
    assert f"{said} capability grid" in glance

    # Waste: the layer whose bytes later layers hide the most, from tar -tv of each blob.
    name, manifest, config = _image(debian_lab)
    layers = [_listing(b) for b in _blobs(debian_lab, manifest, tmp_path)]
    made_by = [h.get("created_by", "") for h in config["history"] if not h.get("empty_layer")]
    assert len(made_by) == len(layers) == 7
    lost = [_hidden(layers, i) for i in range(len(layers))]
    hidden = [sum(e.size for e, _, _ in x) for x in lost]
    worst = hidden.index(max(hidden)) + 1
    assert "apt-get update" in made_by[worst - 1]  # the lists and caches the next RUN removes
    most = _text(d, "#waste-most-image-1")
    assert most.startswith(f"Layer {worst} ({made_by[worst - 1][:117]}")
    assert f"stores the most hidden bytes: {_exact(hidden[worst - 1])}, hidden by layer " \
        f"{worst + 1}." in most
    big, how, by = max(lost[worst - 1], key=lambda x: x[0].size)
    assert _text(d, "#waste-most-paths-image-1").startswith(
        f"Its biggest hidden copies: /{big.path} ({_exact(big.size)}, {how} by layer {by});")
    line = " ".join(made_by[worst - 1].split())
    assert f"{name}: layer {worst} ({line[:69]}…) wastes the most, {_exact(hidden[worst - 1])} " \
        "that later layers hide. waste ledger" in glance
    rows = d.execute_script(
        "return [...document.querySelectorAll('#waste-layers-image-1 tr[id]')]"
        ".map(tr => tr.cells[3].textContent)")
    assert rows == [_exact(n) for n in hidden]
    bars = d.execute_script(
        "return [...document.querySelectorAll('#waste-image-1 svg.waste-chart rect')]"
        ".map(r => [r.parentElement.id, +r.getAttribute('width')])")
    assert max(bars, key=lambda b: b[1])[0] == f"waste-bar-image-1-{worst}"

    # The file tree: every entry counted, big directories summed up instead of listed.
    final = _final(layers)
    assert len(final) > 9000
    counts = dict(part.split() for part in _text(d, "#tree-counts-image-1").split(" · "))
    assert sum(int(n) for m, n in counts.items() if m != "D") == len(final)
    listed, more, shown = d.execute_script(
        "const lis = [...document.querySelectorAll('#tree-image-1 li')];"
        "return [lis.filter(li => ['A', 'C', 'O'].some(m => li.classList.contains(m))).length,"
        "  lis.filter(li => li.classList.contains('more')).map(li => li.textContent),"
        "  lis.filter(li => { for (let e = li.parentElement; e; e = e.parentElement)"
        "    if (e.tagName === 'DETAILS' && !e.open) return false; return true; }).length]")
    summed = sum(int(n) for text in more for m, n in
                 (part.split() for part in text.split("(", 1)[1].split(")")[0].split(" · "))
                 if m != "D")
    assert more and listed + summed == len(final)  # each entry listed or summed up, none lost
    assert shown < 200  # on opening, the big directories are closed: nothing to scroll past
    children: dict[str, int] = {}
    for p in final:
        children[posixpath.dirname(p)] = children.get(posixpath.dirname(p), 0) + 1
    crowded, n = max(children.items(), key=lambda kv: kv[1])
    assert n > 200
    row = d.execute_script(
        "let ul = document.querySelector('#tree-image-1 > ul');"
        "for (const part of arguments[0]) {"
        "  const li = [...ul.children].find(li => li.querySelector(':scope > details > summary"
        "    > .name')?.textContent === part + '/');"
        "  ul = li.querySelector(':scope > details > ul'); }"
        "return ul.querySelector(':scope > li.more').textContent", crowded.split("/"))
    assert f"… {n - 200} more entries (" in row
    print(f"app report: {size} bytes, {len(final)} files, {shown} rows shown, load "
          f"{loaded.seconds:.2f} s; hidden per layer {hidden}; {name}")
