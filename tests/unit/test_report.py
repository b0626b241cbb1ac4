"""The HTML report's pure parts: CSP hashes, escaping, the file tree's aggregation, the
compare matrix's odd cells and the call chains' live pids (fake dataclasses, no daemons)."""

from __future__ import annotations

import base64
import hashlib
import html as htmllib
import re
from pathlib import Path

from ocix.jobs.compare.differences import differences
from ocix.jobs.compare.model import Cgroup, CompareResult, Namespace, Parent, PathResult
from ocix.jobs.store.layers import LayerReport, LayersReport
from ocix.oci.fs.layerscan import FileChange
from ocix.report import chains, filetree
from ocix.report.collect import compare_section
from ocix.report.image import ImageView, diagram
from ocix.report.matrix import matrix
from ocix.report.page import Section, render

HOSTILE = ['<script>alert(1)</script>', '"onload="alert(2)', '</svg><img src=x onerror=alert(3)>']
BASE = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"]


def _path(name: str, caps: list[str], parent: str = "containerd-shim-runc-v2") -> PathResult:
    ns = {t: Namespace(4026531000 + i, True) for i, t in enumerate(["mnt", "pid", "net"])}
    return PathResult(path=name, chain=[f"{name} 1.0"], parent=Parent(4242, parent, parent),
                      pid=5151, exit_code=0, stdout="ok\n", namespaces=ns,
                      cgroup=Cgroup(f"/{name}/abc", None, None, None, None),
                      cap_eff="00000000a80425fb", capabilities=[f"CAP_{c}" for c in caps],
                      no_new_privs=False, seccomp="filter")


def _compare() -> CompareResult:
    paths = [_path("docker", BASE), _path("containerd", BASE),
             _path("podman", [c for c in BASE if c not in ("NET_RAW", "MKNOD", "AUDIT_WRITE")],
                   parent="conmon"),
             PathResult(path="crun", available=False, skipped_reason="crun refuses <hybrid>")]
    paths[2].cap_eff = "00000000800405fb"
    return CompareResult("busybox", ["true"], paths, differences(paths))


def _image(names: list[str]) -> ImageView:
    files = [FileChange("/etc", "added", "dir")] + \
        [FileChange(f"/etc/{n}", "added", "file") for n in names]
    layer = LayerReport(1, "sha256:" + "a" * 64, "application/vnd.oci.image.layer.v1.tar+gzip",
                        "gzip", "sha256:" + "b" * 64, "sha256:" + "b" * 64, 100, 400,
                        HOSTILE[0] + HOSTILE[1], len(files), len(files), 0, 0, 0, 0, [], files)
    report = LayersReport(HOSTILE[2], "sha256:" + "c" * 64, "sha256:" + "d" * 64,
                          "linux/amd64", [layer], [])
    dia = diagram("sha256:" + "c" * 64, "application/vnd.oci.image.manifest.v1+json", 10,
                  [("sha256:" + "c" * 64, "linux/amd64", 10)], "sha256:" + "c" * 64,
                  ("sha256:" + "e" * 64, 5), [(layer.digest, 100, layer.media_type, layer.created_by)])
    rows, counts = filetree.tree_rows([(1, files)])
    return ImageView(HOSTILE[2], report.digest, "application/vnd.oci.image.manifest.v1+json",
                     "linux/amd64", report.manifest, "sha256:" + "e" * 64, report, dia,
                     {HOSTILE[0]: HOSTILE[1]}, "sh", rows, counts)


def _csp_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_policy_allows_exactly_the_inline_script_and_style() -> None:
    html = render([compare_section(_compare())], "t")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = htmllib.unescape(csp.group(1))
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert f"script-src {_csp_source(scripts[0])};" in policy
    assert f"style-src {_csp_source(styles[0])};" in policy
    assert policy.startswith("default-src 'none'; img-src data:;")
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert " style=" not in html  # a style attribute would break the hashed style-src


def test_hostile_names_labels_and_history_are_text() -> None:
    html = render([Section("image-1", "Image anatomy", "image.html.j2",
                           {"image": _image(HOSTILE)})], HOSTILE[2])
    body = html.split("<body>", 1)[1]
    assert body.count("<script") == 1  # ours, at the end
    assert "<img" not in body and "onerror=alert" not in body.replace("onerror=alert(3)&gt;", "")
    assert html.count("</svg>") == html.count("<svg")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&#34;onload=&#34;alert(2)" in body
    assert "&lt;/svg&gt;&lt;img src=x onerror=alert(3)&gt;" in body
    assert not re.search(r'<[^>]+\son\w+=', body)  # no event-handler attribute anywhere


def test_no_reference_leaves_the_file() -> None:
    html = render([compare_section(_compare()),
                   Section("image-1", "x", "image.html.j2", {"image": _image(["a"])})], "t")
    refs = re.findall(r'\b(?:src|href|action|xlink:href)="([^"]*)"', html)
    assert refs and all(r.startswith("#") for r in refs)
    assert "@import" not in html and "url(" not in html.replace("url(#arrow)", "")


def test_final_state_applies_whiteouts_and_opaque_dirs() -> None:
    lower = [FileChange("/d", "added", "dir"), FileChange("/d/a", "added", "file"),
             FileChange("/o", "added", "dir"), FileChange("/o/old", "added", "file"),
             FileChange("/f", "added", "file")]
    upper = [FileChange("/d", "deleted", "whiteout"), FileChange("/o", "opaque", "dir"),
             FileChange("/o/new", "added", "file"), FileChange("/f", "changed", "file")]
    state = filetree.final_state([(1, lower), (2, upper)])
    assert state == {"/d": ("D", 2, "whiteout"), "/o": ("O", 2, "dir"),
                     "/o/new": ("A", 2, "file"), "/f": ("C", 2, "file")}


