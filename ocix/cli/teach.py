"""`ocix explain` and `ocix tour`: the topics and the guided walk through the lab handout."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from .options import json_option
from .output import (
    echo_paragraphs,
    print_json,
    print_table,
    terminal_width,
    to_jsonable,
    wrap_paragraph,
)

if TYPE_CHECKING:
    from ..teach.explain import Topic


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
            ctx = click.Context(cmd, info_name=path[-1], parent=parent, **cmd.context_settings)
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
@click.option("--html", "html_dir", metavar="DIR",
              help="Write every topic (or only TOPIC) as an HTML page into DIR, with index.html.")
@json_option
def explain(topic: str | None, no_live: bool, html_dir: str | None, as_json: bool) -> None:
    """Topics: docker, containerd, cri, cri-o, podman, runc, oci, shims, namespaces, cgroups,
    capabilities, storage, rootless. Without TOPIC, lists them. Each topic shows a short
    text, a diagram of the stack, live marks (which parts are installed and running here,
    with versions, asked from the binaries and daemons themselves) and the ocix commands
    that show it.

    \b
    Examples:
      ocix explain                     # the topics
      ocix explain containerd
      ocix explain rootless --json | jq '.parts[] | {part, running, version}'
      ocix explain --html handbook/ && xdg-open handbook/index.html
    """
    from ..teach import explain as job

    if html_dir is not None:
        _write_handbook(html_dir, topic, not no_live)
        return
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


def _write_handbook(directory: str, topic: str | None, live: bool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from ..report.handbook import explain_pages
    from ..teach import explain as job

    names = [job.resolve_name(topic)] if topic else job.topic_names()
    with ThreadPoolExecutor(max_workers=4) as pool:  # each topic's probes run in parallel too
        topics = list(pool.map(lambda n: job.explain(n, live=live), names))
    commands = {t.name: [(c, command_problem(c)) for c in t.commands] for t in topics}
    written = explain_pages(directory, topics, commands)
    click.echo(f"wrote {len(written)} pages into {directory} (start at "
               f"{written[0]})")


def _render_topic(t: Topic, commands: list[dict[str, Any]]) -> None:
    bold = sys.stdout.isatty()
    click.echo(click.style(t.title, bold=bold))
    click.echo(wrap_paragraph(t.summary, hanging="") + "\n")
    click.echo(click.style("Stack", bold=bold))
    for line in t.diagram.splitlines():
        click.echo("  " + line)
    click.echo("")
    echo_paragraphs(t.text)
    click.echo("")
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


@click.command()
@click.option("--list", "list_only", is_flag=True, help="List the steps and what each needs.")
@click.option("--step", "numbers", multiple=True, type=int, metavar="N",
              help="Run step N (repeatable).")
@click.option("--all", "run_all", is_flag=True, help="Run every step, in order.")
@click.option("--from-kernel", "from_kernel", is_flag=True,
              help="Run every step bottom-up: unshare, runc, containerd, Docker, the CRI, podman.")
@click.option("--yes", "-y", is_flag=True, help="Start the lab parts the steps need without asking.")
@click.option("--dir", "directory", envvar="OCIX_LAB_DIR", metavar="DIR",
              help="Lab state directory (env OCIX_LAB_DIR, default /var/lib/ocix-lab).")
@click.option("--record", "record_dir", metavar="DIR",
              help="Also write each step run (command, output, explanation) as an HTML page "
                   "into DIR, with index.html.")
@json_option
def tour(list_only: bool, numbers: tuple[int, ...], run_all: bool, from_kernel: bool, yes: bool,
         directory: str | None, record_dir: str | None, as_json: bool) -> None:
    """Every step shows the command the handout runs by hand, what to look for, the ocix
    command run now against the lab with its output, and what it showed. Steps that need a
    part of the lab (dockerd, the rootless user) start it with --yes, ask on a terminal, or
    are skipped with the command that starts it. Everything the tour creates (containers,
    tasks, bundles, processes) is removed before it returns; the lab itself keeps running.

    \b
    Examples:
      ocix tour --list
      ocix tour --step 24                  # unshare: a pid namespace by hand
      ocix tour --step 8 --step 9 --yes
      ocix tour --from-kernel --yes         # unshare and runc first, Docker and the CRI last
      ocix tour --all --yes --json | jq '.steps[] | {number, ok, skipped_reason}'
      ocix tour --step 1 --step 2 --record transcript/
    """
    from ..teach import tour as job

    steps = job.load_steps()
    if record_dir is not None and (list_only or not (numbers or run_all or from_kernel)):
        raise click.UsageError("--record writes the steps run: give --step N, --all or "
                               "--from-kernel")
    if list_only or not (numbers or run_all or from_kernel):
        _list_steps(steps, as_json)
        return
    if from_kernel:
        selected = job.select(steps, job.from_kernel_order())
    else:
        selected = job.select(steps, list(numbers) if numbers and not run_all else None)
    unavailable = _prepare_lab(directory, job.parts_needed(selected), yes, as_json)
    from ..lab import parts
    from ..lab.state import lab_dir

    env = parts.environment(directory)
    # The commands a step runs print inside the step, two columns in.
    env["COLUMNS"] = str(max(40, terminal_width() - 2))
    session = job.Session(env, command_problem, str(lab_dir(directory)))
    session.keep = job.kept_fixtures(steps, selected)
    results = []
    try:
        for step in selected:
            result = job.run_step(session, step, unavailable)
            results.append(result)
            if not as_json:
                _render_step(result, len(steps))
    finally:
        left = session.close()
    for problem in left:
        click.echo(f"tour: could not remove {problem}", err=True)
    if record_dir is not None:
        _record(record_dir, results, len(steps))
    if as_json:
        print_json({"steps": results})
    else:
        ok = sum(r.ok for r in results)
        click.echo(f"tour: {ok} of {len(results)} steps ok" +
                   ("" if ok == len(results) else "; see the reasons above"))
    if left or not all(r.ok for r in results):
        sys.exit(1)


def _record(directory: str, results: list[Any], total: int) -> None:
    import os
    from datetime import UTC, datetime

    from ..report.handbook import tour_pages

    written = tour_pages(directory, results, total, {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "host": os.uname().nodename})
    click.echo(f"tour: wrote {len(written)} pages into {directory}", err=True)


def _list_steps(steps: list[Any], as_json: bool) -> None:
    if as_json:
        print_json({"steps": [{"number": s.number, "title": s.title, "needs": s.needs,
                               "handout_command": s.handout, "ocix_command": s.ocix_command}
                              for s in steps]})
        return
    print_table(["STEP", "TITLE", "NEEDS", "OCIX"],
                [[s.number, s.title, ", ".join(s.needs) or "-", s.listing]
                 for s in steps])
    click.echo("\nnext: ocix tour --step N, or ocix tour --all --yes")


def _prepare_lab(directory: str | None, needed: set[str], yes: bool, quiet: bool
                 ) -> dict[str, str]:
    """Start what the steps need (asked, or with --yes); returns part -> why it is missing."""
    from ..lab import parts

    missing = parts.missing(directory, needed)
    if not missing:
        return {}
    start = yes
    if not yes and sys.stdin.isatty() and not quiet:
        what = ", ".join(parts.PARTS[p] for p in missing)
        start = click.confirm(f"The steps need {what}. Start them now?", default=True)
    if not start:
        return parts.not_started(missing, "pass --yes to start it" if sys.stdin.isatty()
                                 else "start it, or pass --yes")
    progress = (lambda _m: None) if quiet else (lambda m: click.echo(f"lab: {m}", err=True))
    if "rootless" in missing and not quiet:
        click.echo("lab: starting the rootless lab: this creates the Unix user ocixlab (and its "
                   "/etc/subuid and /etc/subgid ranges) if it does not exist; "
                   "`ocix lab down --purge` removes it", err=True)
    return parts.start(directory, missing, progress)


def _render_step(r: Any, total: int) -> None:
    bold = sys.stdout.isatty()
    click.echo(click.style(f"── Step {r.number}/{total}: {r.title} ──", bold=bold))
    click.echo("By hand (the handout):")
    click.echo("\n".join("  " + ln for ln in r.handout_command.splitlines()))
    click.echo(wrap_paragraph(f"Look for: {r.look_for}"))
    click.echo("With ocix:")
    if r.output:
        click.echo("\n".join("  " + ln for ln in r.output.splitlines()))
    click.echo(wrap_paragraph(f"What it showed: {r.explanation}"))
    click.echo(wrap_paragraph("Result: " + ("ok" if r.ok else r.skipped_reason)) + "\n")
