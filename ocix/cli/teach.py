"""`ocix explain` and `ocix tour`: the topics and the guided walk through the lab handout."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from .output import json_option, print_json, print_table, to_jsonable

if TYPE_CHECKING:
    from ..jobs.explain import Topic


def command_problem(line: str) -> str | None:
    """None when `line` (an `ocix …` command) names a command of this build that accepts its
    flags; otherwise why not. Only click's option parser runs: no callbacks, no type
    conversion (placeholders like PID stay words), nothing is invoked."""
    from .main import cli

    try:
        argv = shlex.split(line)
    except ValueError as e:
        return f"cannot split: {e}"
    if not argv or argv[0] != "ocix":
        return "does not start with `ocix`"
    cmd: click.Command = cli
    path = ["ocix"]
    args = argv[1:]
    parent: click.Context | None = None
    try:
        while True:
            ctx = click.Context(cmd, info_name=path[-1], parent=parent)
            _, rest, _ = cmd.make_parser(ctx).parse_args(list(args))
            if not isinstance(cmd, click.Group):
                if rest and not ctx.allow_extra_args:
                    return f"`{' '.join(path)}`: unexpected extra arguments {rest}"
                return None
            if not rest:
                return None
            sub = cmd.get_command(ctx, rest[0])
            if sub is None:
                return f"needs `{' '.join([*path, rest[0]])}` (not in this build)"
            cmd, parent, args = sub, ctx, rest[1:]
            path.append(rest[0])
    except click.UsageError as e:
        return f"`{' '.join(path)}`: {e.format_message()}"


@click.command()
@click.argument("topic", required=False)
@click.option("--no-live", is_flag=True, help="Skip the live checks of this host.")
@json_option
def explain(topic: str | None, no_live: bool, as_json: bool) -> None:
    """Explain a part of the container stack, with its diagram and what runs on this host.

    Topics: docker, containerd, cri, cri-o, podman, runc, oci, shims, namespaces, cgroups,
    capabilities, storage, rootless. Without TOPIC, lists them. Each topic shows a short
    text, a diagram of the stack, live marks (which parts are installed and running here,
    with versions, asked from the binaries and daemons themselves) and the ocix commands
    that show it.

    \b
    Examples:
      ocix explain                     # the topics
      ocix explain containerd
      ocix explain rootless --json | jq '.parts[] | {part, running, version}'
    """
    from ..jobs import explain as job

    if topic is None:
        topics = job.all_topics()
        if as_json:
            print_json({"topics": [{"name": t.name, "title": t.title, "summary": t.summary}
                                   for t in topics]})
            return
        print_table(["TOPIC", "SUMMARY"], [[t.name, t.summary] for t in topics])
        click.echo("\nnext: ocix explain TOPIC")
        return
    t = job.explain(topic, live=not no_live)
    commands = [{"command": c, "problem": command_problem(c)} for c in t.commands]
    if as_json:
        print_json({"topic": t.name, "title": t.title, "summary": t.summary, "diagram": t.diagram,
                    "text": t.text, "parts": to_jsonable(t.marks),
                    "commands": [{"command": c["command"], "available": c["problem"] is None,
                                  "problem": c["problem"] or ""} for c in commands]})
        return
    _render_topic(t, commands)


def _render_topic(t: Topic, commands: list[dict[str, Any]]) -> None:
    bold = sys.stdout.isatty()
    click.echo(click.style(t.title, bold=bold))
    click.echo(t.summary + "\n")
    click.echo(click.style("Stack", bold=bold))
    for line in t.diagram.splitlines():
        click.echo("  " + line)
    click.echo("")
    click.echo(t.text + "\n")
    if t.marks:
        print_table(["ON THIS HOST", "STATE", "VERSION", "DETAIL"],
                    [[m.part, _state(m.present, m.running), m.version or "-", m.detail]
                     for m in t.marks])
        click.echo("")
    click.echo(click.style("Try", bold=bold))
    for c in commands:
        click.echo(f"  {c['command']}" + (f"    # {c['problem']}" if c["problem"] else ""))


def _state(present: bool, running: bool | None) -> str:
    if running is True:
        return "running"
    if not present:
        return "absent"
    return "present" if running is None else "stopped"
