"""Commands about the daemon itself: version, plugins, namespaces."""

from __future__ import annotations

import click

from ... import __version__
from ..main import State, pass_state
from ..options import json_option, key_value_pairs, quiet_option
from ..output import print_json, print_kv, print_table


@click.command()
@json_option
@pass_state
def version(state: State, as_json: bool) -> None:
    """\b
    Examples:
      ocix version
      ocix version --json
      ocix -a /run/containerd/containerd.sock version
    """
    from ...containerd import version as v

    daemon = v.get(state.conn())
    if as_json:
        print_json({"client": {"version": __version__},
                    "server": {"version": daemon.version, "revision": daemon.revision,
                               "address": state.conn().address}})
        return
    print_kv([("Client:", ""), ("  Version", __version__), ("", ""), ("Server:", ""),
              ("  Version", daemon.version), ("  Revision", daemon.revision),
              ("  Address", state.conn().address)])


@click.command()
@click.option("--detailed", "-d", is_flag=True, help="Also show requires, exports and errors.")
@click.argument("filters", nargs=-1)
@json_option
@pass_state
def plugins(state: State, detailed: bool, filters: tuple[str, ...], as_json: bool) -> None:
    """FILTERS use containerd's filter syntax, e.g. `type==io.containerd.snapshotter.v1`.

    \b
    Examples:
      ocix plugins
      ocix plugins 'type==io.containerd.snapshotter.v1'
      ocix plugins --json | jq '.[] | select(.status != "ok")'
    """
    from ...containerd import introspection

    items = introspection.plugins(state.conn(), list(filters))
    if as_json:
        print_json(items)
        return
    cols = ["TYPE", "ID", "PLATFORMS", "STATUS"] + (["REQUIRES", "ERROR"] if detailed else [])
    rows = []
    for p in items:
        row = [p.type, p.id, ",".join(p.platforms) or "-", p.status]
        if detailed:
            row += [",".join(p.requires) or "-", p.error]
        rows.append(row)
    print_table(cols, rows, empty="no plugins")


@click.group()
def namespaces() -> None:
    """\b
    Examples:
      ocix namespaces ls
      ocix namespaces create lab --label owner=me
      ocix namespaces rm lab
    """


@namespaces.command("ls")
@quiet_option("Print only the names.")
@json_option
@pass_state
def namespaces_ls(state: State, quiet: bool, as_json: bool) -> None:
    """List namespaces with how many images and containers each holds.

    \b
    Examples:
      ocix namespaces ls
      ocix namespaces ls -q
      ocix namespaces ls --json
    """
    from ...containerd import namespaces as ns

    items = ns.usage(state.conn())
    if as_json:
        print_json(items)
    elif quiet:
        for n in items:
            click.echo(n.name)
    else:
        print_table(["NAME", "IMAGES", "CONTAINERS", "LABELS"],
                    [[n.name, n.images, n.containers,
                      ",".join(f"{k}={v}" for k, v in sorted(n.labels.items()))] for n in items],
                    empty="no namespaces")


@namespaces.command("create")
@click.argument("name")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Label to set (repeatable).")
@json_option
@pass_state
def namespaces_create(state: State, name: str, labels: tuple[str, ...], as_json: bool) -> None:
    """Create namespace NAME.

    \b
    Examples:
      ocix namespaces create lab
      ocix namespaces create lab --label owner=me --json
    """
    from ...containerd import namespaces as ns

    created = ns.create(state.conn(), name, key_value_pairs(labels))
    if as_json:
        print_json(created)
    else:
        click.echo(created.name)


@namespaces.command("rm")
@click.argument("names", nargs=-1, required=True)
@pass_state
def namespaces_rm(state: State, names: tuple[str, ...]) -> None:
    """Remove namespaces; containerd refuses one that still holds anything.

    \b
    Examples:
      ocix namespaces rm lab
      ocix namespaces rm lab other
    """
    from ...containerd import namespaces as ns

    for name in names:
        ns.remove(state.conn(), name)
        click.echo(name)
