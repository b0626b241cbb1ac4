"""`ocix referrers`, `ocix attach` and `ocix artifact pull`: OCI 1.1 artifacts in a registry."""

from __future__ import annotations

from typing import Any

import click

from ..options import client_options, json_option, registry_options
from ..output import print_json, short_digest, wrap_paragraph


def _tree_lines(nodes: list[Any], prefix: str = "") -> list[str]:
    lines = []
    for i, n in enumerate(nodes):
        last = i + 1 == len(nodes)
        mark = "└── " if last else "├── "
        kind = f" [{n.kind}]" if n.kind else ""
        status = "valid" if n.valid else "INVALID"
        lines.append(f"{prefix}{mark}{n.artifact_type or n.media_type}{kind} "
                     f"{short_digest(n.digest, 16)} {n.size} B {status}")
        more = prefix + ("    " if last else "│   ")
        for k, v in sorted(n.annotations.items()):
            lines.append(f"{more}  {k}={v}")
        for p in n.problems:
            lines.append(f"{more}  ! {p}")
        lines += _tree_lines(n.children, more)
    return lines


@click.command()
@click.argument("ref")
@click.option("--artifact-type", metavar="TYPE", default="",
              help="Only referrers of this artifactType (asked of the registry, else filtered here).")
@click.option("--api/--tag-schema", "api", default=None,
              help="Force the referrers API or the tag schema (default: the API, else the tag schema).")
@registry_options
@json_option
def referrers(ref: str, artifact_type: str, api: bool | None, hosts_dir: str | None,
              plain_http: bool, user: str | None, as_json: bool) -> None:
    """Each node is fetched by digest and held to `ocix validate`'s rules; the first line says
    whether the registry's referrers API or the tag schema fallback answered.

    \b
    Examples:
      ocix referrers "$OCIX_REGISTRY/library/busybox:latest"
      ocix referrers "$OCIX_REGISTRY/library/busybox:latest" --artifact-type application/vnd.cyclonedx+json
      ocix referrers "$OCIX_REGISTRY/library/busybox:latest" --json
      ocix --trace referrers "$OCIX_REGISTRY/library/busybox:latest" --tag-schema
    """
    from ...jobs.registry.referrers import referrers as walk

    tree = walk(ref, client_options(hosts_dir, plain_http, user), artifact_type=artifact_type,
                api=api)
    if as_json:
        print_json(tree)
        return
    how = tree.source
    if tree.filters_applied:
        how += f", filtered by the registry on {', '.join(tree.filters_applied)}"
    elif artifact_type:
        how += ", filtered by ocix on artifactType"
    click.echo(wrap_paragraph(f"{tree.name}@{tree.digest} ({tree.count()} referrers, via the "
                              f"{how})"))
    for line in _tree_lines(tree.referrers + tree.platforms + tree.attestations):
        click.echo(line)
    if not tree.referrers and not tree.attestations and not tree.platforms:
        click.echo("no referrers")


@click.command()
@click.argument("ref")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--artifact-type", required=True, metavar="TYPE",
              help="The artifact's media type, e.g. application/vnd.cyclonedx+json.")
@click.option("--media-type", metavar="TYPE", default="",
              help="Media type of the files' layers (default: the artifact type).")
@click.option("--annotation", "-a", "annotations", multiple=True, metavar="KEY=VALUE",
              help="An annotation of the artifact manifest (repeat).")
