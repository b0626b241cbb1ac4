"""`ocix explain --html` and `ocix tour --record` in headless Chromium with the network cut
off: each page loads clean, links to pages that exist, and holds what the host and the run
showed.  Screenshots go under build/report-shots/."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocix.teach.explain import topic_names
from tests.helpers import run_cli
from tests.integration.browser import Loaded, chromium, only_local, open_page, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _clean(loaded: Loaded, name: str) -> None:
    shutil.copyfile(loaded.path, screenshot(loaded.driver, name).with_suffix(".html"))
    assert loaded.errors == []
    assert only_local(loaded.requests) == []
    assert loaded.scroll_width <= loaded.client_width, "the page scrolls sideways at 1280 px"


def test_explain_html_writes_every_topic_with_live_marks(lab_env: dict[str, str], tmp_path: Path,
                                                         browser: Any) -> None:
    out = tmp_path / "handbook"
    r = run_cli(["explain", "--html", str(out)], env=lab_env)
    assert r.exit_code == 0, r.stderr
    names = topic_names()
    assert r.stdout == f"wrote {len(names) + 1} pages into {out} (start at {out}/index.html)\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(["index.html",
                                                            *(f"{n}.html" for n in names)])
    loaded = open_page(browser, out / "runc.html")
    _clean(loaded, "explain-runc")
    d = loaded.driver
    marks = d.execute_script(
        "return [...document.querySelectorAll('#marks tr')].slice(1)"
        ".map(tr => [...tr.cells].map(c => c.textContent))")
    by_part = {m[0]: m for m in marks}
    runc = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=True)
    assert by_part["runc"][1] == "present"
    assert by_part["runc"][2] in runc.stdout.splitlines()[0]
    hrefs = d.execute_script("return [...document.links].map(a => a.getAttribute('href'))")
    assert {h.removesuffix(".html") for h in hrefs} == {*names, "index"}
    assert d.execute_script("return document.querySelectorAll('svg.diagram text').length") > 0
    index = open_page(browser, out / "index.html")
    _clean(index, "explain-index")
    assert len(index.driver.execute_script("return [...document.querySelectorAll('#topics a')]")) \
        == len(names)


def test_tour_record_writes_the_run_as_pages(lab_env: dict[str, str], tmp_path: Path,
                                             browser: Any) -> None:
    out = tmp_path / "transcript"
    r = run_cli(["tour", "--step", "21", "--step", "23", "--record", str(out)], env=lab_env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"tour: wrote 3 pages into {out}" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "step-21.html",
                                                     "step-23.html"]
    loaded = open_page(browser, out / "step-23.html")
    _clean(loaded, "tour-step-23")
    d = loaded.driver
    text = d.execute_script("return document.querySelector('pre.output').textContent")
    assert "hello from containerd" in text  # what the step's command echoes
    assert d.execute_script("return document.querySelector('pre.command').textContent") == \
        "ocix run --rm --name ocix-tour-testctr busybox sh -c 'echo hello from containerd'"
    index = open_page(browser, out / "index.html")
    _clean(index, "tour-index")
    rows = index.driver.execute_script(
        "return [...document.querySelectorAll('#steps tr')].slice(1)"
        ".map(tr => [...tr.cells].map(c => c.textContent))")
    assert [row[0] for row in rows] == ["21", "23"] and all(row[2] == "ok" for row in rows)
    assert re.search(r"2 of 2 steps ok \(the tour has \d+\)",
                     index.driver.execute_script("return document.body.textContent"))
