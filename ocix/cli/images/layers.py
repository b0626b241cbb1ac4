"""`ocix layers`: what each layer of an image adds, changes and deletes."""

from __future__ import annotations

from typing import Any

import click

from ...errors import UsageError
from ..main import State, pass_state
from ..options import json_option, platform_option, registry_options
from ..output import human_size, print_json, print_table, short_digest, wrap_paragraph
from ..progress import LayerStatus

LETTERS = {"added": "A", "changed": "C", "deleted": "D", "opaque": "O"}


@click.command()
@click.argument("image")
@click.option("--files", is_flag=True, help="List every path with its change kind.")
@click.option("--layer", "layer", type=int, metavar="N",
              help="Only layer N (1 = the base layer); the layers below are still read.")
@click.option("--html", "html", metavar="FILE",
              help="Write the image's anatomy, layers, waste ledger and final file tree as one "
                   "HTML page instead.")
@click.option("--waste", is_flag=True,
              help="The ledger of bytes the final filesystem hides, dive's figures, sharing.")
@click.option("--top", type=click.IntRange(min=1), metavar="N",
              help="With --waste: only the N biggest hidden copies (table default: 20).")
@click.option("--ci", is_flag=True, help="Check dive's CI rules (and ocix's): exit 0, 1 or 2.")
@click.option("--ci-config", metavar="FILE",
              help="With --ci: the rules file (default: ./.dive-ci if present, else defaults).")
@click.option("--ref", "is_ref", is_flag=True,
              help="IMAGE is a registry reference: stream its layers without pulling.")
@registry_options
@platform_option
@json_option
@pass_state
def layers(state: State, image: str, files: bool, layer: int | None, html: str | None,
           waste: bool, top: int | None, ci: bool, ci_config: str | None, is_ref: bool,
           hosts_dir: str | None, plain_http: bool, user: str | None, platform: str | None,
           as_json: bool) -> None:
    """Each layer blob is streamed with Content.Read and decompressed (gzip, zstd or plain tar)
    as it arrives; its tar headers are read, nothing is extracted or written.  A path is
    "changed" when a lower layer already has it; a whiteout `.wh.NAME` deletes NAME; a
    directory holding `.wh..wh..opq` is opaque (the lower layers' contents of it are hidden).
    Every name is resolved through the symlinks of the layers below and of its own layer, as
    an extractor would: entries that could reach outside the root (`..`, absolute paths, writes
    and deletions through symlinks that lead out, hostile hardlinks and whiteouts, device
    nodes) or that containerd refuses are listed as hostile with the reason and the symlinks
    followed, and left out of the counts.  With --files each path is prefixed A (added), C
    (changed), D (deleted) or O (opaque).

    --waste lists every copy a later layer hides (overwritten, deleted, under an opaque
    directory), the layer that wrote it and the one that hid it, per layer and in total
    (compressed bytes estimated per layer in proportion), next to dive's efficiency,
    wastedBytes and userWastedPercent, and says which layers other images of the namespace
    share (paid once: removing this image frees none of those bytes).  --ci checks dive's
    .dive-ci rules plus highestHiddenBytes and highestUnsharedHiddenBytes: exit 0 when all
    pass, 1 on a failure, 2 on a bad config.  With --ref, IMAGE is read from its registry
    without pulling it.  See docs/layers.md.

    \b
    Examples:
      ocix layers busybox
      ocix layers "$OCIX_REGISTRY/library/layers:latest" --files
      ocix layers "$OCIX_REGISTRY/library/layers:latest" --layer 3 --files --json
      ocix layers alpine --platform linux/arm64
      ocix layers "$OCIX_REGISTRY/library/layers:latest" --json | jq .hostile
      ocix layers "$OCIX_REGISTRY/library/large:latest" --waste --top 10
      ocix layers "$OCIX_REGISTRY/library/large:latest" --ci --ci-config .dive-ci
      ocix layers --ref "$OCIX_REGISTRY/library/large:latest" --ci
      ocix layers busybox --html busybox.html
    """
    if html:
        if layer is not None or as_json:
            raise click.UsageError("--html writes the whole image: drop --layer and --json")
        from ...report.collect import layers_page
        from ...report.page import write

        size = write(html, layers_page(state.conn(), image, platform))
        click.echo(f"wrote {html} ({human_size(size)})")
        return
    if waste or ci or is_ref:
        _waste(state, image, files=files, layer=layer, waste=waste, top=top, ci=ci,
               ci_config=ci_config, is_ref=is_ref, platform=platform, as_json=as_json,
               client={"hosts_dir": hosts_dir, "plain_http": plain_http, "user": user})
        return
    if top is not None or ci_config is not None:
        raise UsageError("--top goes with --waste, --ci-config with --ci")
    from ...jobs.store.layers import scan_image

    status = LayerStatus(not as_json)
    with status:
        report = scan_image(state.conn(), image, platform=platform, layer=layer, files=files,
                            on_layer=status.layer)
    if as_json:
        from ..output import to_jsonable

        doc = to_jsonable(report)
        if not files:
            for x in doc["layers"]:
                del x["files"]
        print_json(doc)
        return
    click.echo(wrap_paragraph(f"{report.image}  {report.platform}  manifest {report.manifest}",
                              reflow=False))
    print_table(
        ["LAYER", "DIGEST", "DIFF ID", "CHAIN ID", "SIZE", "UNCOMPRESSED", "ADDED", "CHANGED",
         "DELETED", "OPAQUE", "CREATED BY"],
        [[x.layer, short_digest(x.digest), short_digest(x.diff_id), short_digest(x.chain_id),
          human_size(x.size), human_size(x.uncompressed_size), x.added, x.changed, x.deleted,
          x.opaque, _short(x.created_by)] for x in report.layers])
    for x in report.layers:
        for h in x.hostile:
            click.echo(f"layer {x.layer}: hostile {h.kind} {h.entry!r}: {h.reason} (not applied)")
        if x.files is not None:
            click.echo(f"\nlayer {x.layer} {x.digest}")
            for f in x.files:
                click.echo(f"  {LETTERS[f.change]} {f.path}")


