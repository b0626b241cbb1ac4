"""`ocix cat IMAGE PATH` and `ocix cp IMAGE:PATH DEST`: files out of an image, never run."""

from __future__ import annotations

import click

from ..main import State, pass_state
from ..options import json_option, platform_option
from ..output import human_size, print_json, write_all


@click.command()
@click.argument("image")
@click.argument("path")
@platform_option
@pass_state
def cat(state: State, image: str, path: str, platform: str | None) -> None:
    """The layers' tar headers are read to find which layer wrote PATH last (whiteouts and opaque
    directories applied); then only that layer is streamed again, up to the file.  Symlinks
    are followed inside the image's root only (an absolute target starts at the image's
    root).  Hostile entries are refused; a path a layer deleted says which one.
    See docs/imagefs.md.

    \b
    Examples:
      ocix cat busybox /etc/passwd
      ocix cat "$OCIX_REGISTRY/library/layers:latest" /data/change.txt
      ocix cat alpine /etc/os-release --platform linux/arm64
    """
    from ...jobs.images.imagefs import cat as cat_file
    from ...jobs.images.imagefs import load

    conn = state.conn()
    ifs = load(conn, image, platform=platform)
    for block in cat_file(conn, ifs, path):
        write_all(block)


def _split(arg: str) -> tuple[str, str]:
    """IMAGE:PATH; the image may hold a port or a tag, so the path starts at ":/" ."""
    at = arg.find(":/")
    if at <= 0:
        raise click.UsageError(f"expected IMAGE:/PATH, got {arg!r}")
    return arg[:at], arg[at + 1:]


@click.command()
@click.argument("source", metavar="IMAGE:PATH")
@click.argument("dest")
@platform_option
@json_option
@pass_state
def cp(state: State, source: str, dest: str, platform: str | None, as_json: bool) -> None:
    """Like `ocix cat`, the tree comes from the layers' tar headers (whiteouts and opaque
    directories applied, hostile entries refused) and each layer holding wanted data is
    streamed once; nothing is mounted or unpacked.  DEST must not exist yet, or be a directory
    to copy into.  Modes are kept (without setuid/setgid), owners are not; symlinks are written
    as they are and never followed; hard links become copies.  See docs/imagefs.md.

    \b
    Examples:
      ocix cp busybox:/etc/passwd ./passwd
      ocix cp "$OCIX_REGISTRY/library/layers:latest:/data" /tmp/data
      ocix cp busybox:/etc /tmp/ --json
    """
    from ...jobs.images.imagecp import copy_out
    from ...jobs.images.imagefs import load
    from ..progress import LayerStatus

    image, path = _split(source)
    conn = state.conn()
    with LayerStatus(not as_json) as status:
        ifs = load(conn, image, platform=platform, on_layer=status.layer)
        status.prefix = "copying: "
        r = copy_out(conn, ifs, path, dest,
                     on_layer=lambda n, total: status.layer(n, total, ""))
    if as_json:
        print_json(r)
        return
    what = f"{r.files} file{'s' if r.files != 1 else ''}, {human_size(r.bytes)}"
    if r.dirs:
        what += f", {r.dirs} director{'ies' if r.dirs != 1 else 'y'}"
    if r.symlinks:
        what += f", {r.symlinks} symlink{'s' if r.symlinks != 1 else ''}"
    click.echo(f"{image}:{r.source} -> {r.dest} ({what})")
    for s in r.skipped:
        click.echo(f"skipped {s}", err=True)
