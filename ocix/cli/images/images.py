"""`ocix pull` and `ocix images ls|rm|check`."""

from __future__ import annotations

import shlex

import click

from ..main import State, pass_state
from ..options import json_option, platform_option, quiet_option, snapshotter_option
from ..output import human_size, print_json, print_kv, print_table, short_digest


@click.command()
@click.argument("ref")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Pull this platform of an index.")
@click.option("--all-platforms", is_flag=True, help="Fetch every platform of an index.")
@snapshotter_option("Snapshotter to unpack into.")
@click.option("--no-unpack", is_flag=True, help="Fetch only; do not unpack into snapshots.")
@click.option("--max-concurrent-downloads", type=click.IntRange(1, 32), default=3, show_default=True,
              help="Layers downloaded at once.")
@click.option("--hosts-dir", envvar="OCIX_HOSTS_DIR", metavar="DIR",
              help="containerd hosts dir with <host>/hosts.toml (env OCIX_HOSTS_DIR, "
                   "default /etc/containerd/certs.d).")
@click.option("--plain-http", is_flag=True, help="Use HTTP for a registry that is not on loopback.")
@click.option("--user", "-u", metavar="USER[:PASSWORD]",
              help="Registry credentials (default: ~/.docker/config.json).")
@quiet_option("Print only the image digest.")
@json_option
@pass_state
def pull(state: State, ref: str, platform: str | None, all_platforms: bool, snapshotter: str,
         no_unpack: bool, max_concurrent_downloads: int, hosts_dir: str | None, plain_http: bool,
         user: str | None, quiet: bool, as_json: bool) -> None:
    """REF is normalized like docker does: `alpine:3.18` is docker.io/library/alpine:3.18.

    \b
    Examples:
      ocix pull busybox                                  # via the lab's docker.io mirror
      ocix pull docker.io/library/alpine:3.18 --platform linux/arm64 --no-unpack
      ocix pull "$OCIX_REGISTRY/library/layers:latest" --json
      ocix --trace pull busybox                          # every HTTP and gRPC call, timed
    """
    from ...jobs.images.pull import PullOptions
    from ...jobs.images.pull import pull as do_pull
    from ...registry.auth import parse_user
    from ..progress import PullDisplay

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
    """\b
    Examples:
      ocix images ls
      ocix -n k8s.io images ls --json
      ocix images check
      ocix images rm docker.io/library/busybox:latest
    """


@images.command("ls")
@quiet_option("Print only the names.")
@click.argument("filters", nargs=-1)
@json_option
@pass_state
def images_ls(state: State, quiet: bool, filters: tuple[str, ...], as_json: bool) -> None:
    """List images with digest, size, platforms and whether they are unpacked.

    \b
    Examples:
      ocix images ls
      ocix images ls -q
      ocix images ls 'name~="busybox"' --json
    """
    from ...containerd import images as imgs
    from ...jobs.images.tree import summarize

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
    """Check that each image's content is complete and unpacked, like `ctr images check`.

    \b
    Examples:
      ocix images check
      ocix images check --json || echo "some image is incomplete"
    """
    from ...containerd import images as imgs
    from ...jobs.images.tree import summarize

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
    """Remove image records; containerd's GC then frees what nothing else uses.

    \b
    Examples:
      ocix images rm docker.io/library/busybox:latest
      ocix images rm --sync busybox
    """
    from ...jobs.images.tree import remove_image

    conn = state.conn()
    for name in names:
        click.echo(remove_image(conn, name, sync=sync))


@images.command("inspect")
@click.argument("image")
@platform_option
@click.option("--snapshotter", default="overlayfs", show_default=True,
              help="Snapshotter whose snapshots to look up.")
