"""`ocix cri`: crictl's view of a node, over the CRI v1 API of containerd or CRI-O."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click

from ..main import State, pass_state
from ..options import json_option, key_value_pairs, quiet_option
from ..output import print_json, print_kv, print_table, write_all
from .show import (
    CONTAINER_COLUMNS,
    POD_COLUMNS,
    STATS_COLUMNS,
    CriState,
    container_pairs,
    container_rows,
    image_rows,
    pass_cri,
    pod_pairs,
    pod_rows,
    stats_rows,
    status_document,
)

T = TypeVar("T")

_label = click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
                      help="Only those with this label (repeatable).")
_no_trunc = click.option("--no-trunc", is_flag=True, help="Show full IDs.")
_quiet = quiet_option("Print only IDs.")


@click.group()
@click.option("--cri-address", "--runtime-endpoint", "-r", "cri_address", metavar="SOCKET",
              help="CRI socket, `unix://` optional (env CONTAINER_RUNTIME_ENDPOINT; default: "
                   "the containerd socket of --address / CONTAINERD_ADDRESS, e.g. the lab's).")
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
              metavar="SECONDS", help="Deadline of each CRI call.")
@pass_state
@click.pass_context
def cri(ctx: click.Context, state: State, cri_address: str | None, timeout: float) -> None:
    """\b
    Examples:
      ocix cri version
      ocix cri pods && ocix cri ps -a
      CONTAINER_RUNTIME_ENDPOINT=unix:///run/crio/crio.sock ocix cri images
      ocix cri runp pod.json                  # prints the pod ID
      ocix cri create POD_ID ctr.json pod.json && ocix cri start CONTAINER_ID
      ocix cri exec CONTAINER_ID ls /
    """
    cri_state = CriState(cri_address, state.address, timeout)
    ctx.obj = cri_state
    ctx.call_on_close(cri_state.close)


@cri.command()
@json_option
@pass_cri
def version(state: CriState, as_json: bool) -> None:
    """Print the runtime's name and version and the CRI API version it serves.

    \b
    Examples:
      ocix cri version
      ocix cri -r unix:///run/crio/crio.sock version --json
    """
    v = state.client().version()
    if as_json:
        print_json(v.api_json)
        return
    for key, value in (("Version", v.version), ("RuntimeName", v.runtime_name),
                       ("RuntimeVersion", v.runtime_version),
                       ("RuntimeApiVersion", v.runtime_api_version)):
        click.echo(f"{key}:  {value}")


@cri.command()
@json_option
@pass_cri
def info(state: CriState, as_json: bool) -> None:
    """Show the runtime's conditions (RuntimeReady, NetworkReady) and what its info covers.

    \b
    Examples:
      ocix cri info
      ocix cri info --json | jq .config.sandboxImage
    """
    r = state.client().info(verbose=True)
    if as_json:
        print_json(status_document([r]))
        return
    print_table(["CONDITION", "STATUS", "REASON", "MESSAGE"],
                [[c.type, str(c.status).lower(), c.reason, c.message] for c in r.conditions])
    if r.info:
        click.echo(f"\nVerbose info keys (see --json): {', '.join(r.info)}")


@cri.command()
@click.argument("image", required=False)
@_quiet
@click.option("--digests", is_flag=True, help="Show the repository digest.")
@_no_trunc
@json_option
@pass_cri
def images(state: CriState, image: str | None, quiet: bool, digests: bool, no_trunc: bool,
           as_json: bool) -> None:
    """List the runtime's images (one row per tag), or those IMAGE names.

    \b
    Examples:
      ocix cri images
      ocix cri images -q
      ocix cri images --digests --no-trunc busybox
    """
    found = state.client().list_images(image or "")
    if as_json:
        print_json({"images": [i.api_json for i in found]})
    elif quiet:
        for i in found:
            click.echo(i.id)
    else:
        columns, rows = image_rows(found, digests, no_trunc)
        print_table(columns, rows, empty="no images")


@cri.command()
@click.argument("image")
@pass_cri
def pull(state: CriState, image: str) -> None:
    """Pull IMAGE through the runtime, with the runtime's own registry configuration.

    \b
    Examples:
      ocix cri pull busybox:latest
      ocix cri pull "$(ocix lab env --registry)/library/busybox:latest"
    """
    click.echo(f"Image is up to date for {state.client().pull_image(image)}")


@cri.command()
@click.option("--id", "pod_id", default="", help="Only the pod with this ID.")
@click.option("--name", default="", metavar="REGEX", help="Only pods whose name matches.")
@click.option("--namespace", default="", metavar="REGEX",
              help="Only pods whose namespace matches.")
@click.option("--state", "-s", "pod_state", type=click.Choice(["ready", "notready"],
              case_sensitive=False), help="Only pods in this state.")
@_label
@click.option("--latest", "-l", is_flag=True, help="Only the newest pod.")
@click.option("--last", "-n", default=0, metavar="N", help="Only the N newest pods.")
@_quiet
@_no_trunc
@json_option
@pass_cri
def pods(state: CriState, pod_id: str, name: str, namespace: str, pod_state: str | None,
         labels: tuple[str, ...], latest: bool, last: int, quiet: bool, no_trunc: bool,
         as_json: bool) -> None:
    """List pod sandboxes, newest first.

    \b
    Examples:
      ocix cri pods
      ocix cri pods --name '^nginx' --state ready
      ocix cri pods -q | xargs -r ocix cri inspectp
    """
    from ...jobs.cri.crictl import list_pods

    found = list_pods(state.client(), pod_id=pod_id, name=name, namespace=namespace,
                      state=pod_state or "", labels=key_value_pairs(labels), latest=latest, last=last)
    if as_json:
        print_json({"items": [p.api_json for p in found]})
    elif quiet:
        for p in found:
            click.echo(p.id)
    else:
        print_table(POD_COLUMNS, pod_rows(found, no_trunc), empty="no pods")


@cri.command()
@click.option("--all", "-a", "show_all", is_flag=True, help="Show containers in every state.")
@click.option("--id", "container_id", default="", help="Only the container with this ID.")
@click.option("--name", default="", metavar="REGEX", help="Only containers whose name matches.")
@click.option("--pod", "-p", "pod_id", default="", help="Only containers of this pod ID.")
@click.option("--namespace", default="", metavar="REGEX",
              help="Only containers whose pod namespace matches.")
@click.option("--image", default="", help="Only containers of this image.")
@click.option("--state", "-s", "container_state",
              type=click.Choice(["created", "running", "exited", "unknown"], case_sensitive=False),
              help="Only containers in this state.")
@_label
@click.option("--latest", "-l", is_flag=True, help="Only the newest container (any state).")
@click.option("--last", "-n", default=0, metavar="N", help="Only the N newest (any state).")
@_quiet
@_no_trunc
@json_option
@pass_cri
def ps(state: CriState, show_all: bool, container_id: str, name: str, pod_id: str,
       namespace: str, image: str, container_state: str | None, labels: tuple[str, ...],
       latest: bool, last: int, quiet: bool, no_trunc: bool, as_json: bool) -> None:
    """List containers, newest first: running ones unless -a or --state.

    \b
    Examples:
      ocix cri ps
      ocix cri ps -a --pod POD_ID
      ocix cri ps --state exited -q
    """
    from ...jobs.cri.crictl import list_containers

    found = list_containers(state.client(), all=show_all, state=container_state or "",
                            container_id=container_id, pod_id=pod_id, name=name,
                            namespace=namespace, image=image, labels=key_value_pairs(labels),
                            latest=latest, last=last)
    if as_json:
        print_json({"containers": [e.container.api_json for e in found]})
    elif quiet:
        for e in found:
            click.echo(e.container.id)
    else:
        print_table(CONTAINER_COLUMNS, container_rows(found, no_trunc), empty="no containers")


def _show_statuses(statuses: list[T], pairs: Callable[[T], list[tuple[str, str]]],
                   as_json: bool) -> None:
    """inspect/inspectp: crictl's document with --json, else one key/value block each."""
    if as_json:
        print_json(status_document(statuses))
        return
    for n, s in enumerate(statuses):
        if n:
            click.echo()
        print_kv(pairs(s))


