"""What differs, said in words: the sentence per path that drops or adds capabilities, the
rows that differ, the most wasteful layer's biggest copies, and the page's "At a glance"
list gathering them (fake dataclasses, no daemons)."""

from __future__ import annotations

import dataclasses

from ocix.report.collect import compare_section, glance
from ocix.report.matrix import CapRow, Cell, cap_sentences, matrix
from ocix.report.page import Section, render
from ocix.report.waste import waste_view
from tests.unit.test_report import BASE, HOSTILE, _compare, _image, _path
from tests.unit.test_report_waste import BAD_LINE, _ledger, _text

DROPS = "podman drops CAP_AUDIT_WRITE, CAP_MKNOD, CAP_NET_RAW, which docker and containerd hold."


def test_the_odd_path_is_said_in_one_sentence_and_the_differing_rows_are_named() -> None:
    m = matrix(_compare())
    assert m.cap_drops == [DROPS]
    differ = {key: (label, odd) for key, label, odd in m.differ}
    assert differ["capabilities"] == ("CapEff", "podman")
    assert differ["parent"] == ("init's parent", "podman")
    html = render([compare_section(_compare())], "t")
    assert _text(html, "cap-drops") == DROPS
    assert _text(html, "cap-grid-summary") == DROPS
    assert '<a href="#row-parent">init&#39;s parent</a> <span class="meta">(podman)</span>' in html


def test_an_added_capability_and_no_difference() -> None:
    extra = [*BASE, "SYS_ADMIN"]
    paths = [_path("docker", BASE), _path("containerd", BASE), _path("crun", extra)]
    from ocix.jobs.compare.differences import differences
    from ocix.jobs.compare.model import CompareResult

    m = matrix(CompareResult("x", [], paths, differences(paths)))
    assert m.cap_drops == ["crun adds CAP_SYS_ADMIN, which most paths here lack."]
    same = [CapRow("KILL", [Cell("KILL"), Cell("KILL")])]
    assert cap_sentences(same, ["docker", "podman"]) == \
        ["Every path that ran (docker and podman) holds the same 1 capabilities."]


def test_the_most_wasteful_layer_names_its_biggest_copies_and_the_bars_fit() -> None:
    view = dataclasses.replace(_image(["a"]), waste=waste_view(_ledger()))
    html = render([Section("image-1", "Image anatomy", "image.html.j2", {"image": view})], "t")
    assert _text(html, "waste-most-paths-image-1") == (
        f"Its biggest hidden copies: /usr/lib/… (2.0 KiB (2,000 B), deleted by layer 2); "
        f"/etc/{HOSTILE[0]} (500 B, deleted by layer 3).")
    big = dataclasses.replace(_ledger(), layers=[dataclasses.replace(
        x, added_bytes=x.added_bytes * 10**9, hidden_bytes=x.hidden_bytes * 10**9)
        for x in _ledger().layers])
    bars = waste_view(big).bars
    assert bars[0].shown == "2.3 TiB hidden of 2.7 TiB (83% of it)"  # the long bar: short form
    assert bars[0].figure.startswith("2.3 TiB (2,500,000,000,000 B) hidden of")
    assert waste_view(_ledger()).bars[1].shown == waste_view(_ledger()).bars[1].figure


def test_the_glance_gathers_both_with_links_and_escapes() -> None:
    view = dataclasses.replace(_image(["a"]), waste=waste_view(_ledger()))
    sections = [compare_section(_compare()),
                Section("image-1", "Image anatomy", "image.html.j2", {"image": view})]
    lines = glance(sections)
    assert lines[0] == (DROPS, "#caps", "capability grid")
    assert lines[1][1:] == ("#compare", "compare matrix")
    assert lines[2] == (f"{HOSTILE[2]}: layer 1 (base) wastes the most, 2.4 KiB (2,500 B) that "
                        "later layers hide.", "#waste-image-1", "waste ledger")
    html = render(sections, "t", glance=lines)
    assert _text(html, "glance").startswith(f"At a glance {DROPS} capability grid")
    assert "</svg><img" not in html and " style=" not in html
    assert BAD_LINE not in html
