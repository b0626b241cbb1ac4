"""Gather each section's data from the jobs and turn it into a page: `ocix report`, and the
single sections `ocix compare --html` and `ocix layers --html` write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..containerd.connection import Connection
from ..errors import OcixError, UnreachableError
from ..jobs.compare.model import CompareResult
from .page import Section, render

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


@dataclass
class ReportRequest:
    images: list[str] = field(default_factory=list)
    platform: str | None = None
    why: str | None = None  # the object `why` draws; default: the first image's base layer
    store: bool = True


def compare_section(result: CompareResult) -> Section:
    from .matrix import matrix

    return Section("compare", "Compare: one command through every path", "compare.html.j2",
                   {"matrix": matrix(result)})


def image_section(conn: Connection, name: str, n: int = 1, platform: str | None = None,
                  progress: Progress = _noop) -> Section:
    from .image import image_view

    def on_layer(i: int, total: int, digest: str) -> None:
        progress(f"{name}: reading layer {i}/{total}")

    view = image_view(conn, name, platform, on_layer)
    return Section(f"image-{n}", f"Image anatomy: {view.name}", "image.html.j2",
                   {"image": view})


def host_section(result: CompareResult | None, containerd: str | None) -> Section:
    from .host import host_view

    return Section("host", "The host and its stack", "host.html.j2",
                   {"host": host_view(result, containerd)})


def store_section(conn: Connection, why_ref: str | None) -> Section:
    from .store import store_view

    return Section("store", "The store", "store.html.j2", {"store": store_view(conn, why_ref)})


def compare_page(result: CompareResult) -> str:
    return render([compare_section(result)], f"ocix compare {result.image}")


def layers_page(conn: Connection, name: str, platform: str | None = None) -> str:
    section = image_section(conn, name, 1, platform)
    return render([section], f"ocix layers {section.context['image'].name}")


def _base_layer(conn: Connection, name: str, platform: str | None) -> str | None:
    from ..jobs.store.anatomy import image_manifest

    try:
        _, m = image_manifest(conn, name, platform)
    except OcixError:
        return None
    return m.layers[0].digest if m.layers else None


def report_page(conn: Connection, req: ReportRequest, result: CompareResult | None = None,
                progress: Progress = _noop) -> str:
    """Every section that has data: the host always, compare with a result, one anatomy per
    image, the store when containerd answers."""
    progress("asking the host")
    sections = [host_section(result, conn.address)]
    if result is not None:
        sections.append(compare_section(result))
    for n, name in enumerate(req.images, 1):
        sections.append(image_section(conn, name, n, req.platform, progress))
    if req.store:
        progress("reading the store")
        why_ref = req.why or (_base_layer(conn, req.images[0], req.platform)
                              if req.images else None)
        try:
            sections.append(store_section(conn, why_ref))
        except UnreachableError as e:  # the host section still says what is there
            progress(f"no store section: {e.message}")
    title = "ocix report" + (f": {', '.join(req.images)}" if req.images else "")
    return render(sections, title, glance=glance(sections))


def glance(sections: list[Section]) -> list[tuple[str, str, str]]:
    """(text, href, link text): who drops which capability, which layer wastes the most; the
    sentences the sections open with, gathered at the top of the page."""
    out = []
    for s in sections:
        if "matrix" in s.context:
            m = s.context["matrix"]
            out += [(line, "#caps", "capability grid") for line in m.cap_drops]
            if m.differ:
                out.append((f"{len(m.differ)} of the compare rows differ between the paths.",
                            f"#{s.id}", "compare matrix"))
        view = s.context.get("image")
        if view is None or view.waste is None or not view.waste.most:
            continue
        most = view.waste.most
        line = " ".join(most["created_by"].split())
        line = line if len(line) <= 70 else line[:69] + "…"
        out.append((f"{view.name}: layer {most['layer']} ({line}) wastes the most, "
                    f"{most['bytes']} that later layers hide.", f"#waste-{s.id}", "waste ledger"))
    return out
