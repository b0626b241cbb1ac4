"""`ocix events`: containerd's event stream, one readable line per event."""

from __future__ import annotations

import json

import click

from ..main import State, pass_state
from ..options import json_option


@click.command("events")
@click.option("--filter", "-f", "filters", multiple=True, metavar="FILTER",
              help='containerd filter, e.g. topic=="/tasks/exit" or namespace==default (repeat = OR).')
@click.option("--count", "-c", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", "-t", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop after this many seconds.")
@json_option
@pass_state
def events(state: State, filters: tuple[str, ...], count: int | None, timeout: float | None,
           as_json: bool) -> None:
    """Each event's payload is decoded by its type: a task exit with its pid and status, an image
    created with its name, a snapshot committed with its key.  This is the containerd answer
    to `journalctl -u docker`.  With --json, one JSON object per line.  With --count and
    --timeout, fewer than N events in time is an error (exit 1).

    \b
    Examples:
      ocix events
      ocix events --count 1 --filter 'topic=="/tasks/exit"'
      ocix events -f 'topic~="/images/"' -f 'topic~="/snapshot/"' --json
      ocix events --timeout 10
    """
    from ...containerd.events import subscribe
    from ...errors import OcixError
    from ...jobs.store.events import describe, line
    from ..output import to_jsonable

    n = 0
    for ev in subscribe(state.conn(), list(filters), timeout=timeout):
        if as_json:
            click.echo(json.dumps({**to_jsonable(ev), "summary": describe(ev)}))
        else:
            click.echo(line(ev))
        n += 1
        if count is not None and n >= count:
            return
    if count is not None:
        raise OcixError(f"{n} of {count} events within {timeout:g}s" if timeout else
                        f"the event stream ended after {n} of {count} events")
