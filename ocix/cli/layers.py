"""`ocix layers`: what each layer of an image adds, changes and deletes."""

from __future__ import annotations

import sys
from typing import Any

import click

from .main import State, pass_state
from .output import human_size, json_option, platform_option, print_json, print_table, short_digest

LETTERS = {"added": "A", "changed": "C", "deleted": "D", "opaque": "O"}


@click.command()
@click.argument("image")
@click.option("--files", is_flag=True, help="List every path with its change kind.")
@click.option("--layer", "layer", type=int, metavar="N",
              help="Only layer N (1 = the base layer); the layers below are still read.")
@platform_option
@json_option
@pass_state
def layers(state: State, image: str, files: bool, layer: int | None, platform: str | None,
           as_json: bool) -> None:
    """Show what each layer of IMAGE adds, changes and deletes, read from containerd.

    Each layer blob is streamed with Content.Read and decompressed (gzip, zstd or plain tar)
    as it arrives; its tar headers are read, nothing is extracted or written.  A path is
    "changed" when a lower layer already has it; a whiteout `.wh.NAME` deletes NAME; a
    directory holding `.wh..wh..opq` is opaque (the lower layers' contents of it are hidden).
    Every name is resolved through the symlinks of the layers below and of its own layer, as
    an extractor would: entries that could reach outside the root (`..`, absolute paths, writes
    and deletions through symlinks that lead out, hostile hardlinks and whiteouts, device
    nodes) or that containerd refuses are listed as hostile with the reason and the symlinks
    followed, and left out of the counts.  With --files each path is prefixed A (added), C
    (changed), D (deleted) or O (opaque).  See docs/layers.md.

    \b
    Examples:
      ocix layers busybox
      ocix layers "$OCIX_REGISTRY/library/layers:latest" --files
      ocix layers "$OCIX_REGISTRY/library/layers:latest" --layer 3 --files --json
      ocix layers alpine --platform linux/arm64
      ocix layers "$OCIX_REGISTRY/library/layers:latest" --json | jq .hostile
    """
    from ..jobs.store.layers import scan_image

    status = _Status(enabled=not as_json and sys.stderr.isatty())
    with status:
        report = scan_image(state.conn(), image, platform=platform, layer=layer, files=files,
                            on_layer=status.update)
    if as_json:
        from .output import to_jsonable

        doc = to_jsonable(report)
        if not files:
            for x in doc["layers"]:
                del x["files"]
        print_json(doc)
        return
    click.echo(f"{report.image}  {report.platform}  manifest {report.manifest}")
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


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class _Status:
    """"reading layer 2/4" on stderr while the layers stream, on a TTY only."""

    def __init__(self, enabled: bool) -> None:
        self._status: Any = None
        self.enabled = enabled

    def __enter__(self) -> _Status:
        if self.enabled:
            from .output import console

            self._status = console(stderr=True).status("reading the image")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def update(self, n: int, total: int, digest: str) -> None:
        if self._status is not None:
            self._status.update(f"reading layer {n}/{total} {short_digest(digest)}")
