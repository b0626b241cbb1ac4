"""What `ocix layers --waste` and `--ci` print: the ledger, the figures, the rules."""

from __future__ import annotations

import math
from typing import Any

import click

from ..output import human_size, print_json, print_table, to_jsonable, wrap_paragraph


def _short(text: str, n: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def waste_json(report: Any, top: int | None) -> dict[str, Any]:
    doc: dict[str, Any] = to_jsonable(report)
    if top is not None:
        doc["hidden"] = doc["hidden"][:top]
    doc["dive"]["user_wasted_percent"] = _finite(report.dive.user_wasted_percent)
    return doc


def _shared(names: list[str] | None) -> str:
    if names is None:
        return "?"
    return f"yes ({len(names)})" if names else "no"


def print_waste(report: Any, top: int | None) -> None:
    t = report.totals
    click.echo(wrap_paragraph(f"{report.image}  {report.platform}  manifest {report.manifest}  "
                              f"({report.source})", reflow=False))
    print_table(
        ["LAYER", "SIZE", "UNCOMPRESSED", "ADDED", "HIDDEN", "~COMPRESSED", "SHARED",
         "CREATED BY"],
        [[x.layer, human_size(x.size), human_size(x.uncompressed_size),
          human_size(x.added_bytes), human_size(x.hidden_bytes), human_size(x.hidden_compressed),
          _shared(x.shared_with), _short(x.created_by, 40)] for x in report.layers],
        title="what each layer adds, and of that what later layers hide")
    for x in report.layers:
        if x.shared_with:
            click.echo(f"layer {x.layer} is shared with {', '.join(x.shared_with)}")
    rows = report.hidden if top is None else report.hidden[:top]
    if rows:
        print_table(
            ["BYTES", "PATH", "ENTRIES", "ADDED IN", "HIDDEN BY", "HOW", "SHARED"],
            [[human_size(h.bytes), h.path + ("/…" if h.subtree else ""), h.entries,
              f"layer {h.added_in}", f"layer {h.hidden_by}", h.how,
              "?" if h.shared is None else ("yes" if h.shared else "no")] for h in rows],
            title="hidden copies, biggest first")
        if len(rows) < len(report.hidden):
            click.echo(f"… {len(report.hidden) - len(rows)} more (--top N, or --json)")
    else:
        click.echo("no copy is hidden: every byte of every layer is in the final filesystem")
    d = report.dive
    pct = f"{d.user_wasted_percent:.4f}" if math.isfinite(d.user_wasted_percent) \
        else str(d.user_wasted_percent)
    click.echo(f"\nhidden: {t.hidden_bytes} bytes uncompressed (~{t.hidden_compressed} "
               f"compressed) of {t.added_bytes} added; visible {t.visible_bytes}")
    if report.source == "registry":
        click.echo("sharing on this node: not known (read from the registry, not pulled)")
    else:
        click.echo(f"in layers shared with other images (paid once, removing this image frees "
                   f"none of it): {t.hidden_shared_bytes}; unshared: {t.unshared_hidden_bytes} "
                   f"(~{t.unshared_hidden_compressed} compressed)")
    click.echo(f"dive: efficiency {d.efficiency:.4f}, wastedBytes {d.wasted_bytes}, "
               f"userWastedPercent {pct}")
    click.echo(f"note: {report.why_figures_differ}")
    click.echo(f"note: {report.compressed_note}")


def print_gate(results: list[Any], source: str, report: Any, as_json: bool) -> None:
    from ...jobs.images.wastegate import FAIL, passed

    ok = passed(results)
    if as_json:
        print_json({"image": report.image, "config": source, "pass": ok,
                    "rules": to_jsonable(results),
                    "dive": {**to_jsonable(report.dive),
                             "user_wasted_percent": _finite(report.dive.user_wasted_percent)},
                    "hidden_bytes": report.totals.hidden_bytes,
                    "unshared_hidden_bytes": report.totals.unshared_hidden_bytes})
        return
    click.echo(f"{report.image}: CI rules from {source}")
    for x in results:
        line = f"  {x.status}: {x.key}: measured {x.measured}, configured {x.config}"
        if x.status == FAIL:
            line += f" ({x.message})"
        click.echo(line)
    fails = sum(1 for x in results if x.status == FAIL)
    click.echo("Result: PASS" if ok else f"Result: FAIL ({fails} rule{'s' if fails != 1 else ''})")
