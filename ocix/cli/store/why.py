"""`ocix why`: what keeps a blob or snapshot from garbage collection."""

from __future__ import annotations

import click

from ..main import State, pass_state
from ..options import json_option, snapshotter_option
from ..output import print_json, wrap_paragraph


@click.command("why")
@click.argument("ref", metavar="DIGEST|SNAPSHOT_KEY")
@snapshotter_option("The snapshotter a SNAPSHOT_KEY is in.")
@json_option
@pass_state
def why(state: State, ref: str, snapshotter: str, as_json: bool) -> None:
    """Each chain starts at a GC root (an image record, a container, a lease, a gc.root label)
    and follows what containerd's GC follows: an image's target, the
    containerd.io/gc.ref.content.* and gc.ref.snapshot.* labels, a snapshot's parent, a
    container's snapshot_key, a lease's resources.  Read from the API and labels only.

    \b
    Examples:
      ocix why sha256:c545a5ad2f99c4625c0f65df90a44d5aff93ad6a63e418e5647aaa9a66de2958
      ocix why c545a5ad2f99                 # a unique digest prefix
      ocix why sha256:301b55 --json         # the same, with sha256:
      ocix why my-container                 # a snapshot key
    """
    from ...jobs.store.why import why as find

    results = find(state.conn(), ref, snapshotter)
    if as_json:
        print_json(results)
        return
    for r in results:
        click.echo(wrap_paragraph(r.verdict + ".", hanging="  "))  # the sentence fits the width
        for chain in r.chains:
            click.echo()
            for i, step in enumerate(chain.steps):
                name = step.id if step.kind != "snapshot" else step.id.split("/", 1)[1]
                if i == 0:
                    click.echo(f"  {step.role} {name}  [GC root: {chain.root}]")
                else:
                    click.echo(f"  {'  ' * i}└─ {step.via} → {step.role} {name}")