@registry_options
@json_option
def attach(ref: str, files: tuple[str, ...], artifact_type: str, media_type: str,
           annotations: tuple[str, ...], hosts_dir: str | None, plain_http: bool,
           user: str | None, as_json: bool) -> None:
    """Without a referrers API on the registry, the subject's fallback tag index (sha256-<hex>)
    is updated too, as the distribution-spec asks of clients.

    \b
    Examples:
      ocix attach "$OCIX_REGISTRY/library/busybox:latest" --artifact-type application/vnd.cyclonedx+json sbom.json
      ocix attach "$OCIX_REGISTRY/library/busybox:latest" --artifact-type application/vnd.example.notes \\
          -a org.opencontainers.image.description="release notes" notes.txt
    """
    from pathlib import Path

    from ...errors import UsageError
    from ...jobs.registry.artifacts import attach as do_attach
    from ...oci.mediatypes import MEDIA_TYPE_RE
    from ..options import key_value_pairs
    from ..output import print_kv

    for flag, value in (("--artifact-type", artifact_type), ("--media-type", media_type)):
        if value and not MEDIA_TYPE_RE.fullmatch(value):  # `ocix validate` would call it invalid
            raise UsageError(f"{flag} {value!r} is not a media type",
                             hint="write type/subtype, e.g. application/vnd.example.notes")
    annots = key_value_pairs(annotations, "--annotation")
    result = do_attach(ref, artifact_type, [Path(f) for f in files],
                       client_options(hosts_dir, plain_http, user), media_type=media_type,
                       annotations=annots)
    if as_json:
        print_json(result)
        return
    print_kv([("Artifact", result.name), ("Digest", result.digest),
              ("Artifact type", result.artifact_type), ("Subject", result.subject),
              ("Referrers", f"{result.via}" + (f" (index under the tag {result.fallback_tag})"
                                               if result.fallback_tag else "")),
              ("Files", ", ".join(result.files))])


@click.group()
def artifact() -> None:
    """\b
    Examples:
      ocix artifact pull "$OCIX_REGISTRY/library/busybox@sha256:…" -o out/
    """


@artifact.command("pull")
@click.argument("ref")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="Directory to write the files into (created; existing files are never replaced).")
@registry_options
@json_option
def artifact_pull(ref: str, output: str, hosts_dir: str | None, plain_http: bool,
                  user: str | None, as_json: bool) -> None:
    """Fetch the files of artifact REF into a directory, each verified against its digest.

    \b
    Examples:
      ocix artifact pull "$OCIX_REGISTRY/library/busybox@sha256:…" -o sbom/
      ocix artifact pull "$OCIX_REGISTRY/team/notes:v1" -o notes/ --json
    """
    from pathlib import Path

    from ...jobs.registry.artifacts import pull
    from ..output import print_table

    result = pull(ref, Path(output), client_options(hosts_dir, plain_http, user))
    if as_json:
        print_json(result)
        return
    click.echo(f"{result.name}@{result.digest} ({result.artifact_type})")
    print_table(["FILE", "DIGEST", "SIZE"],
                [[f.path, short_digest(f.digest), f.size] for f in result.files],
                empty="the artifact has no files")


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option("--referrers", "with_referrers", is_flag=True,
              help="Copy the tree of artifacts that refer to the image too.")
@registry_options
@json_option
def copy(src: str, dst: str, with_referrers: bool, hosts_dir: str | None, plain_http: bool,
         user: str | None, as_json: bool) -> None:
    """Every byte is copied as is, so digests do not change; each blob is verified as it is read.

    \b
    Examples:
      ocix copy "$OCIX_REGISTRY/library/busybox:latest" "$OCIX_REGISTRY/backup/busybox:latest" --referrers
      ocix copy "$OCIX_REGISTRY/library/multiarch:latest" oci:/tmp/multiarch:latest
      ocix copy oci:/tmp/multiarch:latest "$OCIX_REGISTRY/restored/multiarch:latest"
    """
    import sys

    from ...jobs.registry.copy import copy as do_copy
    from ..output import human_size, print_kv

    def progress(what: str, d: Any) -> None:
        click.echo(f"copying {what} {d.digest} ({human_size(d.size)})", err=True)

    show = sys.stderr.isatty() and not as_json
    result = do_copy(src, dst, client_options(hosts_dir, plain_http, user), referrers=with_referrers,
                     progress=progress if show else None)
    if as_json:
        print_json(result)
        return
    print_kv([("Copied", f"{result.source} -> {result.destination}"), ("Digest", result.digest),
              ("Manifests", result.manifests),
              ("Blobs", f"{result.blobs_copied} copied ({human_size(result.bytes_copied)}), "
                        f"{result.blobs_present} already there"),
              ("Referrers", len(result.referrers) if with_referrers else "not copied")])
