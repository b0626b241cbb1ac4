"""`ocix pull` and `ocix images ls|rm|check`."""

from __future__ import annotations

import click

from .main import State, pass_state
from .output import human_size, json_option, print_json, print_kv, print_table, short_digest


@click.command()
@click.argument("ref")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Pull this platform of an index.")
@click.option("--all-platforms", is_flag=True, help="Fetch every platform of an index.")
@click.option("--snapshotter", default="overlayfs", show_default=True, help="Snapshotter to unpack into.")
@click.option("--no-unpack", is_flag=True, help="Fetch only; do not unpack into snapshots.")
@click.option("--max-concurrent-downloads", type=click.IntRange(1, 32), default=3, show_default=True,
              help="Layers downloaded at once.")
@click.option("--hosts-dir", envvar="OCIX_HOSTS_DIR", metavar="DIR",
              help="containerd hosts dir with <host>/hosts.toml (env OCIX_HOSTS_DIR, "
                   "default /etc/containerd/certs.d).")
@click.option("--plain-http", is_flag=True, help="Use HTTP for a registry that is not on loopback.")
@click.option("--user", "-u", metavar="USER[:PASSWORD]",
              help="Registry credentials (default: ~/.docker/config.json).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the image digest.")
@json_option
@pass_state
def pull(state: State, ref: str, platform: str | None, all_platforms: bool, snapshotter: str,
         no_unpack: bool, max_concurrent_downloads: int, hosts_dir: str | None, plain_http: bool,
         user: str | None, quiet: bool, as_json: bool) -> None:
    """Pull REF into containerd and unpack it, like `ctr images pull`.

    REF is normalized like docker does: `alpine:3.18` is docker.io/library/alpine:3.18.

    \b
    Examples:
      ocix pull busybox                                  # via the lab's docker.io mirror
      ocix pull docker.io/library/alpine:3.18 --platform linux/arm64 --no-unpack
      ocix pull "$OCIX_REGISTRY/library/layers:latest" --json
      ocix --trace pull busybox                          # every HTTP and gRPC call, timed
    """
    from ..jobs.pull import PullOptions
    from ..jobs.pull import pull as do_pull
    from ..registry.auth import parse_user
    from .progress import PullDisplay

    if platform and all_platforms:
        raise click.UsageError("--platform and --all-platforms exclude each other")
    opts = PullOptions(platform=platform, all_platforms=all_platforms, snapshotter=snapshotter,
                       unpack=not no_unpack, max_concurrent_downloads=max_concurrent_downloads,
                       hosts_dir=hosts_dir, plain_http=plain_http,
                       credentials=parse_user(user) if user else None)
    with PullDisplay(enabled=False if quiet or as_json else None) as display:
        result = do_pull(state.conn(), ref, opts, on_event=display)
    if as_json:
        print_json(result)
        return
    if quiet:
        click.echo(result.digest)
        return
    fetched = sum(1 for x in result.layers if x.fetch != "exists")
    print_kv([
        ("Image", result.name),
        ("Digest", result.digest),
        ("Platforms", ", ".join(result.platforms)),
        ("Compressed", human_size(result.compressed_size)),
        ("Downloaded", f"{human_size(result.downloaded)} ({fetched} of {len(result.layers)} layers)"),
        ("Unpacked", f"{human_size(result.unpacked_size)} into {result.snapshotter}" if result.chain_id
         else "not unpacked"),
        ("Time", f"{result.total_seconds:.2f}s (fetch {result.fetch_seconds:.2f}s, "
                 f"unpack {result.unpack_seconds:.2f}s, overlapped)"),
    ])


@click.group()
def images() -> None:
    """List, check and remove images in containerd.

    \b
    Examples:
      ocix images ls
      ocix -n k8s.io images ls --json
      ocix images check
      ocix images rm docker.io/library/busybox:latest
    """


@images.command("ls")
@click.option("--quiet", "-q", is_flag=True, help="Print only the names.")
@click.argument("filters", nargs=-1)
@json_option
@pass_state
def images_ls(state: State, quiet: bool, filters: tuple[str, ...], as_json: bool) -> None:
    """List images with digest, size, platforms and whether they are unpacked."""
    from ..containerd import images as imgs
    from ..jobs.imagetree import summarize

    conn = state.conn()
    records = imgs.list_images(conn, list(filters))
    if quiet:
        for r in records:
            click.echo(r.name)
        return
    summaries = [summarize(conn, r) for r in records]
    if as_json:
        print_json(summaries)
        return
    print_table(["REF", "DIGEST", "SIZE", "PLATFORMS", "UNPACKED"],
                [[s.name, short_digest(s.digest), human_size(s.size), ",".join(s.platforms),
                  "yes" if s.unpacked else "no"] for s in summaries],
                empty="no images")


@images.command("check")
@json_option
@pass_state
def images_check(state: State, as_json: bool) -> None:
    """Check that each image's content is complete and unpacked, like `ctr images check`."""
    from ..containerd import images as imgs
    from ..jobs.imagetree import summarize

    conn = state.conn()
    summaries = [summarize(conn, r) for r in imgs.list_images(conn)]
    if as_json:
        print_json(summaries)
    else:
        print_table(["REF", "STATUS", "SIZE", "UNPACKED"],
                    [[s.name, f"{'complete' if s.complete else 'incomplete'} ({s.present}/{s.total})",
                      human_size(s.size), "true" if s.unpacked else "false"] for s in summaries],
                    empty="no images")
    if any(not s.complete for s in summaries):
        click.get_current_context().exit(1)


@images.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("--sync", is_flag=True, help="Wait for garbage collection before returning.")
@pass_state
def images_rm(state: State, names: tuple[str, ...], sync: bool) -> None:
    """Remove image records; containerd's GC then frees what nothing else uses."""
    from ..jobs.imagetree import remove_image

    conn = state.conn()
    for name in names:
        click.echo(remove_image(conn, name, sync=sync))