@json_option
@pass_state
def images_inspect(state: State, image: str, platform: str | None, snapshotter: str,
                   as_json: bool) -> None:
    """Show an image's anatomy: index → manifest → config, layers, snapshots, history, config.

    For each layer: media type, digest, diff ID (the digest of the uncompressed tar), chain ID
    (the name of its snapshot), compressed and uncompressed size.  The uncompressed size is
    what the snapshot takes on disk when the layer is unpacked (Snapshots.Usage), otherwise
    the length of the tar, measured by streaming the blob; the output says which.

    \b
    Examples:
      ocix images inspect busybox
      ocix images inspect "$OCIX_REGISTRY/library/layers:latest" --json
      ocix images inspect "$OCIX_REGISTRY/library/multiarch:latest" --platform linux/arm64
    """
    from ...jobs.store.anatomy import inspect_image

    info = inspect_image(state.conn(), image, platform, snapshotter)
    if as_json:
        print_json(info)
        return
    print_kv([("Image", info.name), ("Digest", f"{info.digest} ({info.media_type})"),
              ("Manifest", info.manifest), ("Platform", info.platform), ("Config", info.config),
              ("Env", " ".join(info.env) or "-"),
              ("Entrypoint", _argv(info.entrypoint)), ("Cmd", _argv(info.cmd)),
              ("User", info.user or "-"), ("WorkingDir", info.working_dir or "-")]
             + [(f"Label {k}", v) for k, v in sorted(info.labels.items())])
    click.echo()
    print_table(["LAYER", "MEDIA TYPE", "DIGEST", "DIFF ID", "CHAIN ID = SNAPSHOT", "SIZE",
                 "UNCOMPRESSED", "FROM", "UNPACKED"],
                [[x.layer, x.media_type, short_digest(x.digest), short_digest(x.diff_id),
                  short_digest(x.chain_id), human_size(x.size),
                  "-" if x.uncompressed_size is None else human_size(x.uncompressed_size),
                  x.uncompressed_from, "yes" if x.unpacked else "no"] for x in info.layers],
                title=f"layers ({info.snapshotter} snapshots)", empty="no layers")
    print_table(["#", "CREATED", "CREATED BY", "LAYER"],
                [[i + 1, h.created, h.created_by, "(empty)" if h.layer is None else h.layer]
                 for i, h in enumerate(info.history)],
                title="history", empty="no history in the config")


@images.command("history")
@click.argument("image")
@platform_option
@json_option
@pass_state
def images_history(state: State, image: str, platform: str | None, as_json: bool) -> None:
    """Show how an image was built, newest first, like `docker history`.

    SIZE is the compressed layer blob; UNPACKED is what its snapshot takes on disk (empty
    when the layer is not unpacked); `empty_layer` steps (ENV, CMD, ...) made no layer.

    \b
    Examples:
      ocix images history busybox
      ocix images history "$OCIX_REGISTRY/library/layers:latest" --json
    """
    from ...jobs.store.anatomy import image_history

    entries = image_history(state.conn(), image, platform)
    if as_json:
        print_json(entries)
        return
    print_table(["CREATED", "CREATED BY", "SIZE", "UNPACKED", "LAYER"],
                [[h.created, h.created_by, human_size(h.size),
                  "" if h.unpacked_size is None else human_size(h.unpacked_size),
                  "<empty layer>" if h.layer is None else f"{h.layer} {short_digest(h.digest)}"]
                 for h in entries], empty="no history in the config")


@images.command("diff")
@click.argument("a")
@click.argument("b")
@platform_option
@json_option
@pass_state
def images_diff(state: State, a: str, b: str, platform: str | None, as_json: bool) -> None:
    """Show which layers images A and B share (by digest) and which differ.

    A shared layer is stored once; pulling B after A fetches only B's other layers.  Layers
    that also sit on the same base (equal chain IDs) share their unpacked snapshot too.

    \b
    Examples:
      ocix images diff busybox "$OCIX_REGISTRY/library/layers:latest"
      ocix images diff A B --json
    """
    from ...jobs.store.anatomy import diff_images

    d = diff_images(state.conn(), a, b, platform)
    if as_json:
        print_json(d)
        return
    print_table(["DIGEST", "SIZE", "IN A", "IN B", "CREATED BY"],
                [[short_digest(x.digest), human_size(x.size), x.in_a or "-", x.in_b or "-",
                  x.created_by] for x in d.layers], empty="no layers")
    only_b = sum(1 for x in d.layers if x.in_b and not x.in_a)
    print_kv([("A", f"{d.a} ({d.a_platform})"), ("B", f"{d.b} ({d.b_platform})"),
              ("Shared", f"{d.shared} layer{'s' if d.shared != 1 else ''}, "
                         f"{human_size(d.shared_bytes)} stored once"),
              ("Only in A", human_size(d.only_a_bytes)),
              ("Only in B", f"{human_size(d.only_b_bytes)} ({only_b} layer"
                            f"{'s' if only_b != 1 else ''}): what pulling B after A downloads"),
              ("Snapshots", f"{d.shared_snapshots} shared (equal chain IDs from the base up)")])


def _argv(value: list[str] | None) -> str:
    return "-" if value is None else shlex.join(value)
