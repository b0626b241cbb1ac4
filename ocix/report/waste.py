"""The waste ledger drawn for the page: per layer the bytes it adds and, of those, what later
layers hide, as an SVG bar chart; the biggest hidden copies with the layer that wrote and the
one that hid each; dive's three figures beside ocix's hidden bytes (docs/layers.md, "The
waste ledger"; docs/report.md).

Hidden bytes in a layer that another image of the namespace shares are drawn apart from the
unshared ones: the node pays for them once, and removing this image frees none of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .page import human_size

TOP_COPIES = 15  # hidden copies listed; the rest are summed up in one line
BAR_W, ROW_H, WIDTH = 360, 36, 1180  # the bars start at x=360 (waste.html.j2)
MINI_W = 120  # the bar beside each hidden copy
CHAR_W = 6.8  # a generous width of one character of the chart's 12 px figures
MOST_PATHS = 3  # the biggest copies named beside the layer that wastes the most


def exact(n: int) -> str:
    """"1.7 KiB (1,770 B)", or "120 B" when the short form says it all."""
    return f"{n:,} B" if n < 1024 else f"{human_size(n)} ({n:,} B)"


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Bar:
    layer: int
    y: int
    label: str  # "layer 2"
    made_by: str  # created_by, shortened for the drawing (full in the table)
    hidden_w: int
    kind: str  # the hidden part's class: hidden-unshared, hidden-shared, hidden-unknown
    added: str
    hidden: str
    figure: str  # the bar's title: short and exact figures
    shown: str  # the text right of the bar: the figure, or its short form where that won't fit


@dataclass(frozen=True)
class LayerRow:
    layer: int
    created_by: str
    added: str
    hidden: str
    hidden_compressed: str
    shared: str  # "no", "yes: a, b", "unknown"
    kind: str


@dataclass(frozen=True)
class CopyRow:
    path: str  # a directory's subtree ends in "/…"
    how: str
    bytes: str
    entries: int
    added_in: int
    added_by: str
    hidden_by: int
    hidden_by_created_by: str
    shared: str
    kind: str
    bar_w: int


@dataclass(frozen=True)
class WasteView:
    width: int
    height: int
    bars: list[Bar]
    layers: list[LayerRow]
    copies: list[CopyRow]
    more_copies: int  # beyond the listed ones
    most: dict[str, Any] | None  # the layer whose added bytes are hidden the most
    totals: dict[str, str]
    known_sharing: bool
    dive: list[tuple[str, str, str]]  # (name, value, what it counts)
    why_differ: str
    compressed_note: str


def _kind(shared: bool | None) -> str:
    if shared is None:
        return "hidden-unknown"
    return "hidden-shared" if shared else "hidden-unshared"


def _shared_text(names: list[str] | None) -> str:
    if names is None:
        return "unknown"
    return "yes: " + ", ".join(names) if names else "no"


def _pct(x: float) -> str:
    """dive's ratio as dive's CI rules read it, and as a percentage."""
    return f"{x:.4f} ({x * 100:.2f} %)" if math.isfinite(x) else str(x)


def waste_view(r: Any, top: int = TOP_COPIES) -> WasteView:
    """From a jobs.images.waste.WasteReport."""
    most_hidden = max((x.hidden_bytes for x in r.layers), default=0)
    bars, rows = [], []
    for i, x in enumerate(r.layers):
        shared = None if x.shared_with is None else bool(x.shared_with)
        w = 0 if not x.hidden_bytes else max(2, round(BAR_W * x.hidden_bytes / most_hidden))
        pct = f" ({x.hidden_bytes / x.added_bytes:.0%} of it)" if x.added_bytes else ""
        figure = (f"{exact(x.hidden_bytes)} hidden of {exact(x.added_bytes)}{pct}"
                  if x.hidden_bytes else f"nothing hidden (adds {exact(x.added_bytes)})")
        short = (f"{human_size(x.hidden_bytes)} hidden of {human_size(x.added_bytes)}{pct}"
                 if x.hidden_bytes else figure)
        fits = BAR_W + w + 8 + CHAR_W * len(figure) <= WIDTH
        bars.append(Bar(x.layer, 8 + i * ROW_H, f"layer {x.layer}", _shorten(x.created_by, 46),
                        w, _kind(shared), exact(x.added_bytes), exact(x.hidden_bytes), figure,
                        figure if fits else short))
        rows.append(LayerRow(x.layer, x.created_by, exact(x.added_bytes), exact(x.hidden_bytes),
                             f"~{exact(x.hidden_compressed)}", _shared_text(x.shared_with),
                             _kind(shared) if x.hidden_bytes else "none"))
    biggest = max((h.bytes for h in r.hidden), default=0)
    copies = [CopyRow(h.path + ("/…" if h.subtree else ""), h.how, exact(h.bytes), h.entries,
                      h.added_in, h.added_by, h.hidden_by, h.hidden_by_created_by,
                      "unknown" if h.shared is None else ("yes" if h.shared else "no"),
                      _kind(h.shared), max(1, round(MINI_W * h.bytes / biggest)) if h.bytes else 0)
              for h in r.hidden[:top]]
    most = None
    if most_hidden:
        x = next(x for x in r.layers if x.hidden_bytes == most_hidden)
        by = sorted({h.hidden_by for h in r.hidden if h.added_in == x.layer and h.bytes})
        most = {"layer": x.layer, "created_by": x.created_by, "bytes": exact(most_hidden),
                "hidden_by": ", ".join(str(n) for n in by), "several": len(by) > 1,
                "kind": _kind(None if x.shared_with is None else bool(x.shared_with)),
                "shared_with": len(x.shared_with or []),
                "paths": [(h.path + ("/…" if h.subtree else ""), exact(h.bytes), h.how,
                           h.hidden_by) for h in r.hidden
                          if h.added_in == x.layer and h.bytes][:MOST_PATHS]}
    t, d = r.totals, r.dive
    totals = {"added": exact(t.added_bytes), "visible": exact(t.visible_bytes),
              "hidden": exact(t.hidden_bytes), "hidden_compressed": f"~{exact(t.hidden_compressed)}",
              "shared": exact(t.hidden_shared_bytes), "unshared": exact(t.unshared_hidden_bytes),
              "unshared_compressed": f"~{exact(t.unshared_hidden_compressed)}"}
    dive = [("efficiency", f"{d.efficiency:.4f}",
             "smallest sighting of each path / all sightings"),
            ("wastedBytes", exact(d.wasted_bytes),
             f"every sighting of the {d.inefficient_paths} paths seen in more than one layer"),
            ("userWastedPercent", _pct(d.user_wasted_percent),
             f"wastedBytes / {exact(d.user_size_bytes)} in the layers above the first"),
            ("ocix hidden bytes", exact(t.hidden_bytes),
             "only the copies no path of the final filesystem reaches")]
    return WasteView(WIDTH, 16 + len(bars) * ROW_H, bars, rows, copies,
                     max(0, len(r.hidden) - top), most, totals,
                     all(x.shared_with is not None for x in r.layers), dive,
                     r.why_figures_differ, r.compressed_note)
