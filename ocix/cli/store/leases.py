"""`ocix leases ls|create|rm`: what keeps content and snapshots alive while a client works."""

from __future__ import annotations

from datetime import timedelta

import click

from ..main import State, pass_state
from ..options import json_option, key_value_pairs
from ..output import print_json, print_table

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """Seconds in `90s`, `15m`, `24h`, `7d`; `0` means never."""
    t = text.strip().lower()
    try:
        if t and t[-1] in _UNITS:
            return float(t[:-1]) * _UNITS[t[-1]]
        return float(t)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 15m, 24h or 7d") from None


@click.group("leases")
def leases_group() -> None:
    """\b
    Examples:
      ocix leases ls
      ocix leases create --expire 1h
      ocix leases rm my-lease --sync
    """


@leases_group.command("ls")
@json_option
@pass_state
def leases_ls(state: State, as_json: bool) -> None:
    """List leases with their labels and the content, snapshots and ingests they hold.

    \b
    Examples:
      ocix leases ls
      ocix -n k8s.io leases ls --json
    """
    from ...jobs.store.leases import list_with_resources

    rows = list_with_resources(state.conn())
    if as_json:
        print_json(rows)
        return
    print_table(["ID", "CREATED", "EXPIRES", "RESOURCES"],
                [[r.id, r.created_at.isoformat(timespec="seconds") if r.created_at else "",
                  r.expires or "never",
                  "\n".join(f"{x.type} {x.id}" for x in r.resources) or "-"] for r in rows],
                empty="no leases")


@leases_group.command("create")
@click.option("--id", "lease_id", metavar="ID", help="The lease ID (default: a generated one).")
@click.option("--expire", default="24h", show_default=True, metavar="DURATION",
              help="Drop protection after this long (90s, 15m, 24h, 7d; 0 = never).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Add a label.")
@json_option
@pass_state
def leases_create(state: State, lease_id: str | None, expire: str, labels: tuple[str, ...],
                  as_json: bool) -> None:
    """Create a lease and print its ID.

    Calls that send the ID in the containerd-lease gRPC header (the Go client's WithLease)
    add what they create to the lease: it stays until the lease is removed or expires.

    \b
    Examples:
      ocix leases create
      ocix leases create --id keep-me --expire 0 --label purpose=demo
    """
    from ...containerd import leases

    pairs = key_value_pairs(labels)
    seconds = _duration(expire)
    lease = leases.create(state.conn(), lease_id, labels=pairs, owned=False,
                          expire=timedelta(seconds=seconds) if seconds > 0 else None)
    if as_json:
        print_json(lease)
    else:
        click.echo(lease.id)


@leases_group.command("rm")
@click.argument("lease_ids", nargs=-1, required=True)
@click.option("--sync", is_flag=True, help="Wait for garbage collection before returning.")
@json_option
@pass_state
def leases_rm(state: State, lease_ids: tuple[str, ...], sync: bool, as_json: bool) -> None:
    """Remove leases; what only they kept goes at the next garbage collection.

    \b
    Examples:
      ocix leases rm my-lease
      ocix leases rm my-lease --sync     # and collect now
    """
    from ...jobs.store.leases import remove

    conn = state.conn()
    for lid in lease_ids:
        remove(conn, lid, sync)
        if not as_json:
            click.echo(lid)
    if as_json:
        print_json({"removed": list(lease_ids)})