def test_a_big_directory_is_summed_up_not_dropped() -> None:
    n = filetree.MAX_LISTED + 37
    files = [FileChange("/big", "added", "dir")] + \
        [FileChange(f"/big/f{i:04d}", "added", "file") for i in range(n)]
    rows, counts = filetree.tree_rows([(1, files)])
    listed = [r for r in rows if r.op == "file"]
    more = [r for r in rows if r.op == "more"]
    assert len(listed) == filetree.MAX_LISTED
    assert [(m.name, m.counts) for m in more] == [("37 more entries", "A 37")]
    assert counts == f"A {n + 1}"
    top = rows[0]
    assert (top.op, top.name, top.total, top.expanded) == ("open", "big", n, False)


def test_the_matrix_marks_the_odd_path_and_the_cap_grid_names_the_drops() -> None:
    m = matrix(_compare())
    assert m.paths == ["docker", "containerd", "podman", "crun"]
    caps = {r.key: r for r in m.rows}["capabilities"]
    assert [c.odd for c in caps.cells] == [False, False, True, False]
    assert "NET_RAW" in caps.cells[2].why
    assert caps.cells[2].detail.startswith("podman lacks CAP_AUDIT_WRITE")
    grid = {r.name: r for r in m.caps}
    assert [c.text for c in grid["NET_RAW"].cells] == ["NET_RAW", "NET_RAW", "—"]
    assert [c.odd for c in grid["NET_RAW"].cells] == [False, False, True]
    assert [c.odd for c in grid["CHOWN"].cells] == [False, False, False]
    assert grid["NET_RAW"].cells[2].why.startswith("podman lacks CAP_NET_RAW, unlike most")
    assert "containers.conf" in grid["NET_RAW"].cells[2].why
    assert m.summary == ["podman lacks CAP_AUDIT_WRITE, CAP_MKNOD, CAP_NET_RAW (against docker)"]
    status = {r.key: r for r in m.rows}["status"]
    assert status.cells[3].text == "skipped: crun refuses <hybrid>"


def test_the_chains_carry_live_pids_and_parents() -> None:
    view = chains.layout(_compare())
    rows = {c.path: r for c, r in zip(chains.CHAINS, view.rows, strict=True)}
    podman = rows["podman"]
    assert [b.role for b in podman.boxes] == ["proc", "parent", "proc", "init"]
    assert podman.boxes[1].note == "init's parent · pid 4242"
    assert rows["docker"].boxes[3].note == "init's parent · pid 4242"
    odd = chains.layout(CompareResult("x", [], [_path("runc", BASE, parent="systemd")]))
    assert odd.rows[4].boxes[0].note == "parent: systemd pid 4242"
    assert chains.layout(CompareResult("x", [], [_path("runc", BASE, parent="ocix")])
                         ).rows[4].boxes[0].note == "init's parent · pid 4242"
    assert podman.boxes[-1].note == "pid 5151"
    assert rows["crun"].status == "not run: crun refuses <hybrid>"
    assert rows["cri"].status == ""  # not in this compare
    assert len(view.rows) == 6 and view.live
    assert chains.layout().live is False


def test_the_handbook_links_every_topic_and_draws_each_diagram(tmp_path: Path) -> None:
    from ocix.report.handbook import explain_pages
    from ocix.teach.explain import all_topics

    topics = all_topics()
    hostile: dict[str, list[tuple[str, str | None]]] = {topics[0].name: [(HOSTILE[0], HOSTILE[2])]}
    written = explain_pages(str(tmp_path), topics, hostile)
    assert [p.name for p in written] == ["index.html", *(f"{t.name}.html" for t in topics)]
    names = {t.name for t in topics}
    for t in topics:
        page = (tmp_path / f"{t.name}.html").read_text()
        links = set(re.findall(r'href="([\w-]+)\.html"', page))
        assert links == names | {"index"}  # the nav and "other topics" reach every page
        drawn = [htmllib.unescape(x) for x in re.findall(r'<text class="ascii"[^>]*>(.*?)</text>', page)]
        assert drawn == t.diagram.splitlines()
    first = (tmp_path / f"{topics[0].name}.html").read_text().split("<body>", 1)[1]
    assert first.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in first


def test_a_recorded_tour_keeps_command_output_and_explanation(tmp_path: Path) -> None:
    from ocix.report.handbook import tour_pages
    from ocix.teach.session import StepResult

    steps = [StepResult(3, "t3", "docker ps", "look", "ocix x", HOSTILE[0], "why", True, ""),
             StepResult(12, "t12", "h", "l", "ocix y", "", "e", False, "needs dockerd")]
    written = tour_pages(str(tmp_path), steps, 25, {"when": "now", "host": "h"})
    assert [p.name for p in written] == ["index.html", "step-03.html", "step-12.html"]
    index = (tmp_path / "index.html").read_text()
    assert "1 of 2 steps ok (the tour has 25)" in index and "needs dockerd" in index
    three = (tmp_path / "step-03.html").read_text()
    assert '<pre class="output">&lt;script&gt;alert(1)&lt;/script&gt;</pre>' in three


def test_an_odd_mount_set_reads_as_what_it_adds_and_lacks() -> None:
    result = _compare()
    for r, ms in zip(result.paths[:3], (["/", "/run"], ["/run", "/"], ["/", "/etc/hosts"]),
                     strict=True):
        r.mounts = ms
    result.differences = differences(result.paths)
    row = {r.key: r for r in matrix(result).rows}["mounts"]
    assert [c.odd for c in row.cells] == [False, False, True, False]
    assert row.cells[2].detail == "podman against docker: adds /etc/hosts; lacks /run"
    assert row.cells[0].text == "/ /run"