@cri.command()
@click.argument("ids", nargs=-1, required=True)
@json_option
@pass_cri
def inspect(state: CriState, ids: tuple[str, ...], as_json: bool) -> None:
    """Show the status of one or more containers (--json: crictl inspect's document).

    \b
    Examples:
      ocix cri inspect CONTAINER_ID
      ocix cri inspect CONTAINER_ID --json | jq .info.pid
    """
    _show_statuses([state.client().container_status(i, verbose=as_json) for i in ids],
                   container_pairs, as_json)


@cri.command()
@click.argument("ids", nargs=-1, required=True)
@json_option
@pass_cri
def inspectp(state: CriState, ids: tuple[str, ...], as_json: bool) -> None:
    """Show the status of one or more pods (--json: crictl inspectp's document).

    \b
    Examples:
      ocix cri inspectp POD_ID
      ocix cri inspectp POD_ID --json | jq .status.linux.namespaces
    """
    _show_statuses([state.client().pod_status(i, verbose=as_json) for i in ids],
                   pod_pairs, as_json)


@cri.command()
@click.argument("container_id")
@click.option("--tail", default=-1, metavar="N", help="Only the last N lines.")
@click.option("--timestamps", "-t", is_flag=True, help="Prefix each line with its time.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until it exits.")
@json_option
@pass_cri
def logs(state: CriState, container_id: str, tail: int, timestamps: bool, follow: bool,
         as_json: bool) -> None:
    """Print a container's log (stdout lines to stdout, stderr lines to stderr).

    The runtime names the log file; ocix reads it from this host's disk, like crictl.

    \b
    Examples:
      ocix cri logs CONTAINER_ID
      ocix cri logs --tail 20 -t CONTAINER_ID
      ocix cri logs -f CONTAINER_ID
    """
    from ...cri import logs as crilogs

    client = state.client()
    path = client.container_status(container_id).log_path
    n = tail if tail >= 0 else None
    if as_json:
        print_json(crilogs.read(path, n))
        return
    entries = (crilogs.follow(path, lambda: client.container_status(container_id).state
                              == "running", n) if follow else crilogs.read(path, n))
    for e in entries:
        line = f"{e.time} {e.text}" if timestamps else e.text
        click.echo(line, err=e.stream == "stderr")
        sys.stdout.flush()


