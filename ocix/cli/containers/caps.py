"""`ocix caps`: capability masks to names and back, and the difference of two sets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..options import json_option
from ..output import print_json, print_kv, print_table

if TYPE_CHECKING:
    from ...kernel.caps import CapDiff, CapSet


@click.command()
@click.argument("caps", nargs=-1, metavar="HEX|NAME...")
@click.option("--diff", "diff", nargs=2, metavar="A B",
              help="Show what set A has that set B lacks and the reverse; each a hex mask or "
                   "comma-separated names.")
@json_option
def caps(caps: tuple[str, ...], diff: tuple[str, str] | None, as_json: bool) -> None:
    """A hex argument (a CapEff value from /proc/PID/status, with or without 0x) is decoded to
    its capabilities, one set per mask. Names (NET_RAW, CAP_NET_RAW, net_raw, or ALL for every
    capability this kernel has) are combined into one set and encoded as a mask.

    \b
    Examples:
      ocix caps 00000000a80425fb                       # docker's and containerd's default set
      ocix caps NET_RAW MKNOD AUDIT_WRITE              # -> 0000000028002000
      ocix caps --diff 00000000a80425fb 00000000800405fb   # docker vs podman defaults
      ocix caps --diff ALL 000001fffeffffff           # what this VM's root lacks
      grep CapEff /proc/self/status | cut -f2 | xargs ocix caps --json
    """
    from ...kernel.caps import cap_last_cap, diff_caps, parse_cap_args, parse_caps

    last = cap_last_cap()
    if diff:
        if caps:
            raise click.UsageError("give either HEX|NAME... or --diff A B, not both")
        d = diff_caps(parse_caps(diff[0], last), parse_caps(diff[1], last))
        if as_json:
            print_json({"a": _set_json(diff[0], d.a), "b": _set_json(diff[1], d.b),
                        "only_a": d.only_a, "only_b": d.only_b, "both": d.both})
        else:
            _render_diff(d)
        return
    if not caps:
        raise click.UsageError("give a hex mask or capability names, or --diff A B")
    sets = parse_cap_args(caps, last)
    if as_json:
        print_json([_set_json(arg, s) for arg, s in sets])
        return
    for i, (_, s) in enumerate(sets):
        if i:
            click.echo()
        _render_set(s)


def _set_json(arg: str, s: CapSet) -> dict[str, Any]:
    return {"input": arg, "hex": s.hex, "count": len(s.names), "names": s.names}


def _render_set(s: CapSet) -> None:
    from ...kernel.caps import cap_number

    print_kv([("Mask", s.hex), ("Count", len(s.names))])
    print_table(["BIT", "NAME"], [[cap_number(n), n] for n in s.names], empty="no capabilities")


def _render_diff(d: CapDiff) -> None:
    from ...kernel.caps import cap_number

    print_kv([("A", f"{d.a.hex} ({_count(d.a)})"), ("B", f"{d.b.hex} ({_count(d.b)})"),
              ("In both", len(d.both))])
    rows = [(cap_number(n), n, "A only") for n in d.only_a]
    rows += [(cap_number(n), n, "B only") for n in d.only_b]
    print_table(["BIT", "CAPABILITY", "IN"], sorted(rows), empty="no difference")


def _count(s: CapSet) -> str:
    return "1 capability" if len(s.names) == 1 else f"{len(s.names)} capabilities"
