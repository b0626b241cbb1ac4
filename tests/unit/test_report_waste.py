"""The report's waste section drawn from a ledger written out by hand: the figures show as
text, the layer that wastes the most is named, shared bytes are told apart from unshared ones,
and hostile paths and history lines stay text."""

from __future__ import annotations

import dataclasses
import html as htmllib
import re

from ocix.jobs.images.waste import HiddenRow, WasteLayer, WasteReport, WasteTotals
from ocix.oci.fs.divescore import DiveFigures
from ocix.report.page import Section, render
from ocix.report.waste import waste_view
from tests.unit.test_report import HOSTILE, _image

D = "sha256:" + "1" * 64
BAD_PATH = "/etc/" + HOSTILE[0]
BAD_LINE = "RUN " + HOSTILE[2]


def _ledger(shared: list[list[str]] | None = None) -> WasteReport:
    shared = shared if shared is not None else [["other:1"], [], []]
    layers = [WasteLayer(1, D, "base", 900, 4096, 3000, 2500, 500, shared[0]),
              WasteLayer(2, D, BAD_LINE, 300, 2048, 1200, 100, 30, shared[1]),
              WasteLayer(3, D, "rm stuff", 10, 1024, 0, 0, 0, shared[2])]
    hidden = [HiddenRow("/usr/lib", 1, "base", 2, BAD_LINE, "deleted", 2000, 3, True, 400,
                        bool(shared[0])),
              HiddenRow(BAD_PATH, 1, "base", 3, "rm stuff", "deleted", 500, 1, False, 100,
                        bool(shared[0])),
              HiddenRow("/etc/passwd", 2, BAD_LINE, 3, "rm stuff", "overwritten", 100, 1, False,
                        30, bool(shared[1]))]
    totals = WasteTotals(4200, 1600, 2600, 530, 2500, 100, 30)
    dive = DiveFigures(0.625, 2220, 1.9646, 4200, 1200, 4)
    return WasteReport("img", "containerd namespace t", D, "linux/amd64", layers, hidden,
                       totals, dive)


def _page(report: WasteReport) -> str:
    view = dataclasses.replace(_image(["a"]), waste=waste_view(report))
    return render([Section("image-1", "Image anatomy", "image.html.j2", {"image": view})], "t")


def _text(html: str, element_id: str) -> str:
    """The text of the element with this id (its tags stripped, entities decoded)."""
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, element_id
    cells = re.sub(r"</t[dh]>|</text>|</title>", " ", m.group(2))  # a space between cells
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", "", cells)).split())


def test_the_section_names_the_biggest_waster_and_its_exact_figures() -> None:
    html = _page(_ledger())
    assert _text(html, "waste-most-image-1") == (
        "Layer 1 (base) stores the most hidden bytes: 2.4 KiB (2,500 B), hidden by layers 2, 3. "
        "The layer is shared with 1 other image here: the node pays for these bytes once.")
    assert _text(html, "waste-layer-image-1-1") == \
        "1 base 2.9 KiB (3,000 B) 2.4 KiB (2,500 B) ~500 B yes: other:1"
    assert _text(html, "waste-layer-image-1-3") == "3 rm stuff 0 B 0 B ~0 B no"
    assert "2.4 KiB (2,500 B) hidden of 2.9 KiB (3,000 B) (83% of it)" in \
        _text(html, "waste-bar-image-1-1")
    assert "nothing hidden (adds 0 B)" in _text(html, "waste-bar-image-1-3")
    assert '<td class="hidden none-text">0 B</td>' in html  # no colour for nothing hidden
    # Layer 1's hidden bytes are in a shared layer, layer 2's are not: drawn apart.
    assert re.search(r'id="waste-bar-image-1-1".*?<rect class="hidden-shared" x="360" y="\d+" '
                     r'width="360"', html, re.S)
    assert re.search(r'id="waste-bar-image-1-2".*?<rect class="hidden-unshared" x="360" '
                     r'y="\d+" width="14"', html, re.S)  # 100 / 2500 of 360 px
    assert _text(html, "waste-unshared-image-1") == "100 B"
    dive = _text(html, "waste-dive-image-1")
    assert "efficiency 0.6250" in dive and "wastedBytes 2.2 KiB (2,220 B)" in dive
    assert "userWastedPercent 1.9646 (196.46 %)" in dive and "ocix hidden bytes 2.5 KiB (2,600 B)" in dive
    assert "Why they differ: dive's wastedBytes adds every sighting" in htmllib.unescape(html)
    copies = _text(html, "waste-copies-image-1")
    assert copies.index("/usr/lib/…") < copies.index(BAD_PATH) < copies.index("/etc/passwd")
    assert "2,000 B) 3 entries" in copies


def test_hostile_paths_and_history_lines_are_escaped() -> None:
    html = _page(_ledger())
    section = html.split('id="waste-image-1"', 1)[1].split("<h3>The final filesystem", 1)[0]
    assert "<script" not in section and "<img" not in section
    assert "/etc/&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "RUN &lt;/svg&gt;&lt;img src=x onerror=alert(3)&gt;" in section
    assert section.count("<svg") == section.count("</svg>")
    assert " style=" not in html


def test_unknown_sharing_and_no_waste() -> None:
    r = _ledger()
    r = dataclasses.replace(r, layers=[dataclasses.replace(x, shared_with=None)
                                       for x in r.layers])
    html = _page(r)
    assert "whether another image shares the layer is not known" in html
    assert 'class="hidden-unknown"' in html and "waste-unshared-image-1" not in html
    none = dataclasses.replace(r, hidden=[], layers=[dataclasses.replace(
        x, hidden_bytes=0, hidden_compressed=0) for x in r.layers])
    assert _text(_page(none), "waste-most-image-1") == \
        "No copy is hidden: every byte of every layer is in the final filesystem."
