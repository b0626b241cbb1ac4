"""`ocix registry repos|tags|inspect`: browse a registry without pulling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..options import client_options, json_option, registry_options
from ..output import human_size, print_json, print_kv, print_table, short_digest, write_all

F = TypeVar("F", bound=Callable[..., Any])


def paging_options(what: str) -> Callable[[F], F]:
    """--max-pages and --page-size, for a listing of `what` (the Link pages of the API)."""
    def decorate(f: F) -> F:
        f = click.option("--page-size", type=click.IntRange(1, 10000), default=1000,
                         show_default=True,
                         help=f"{what} asked for per page (the `n` parameter).")(f)
        return click.option("--max-pages", type=click.IntRange(1, 10000), default=100,
                            show_default=True,
                            help="Stop (with an error) after this many pages.")(f)
    return decorate


@click.group()
def registry() -> None:
    """\b
    Examples:
      ocix registry repos "$OCIX_REGISTRY"
      ocix registry tags busybox --digests
      ocix registry inspect "$OCIX_REGISTRY/library/multiarch:latest"
      ocix registry inspect busybox --raw | jq .
    """


@registry.command("repos")
@click.argument("host")
@paging_options("Names")
@registry_options
@json_option
def repos(host: str, max_pages: int, page_size: int, hosts_dir: str | None, plain_http: bool,
          user: str | None, as_json: bool) -> None:
    """List the repositories of registry HOST (its catalog), page by page.

    \b
    Examples:
      ocix registry repos "$OCIX_REGISTRY"
      ocix registry repos 127.0.0.1:5000 --json
      ocix --trace registry repos "$OCIX_REGISTRY" --page-size 2   # each page's request
    """
    from ...jobs.registry.browse import repositories

    names = repositories(host, client_options(hosts_dir, plain_http, user), max_pages=max_pages,
                         page_size=page_size)
    if as_json:
        print_json(names)
        return
    print_table(["REPOSITORY"], [[n] for n in names], empty="no repositories")


@registry.command("tags")
@click.argument("ref")
@click.option("--digests", is_flag=True, help="Resolve each tag to its digest and media type.")
@paging_options("Tags")
@registry_options
@json_option
def tags(ref: str, digests: bool, max_pages: int, page_size: int, hosts_dir: str | None,
         plain_http: bool, user: str | None, as_json: bool) -> None:
    """List the tags of REF's repository (a tag in REF is ignored), page by page.

    \b
    Examples:
      ocix registry tags busybox
      ocix registry tags "$OCIX_REGISTRY/library/multiarch" --digests
      ocix registry tags busybox --json
    """
    from ...jobs.registry.browse import tags as list_tags

    rows = list_tags(ref, client_options(hosts_dir, plain_http, user), digests=digests,
                     max_pages=max_pages, page_size=page_size)
    if as_json:
        print_json(rows)
        return
    if digests:
        print_table(["TAG", "DIGEST", "MEDIA TYPE"], [[r.tag, r.digest, r.media_type] for r in rows],
                    empty="no tags")
    else:
        print_table(["TAG"], [[r.tag] for r in rows], empty="no tags")


@registry.command("inspect")
@click.argument("ref")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="For an index: show this platform's manifest, config and layers.")
@click.option("--raw", is_flag=True, help="Print the manifest or index exactly as the registry serves it.")
@registry_options
@json_option
def inspect(ref: str, platform: str | None, raw: bool, hosts_dir: str | None, plain_http: bool,
            user: str | None, as_json: bool) -> None:
    """Show REF from its manifest and config: per platform for an index, else config and layers.

    \b
    Examples:
      ocix registry inspect "$OCIX_REGISTRY/library/multiarch:latest"
      ocix registry inspect "$OCIX_REGISTRY/library/multiarch:latest" --platform linux/arm64
      ocix registry inspect busybox --raw > manifest.json
      ocix registry inspect busybox --json
    """
    from ...jobs.registry import browse

    opts = client_options(hosts_dir, plain_http, user)
    if raw:
        write_all(browse.raw(ref, opts))
        return
    result = browse.inspect(ref, opts, platform=platform)
    if as_json:
        print_json(result)
        return
    print_kv([("Name", result.name), ("Digest", result.digest), ("Media type", result.media_type),
              ("Size", f"{result.size} B")])
    if result.platforms:
        click.echo()
        print_table(["PLATFORM", "DIGEST", "SIZE", "LAYERS", "COMPRESSED", "CREATED", "KIND"],
                    [[p.platform, short_digest(p.digest), p.size, p.layers,
                      human_size(p.layers_size), p.created, p.kind] for p in result.platforms],
                    empty="the index lists no manifests")
    if not result.manifest_digest:
        return
    click.echo()
    pairs: list[tuple[str, Any]] = [("Manifest", result.manifest_digest)]
    if result.platform:
        pairs.append(("Platform", result.platform))
    if result.artifact_type:
        pairs.append(("Artifact type", result.artifact_type))
    if result.subject:
        pairs.append(("Subject", result.subject))
    if result.created:
        pairs.append(("Created", result.created))
    if result.config:
        pairs.append(("Config", f"{result.config.digest} ({result.config.media_type}, "
                                f"{result.config.size} B)"))
    pairs += [("Label", f"{k}={v}") for k, v in sorted(result.labels.items())]
    pairs += [("Env", e) for e in result.env]
    pairs += [("Annotation", f"{k}={v}") for k, v in sorted(result.annotations.items())]
    print_kv(pairs)
    click.echo()
    print_table(["LAYER", "MEDIA TYPE", "SIZE"],
                [[x.digest, x.media_type, human_size(x.size)] for x in result.layers],
                empty="no layers")
