"""`ocix content ls|info|cat|labels|rm`: the blobs in containerd's content store."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..main import State, pass_state
from ..options import json_option, quiet_option
from ..output import human_size, print_json, print_kv, print_table, wrap_paragraph, write_all


@click.group("content")
def content_group() -> None:
    """DIGEST arguments take a full digest, or a unique prefix of 6 or more hex characters with
    or without `sha256:` (sha256:c545a5, c545a5ad2f99).

    \b
    Examples:
      ocix content ls
      ocix content ls 'labels."containerd.io/uncompressed"'   # the layers
      ocix content cat sha256:c545a5 | tar -tz      # the lab busybox's layer
      ocix content labels 301b55d2f64e               # its manifest
    """


def _age(info: object) -> str:
    created = getattr(info, "created_at", None)
    if created is None:
        return ""
    s = int((datetime.now(UTC) - created).total_seconds())
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


@content_group.command("ls")
@click.argument("filters", nargs=-1)
@quiet_option("Print only the digests.")
@json_option
@pass_state
def content_ls(state: State, filters: tuple[str, ...], quiet: bool, as_json: bool) -> None:
    """List blobs with size, age and labels, like `ctr content ls`.

    FILTERS are containerd filters, ORed: `digest==sha256:…`,
    `labels."containerd.io/uncompressed"` (has the label), `labels.k==v`, `labels.k~="regexp"`;
    the operators are ==, != and ~=, and inside one filter a comma means AND.

    \b
    Examples:
      ocix content ls
      ocix content ls 'labels."containerd.io/gc.ref.content.config"' -q   # manifests
      ocix content ls 'labels."containerd.io/distribution.source.docker.io"~="busybox"' --json
    """
    from ...containerd import content

    infos = content.list_content(state.conn(), list(filters))
    if quiet:
        for i in infos:
            click.echo(i.digest)
        return
    if as_json:
        print_json(infos)
        return
    print_table(["DIGEST", "SIZE", "AGE", "LABELS"],
                [[i.digest, human_size(i.size), _age(i),
                  ",".join(f"{k}={v}" for k, v in sorted(i.labels.items()))] for i in infos],
                empty="no content")


@content_group.command("info")
@click.argument("digest")
@json_option
@pass_state
def content_info(state: State, digest: str, as_json: bool) -> None:
    """Show one blob's size, times and labels.

    \b
    Examples:
      ocix content info sha256:c545a5ad2f99c4625c0f65df90a44d5aff93ad6a63e418e5647aaa9a66de2958
      ocix content info c545a5 --json
    """
    from ...jobs.store.content import info

    i = info(state.conn(), digest)
    if as_json:
        print_json(i)
        return
    print_kv([("Digest", i.digest), ("Size", f"{human_size(i.size)} ({i.size} bytes)"),
              ("Created", i.created_at.isoformat() if i.created_at else ""),
              ("Updated", i.updated_at.isoformat() if i.updated_at else ""),
              *((f"Label {k}", v) for k, v in sorted(i.labels.items()))])


@content_group.command("cat")
@click.argument("digest")
@json_option
@pass_state
def content_cat(state: State, digest: str, as_json: bool) -> None:
    """Write a blob's raw bytes to stdout, streamed (binary-safe).

    With --json the blob must be a JSON document (index, manifest, config): it is printed
    indented.

    \b
    Examples:
      ocix content cat sha256:c545a5 | tar -tz         # a gzip layer's files
      ocix content cat 301b55d2f64e --json             # a manifest, indented
    """
    from ...containerd import content
    from ...jobs.store.content import info, json_document

    conn = state.conn()
    found = info(conn, digest)  # one clear line for an unknown digest, before any byte
    if as_json:
        print_json(json_document(conn, found))
        return
    for chunk in content.read(conn, found.digest):
        write_all(chunk)


@content_group.command("labels")
@click.argument("digest")
@json_option
@pass_state
def content_labels(state: State, digest: str, as_json: bool) -> None:
    """Explain each label of a blob: what it keeps alive and where the blob came from.

    \b
    Examples:
      ocix content labels sha256:301b55     # a manifest: its config and layers
      ocix content labels c545a5 --json     # a layer: its diff ID and source
    """
    from ...jobs.store.content import info
    from ...jobs.store.labels import explain_all

    blob = info(state.conn(), digest)
    labels = explain_all(blob.labels)
    if as_json:
        print_json(labels)
        return
    if not labels:
        click.echo(f"{blob.digest} has no labels: nothing it refers to is kept through it")
        return
    for lab in labels:
        click.echo(f"{lab.key}={lab.value}")
        click.echo(wrap_paragraph(lab.meaning, indent="    ", hanging="    "))


@content_group.command("rm")
@click.argument("digests", nargs=-1, required=True)
@json_option
@pass_state
def content_rm(state: State, digests: tuple[str, ...], as_json: bool) -> None:
    """Remove blobs from the content store (in this namespace).

    \b
    Examples:
      ocix content rm sha256:0123456789ab
    """
    from ...containerd import content
    from ...jobs.store.content import info

    conn = state.conn()
    removed = []
    for d in digests:
        digest = info(conn, d).digest
        content.delete(conn, digest)
        removed.append(digest)
        if not as_json:
            click.echo(digest)
    if as_json:
        print_json({"removed": removed})