@cri.command("exec", context_settings={"ignore_unknown_options": True,
                                       "allow_interspersed_args": False})
@click.option("--timeout", default=0, metavar="SECONDS", help="Kill the command after this long.")
@click.argument("container_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@json_option
@pass_cri
@click.pass_context
def exec_(ctx: click.Context, state: CriState, timeout: int, container_id: str,
         command: tuple[str, ...], as_json: bool) -> None:
    """Run COMMAND in a running container and wait (ExecSync); exits with its exit code.

    \b
    Examples:
      ocix cri exec CONTAINER_ID cat /etc/hostname
      ocix cri exec --timeout 5 CONTAINER_ID sh -c 'id; exit 3'; echo $?
    """
    r = state.client().exec_sync(container_id, list(command), timeout)
    if as_json:
        print_json({"stdout": r.stdout.decode("utf-8", "replace"),
                    "stderr": r.stderr.decode("utf-8", "replace"), "exitCode": r.exit_code})
    else:
        write_all(r.stdout)
        sys.stderr.buffer.write(r.stderr)
        sys.stderr.flush()
    ctx.exit(r.exit_code)


@cri.command()
@click.argument("container_id", required=False)
@click.option("--all", "-a", "show_all", is_flag=True, help="Also containers that are not running.")
@click.option("--pod", "-p", "pod_id", default="", help="Only containers of this pod ID.")
@_label
@click.option("--seconds", "-s", default=1.0, type=click.FloatRange(min=0.1), show_default=True,
              help="How long to sample CPU use.")
@_no_trunc
@json_option
@pass_cri
def stats(state: CriState, container_id: str | None, show_all: bool, pod_id: str,
          labels: tuple[str, ...], seconds: float, no_trunc: bool, as_json: bool) -> None:
    """Show containers' CPU, memory and writable-layer use (two samples SECONDS apart).

    \b
    Examples:
      ocix cri stats
      ocix cri stats -a --pod POD_ID
      ocix cri stats CONTAINER_ID --json
    """
    from ...jobs.cri.crictl import sample_stats

    rows = sample_stats(state.client(), seconds=seconds, all=show_all,
                        container_id=container_id or "", pod_id=pod_id,
                        labels=key_value_pairs(labels))
    if as_json:
        print_json({"stats": [r.stats.api_json for r in rows]})
        return
    print_table(STATS_COLUMNS, stats_rows(rows, no_trunc), empty="no running containers")


def _register() -> None:
    from .lifecycle import COMMANDS

    for cmd in COMMANDS:
        cri.add_command(cmd)


_register()
