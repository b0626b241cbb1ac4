"""`ocix df`: disk usage of the content store and the snapshots, per image."""

from __future__ import annotations

import click

from ..main import State, pass_state
from ..options import json_option, snapshotter_option
from ..output import echo_paragraphs, human_size, print_json, print_kv, print_table


@click.command("df")
@click.option("--verbose", "-v", is_flag=True, help="Also list every blob and snapshot with its images.")
@snapshotter_option("The snapshotter to count.")
@json_option
@pass_state
def df(state: State, verbose: bool, snapshotter: str, as_json: bool) -> None:
    """For each image: its compressed blobs and unpacked snapshots, split into shared (another
    image, container or lease keeps them too) and unique, and what removing it would free at
    the next garbage collection.  The store line counts every namespace, as `du` of the
    store's directories does.

    \b
    Examples:
      ocix df
      ocix df --verbose
      ocix -n k8s.io df --json
    """
    from ...jobs.store.df import disk_usage

    u = disk_usage(state.conn(), snapshotter, verbose)
    if as_json:
        print_json(u)
        return
    s = u.store
    print_kv([
        (f"Namespace {u.namespace}", ""),
        ("  Content store", f"{human_size(u.content_bytes)} in {u.blobs} blobs"),
        ("  Snapshots", f"{human_size(u.snapshot_bytes)} in {u.snapshots} {u.snapshotter} snapshots"),
        ("  Reclaimable", reclaimable_text(u.reclaimable)),
        (f"Store ({s.namespaces} namespaces)", ""),
        ("  Content store", f"{human_size(s.content_bytes)} in {s.blobs} blobs ({s.content_bytes} "
                            f"bytes) in {s.content_root or '?'}"),
        ("  Snapshots", f"{human_size(s.snapshot_bytes)} in {s.snapshots} snapshots "
                        f"({s.snapshot_bytes} bytes) in {s.snapshot_root or '?'}"),
    ])
    click.echo()
    print_table(["IMAGE", "COMPRESSED", "SHARED", "UNIQUE", "UNPACKED", "SHARED", "UNIQUE", "FREES"],
                [[i.name, human_size(i.compressed.total), human_size(i.compressed.shared),
                  human_size(i.compressed.unique), human_size(i.unpacked.total),
                  human_size(i.unpacked.shared), human_size(i.unpacked.unique), human_size(i.frees)]
                 for i in u.images], empty="no images")
    if verbose:
        click.echo()
        print_table(["KIND", "ID", "SIZE", "KEPT", "IMAGES"],
                    [[o.kind, o.id, human_size(o.size), "yes" if o.kept else "no (next GC)",
                      ", ".join(o.images)] for o in u.objects], empty="nothing stored")
    click.echo()
    echo_paragraphs(u.why_sizes_differ)


def reclaimable_text(size: int) -> str:
    if size == 0:
        return "0 B (an image, container or lease keeps every blob and snapshot)"
    return f"{human_size(size)} (kept by nothing: the next GC frees it)"