def _waste(state: State, image: str, *, files: bool, layer: int | None, waste: bool,
           top: int | None, ci: bool, ci_config: str | None, is_ref: bool,
           platform: str | None, as_json: bool, client: dict[str, Any]) -> None:
    from ...jobs.images import waste as job
    from .wasteview import print_gate, print_waste, waste_json

    if files or layer is not None:
        raise UsageError("--files and --layer do not go with --waste, --ci or --ref")
    if not (waste or ci):
        raise UsageError("--ref goes with --waste or --ci")
    if ci and waste:
        raise UsageError("use either --waste (the ledger) or --ci (the rules)")
    if ci_config is not None and not ci:
        raise UsageError("--ci-config goes with --ci")
    if top is not None and not waste:
        raise UsageError("--top goes with --waste")
    rules: list[Any] = []
    source = ""
    if ci:  # a bad config fails before any layer is read
        from ...jobs.images.wastegate import load_rules

        rules, source = load_rules(ci_config)
    status = LayerStatus(not as_json)
    with status:
        if is_ref:
            from ...registry.auth import parse_user

            user = client.pop("user")
            report = job.ref_waste(image, platform=platform, on_layer=status.layer,
                                   credentials=parse_user(user) if user else None, **client)
        else:
            report = job.image_waste(state.conn(), image, platform=platform,
                                     on_layer=status.layer)
    if ci:
        from ...jobs.images.wastegate import evaluate, passed

        results = evaluate(rules, report)
        print_gate(results, source, report, as_json)
        if not passed(results):
            click.get_current_context().exit(1)
        return
    if as_json:
        print_json(waste_json(report, top))
    else:
        print_waste(report, top if top is not None else 20)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
