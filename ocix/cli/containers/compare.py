"""`ocix compare`: one command through every container stack on the host, side by side."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

import click

from ...jobs.compare.model import DEFAULT_TIMEOUT, NAMESPACE_TYPES, PATH_NAMES
from ..main import State, pass_state
from ..options import json_option, parse_bytes, process_options
from ..output import console, print_json, terminal_width, wrap_paragraph

if TYPE_CHECKING:
    from ...jobs.compare.differences import Difference
    from ...jobs.compare.model import CompareResult, PathResult


@click.command(context_settings={"allow_interspersed_args": False})
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@process_options
@click.option("--path", "paths", multiple=True, type=click.Choice(PATH_NAMES),
              help="Only these paths (repeatable); default: all six.")
@click.option("--rootless", is_flag=True,
              help="Also run podman-rootless and docker-rootless (`ocix lab up --with-rootless`).")
@click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="Time budget of each path, image pull included.")
@click.option("--html", "html", metavar="FILE",
              help="Also write the matrix and the capability grid as one HTML page.")
@click.option("--wide", is_flag=True,
              help="One matrix with every path, however wide (default: chunks that fit).")
@json_option
@pass_state
def compare(state: State, image: str, command: tuple[str, ...], env: tuple[str, ...],
            cap_add: tuple[str, ...], cap_drop: tuple[str, ...], memory: str | None,
            pids_limit: int | None, user: str | None, paths: tuple[str, ...], rootless: bool,
            timeout: float, html: str | None, wide: bool, as_json: bool) -> None:
    """Each available path runs the same command in IMAGE with the same flags: the Docker Engine
    API, containerd over gRPC (`ocix run`), runc and crun on an `ocix bundle`, a CRI pod on
    containerd's cri plugin, and podman's conmon stack. For each, the kernel's evidence is
    read from /proc while the container's init is held: namespaces, cgroup limits,
    capabilities, no_new_privs, seccomp, the init's parent. Then come the rows where the
    paths disagree, each with why. A missing daemon is skipped with its reason; everything
    a path made is removed, also on failure or Ctrl-C. With --rootless, the rootless lab's
    podman and dockerd run it too, as an unprivileged user: their containers show a user
    namespace of their own and a uid_map that makes uid 0 inside a plain user outside.

    \b
    Examples:
      ocix lab up --with-docker --with-podman && eval "$(ocix lab env)"
      ocix compare busybox -- sh -c 'grep CapEff /proc/self/status'
      ocix compare --cap-drop ALL busybox -- true
      ocix compare --memory 64m --pids-limit 50 --path docker --path podman busybox -- true
      ocix compare --json busybox -- id | jq '.paths[] | {path, cap_eff}'
      ocix compare --rootless --path podman busybox -- cat /proc/self/uid_map
      ocix compare --html compare.html busybox -- true
      ocix compare --wide busybox -- true | less -S
    """
    from ...jobs.compare.model import CompareOptions, Endpoints
    from ...jobs.compare.runner import compare as run_compare

    argv = list(command)
    if argv[:1] == ["--"]:  # after IMAGE every word is the command's; a leading -- is ours
        argv = argv[1:]
    opts = CompareOptions(image=image, command=argv, cap_add=list(cap_add),
                          cap_drop=list(cap_drop), memory=parse_bytes(memory) if memory else None,
                          pids_limit=pids_limit, user=user, env=list(env), paths=list(paths),
                          timeout=timeout, rootless=rootless)
    endpoints = Endpoints.from_env(state.address, state.namespace)
    tty = sys.stderr.isatty() and not as_json

    def progress(r: PathResult) -> None:
        if tty:
            click.echo(f"{r.path}: {r.outcome}", err=True)


    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # `kill` or `timeout` cleans up like Ctrl-C

    old = signal.signal(signal.SIGTERM, terminate)
    try:
        result = run_compare(opts, endpoints, on_path=progress)
    finally:
        signal.signal(signal.SIGTERM, old)
    if html:
        from ...report.collect import compare_page
        from ...report.page import write

        size = write(html, compare_page(result))
        click.echo(f"wrote {html} ({size} bytes)", err=True)
    if as_json:
        print_json({"paths": result.paths, "differences": result.differences})
    else:
        _render(result, wide)
    if any(r.error for r in result.paths) or not any(r.ran for r in result.paths):
        sys.exit(1)


def _calls(calls: list[str]) -> str:
    """Repeated calls in a row shown once with a count."""
    out: list[list[object]] = []
    for c in calls:
        if out and out[-1][0] == c:
            out[-1][1] = int(str(out[-1][1])) + 1
        else:
            out.append([c, 1])
    return "\n".join(f"{c} ×{n}" if int(str(n)) > 1 else str(c) for c, n in out)


def _limit(v: int | None) -> str:
    return "none" if v is None else str(v)


def _rows(r: PathResult) -> dict[str, str]:
    if not r.available:
        return {"status": f"skipped: {r.skipped_reason}"}
    rows = {"status": r.outcome, "chain": " → ".join(r.chain)}
    if r.parent:
        rows["parent"] = f"{r.parent.name} ({r.parent.pid})"
    rows.update({"pid": "" if r.pid is None else str(r.pid),
                 "exit_code": "" if r.exit_code is None else str(r.exit_code),
                 "stdout": (r.stdout or "").rstrip("\n")})
    for t in NAMESPACE_TYPES:
        ns = r.namespaces.get(t)
        if ns is not None:
            state = {True: "isolated", False: "shared", None: "?"}[ns.isolated]
            rows[f"ns {t}"] = f"{state} {ns.inode or ''}".strip()
    if r.uid_map:
        rows["uid_map"] = "\n".join(r.uid_map)
    if r.cgroup:
        c = r.cgroup
        rows["cgroup"] = c.path
        rows["memory limit"] = _limit(c.memory_limit)
        rows["pids limit"] = _limit(c.pids_limit)
        rows["cpu quota"] = "none" if c.cpu_quota_us is None else \
            f"{c.cpu_quota_us}/{c.cpu_period_us}"
    if r.cap_eff is not None:
        rows["cap_eff"] = r.cap_eff
        rows["capabilities"] = " ".join(n.removeprefix("CAP_") for n in r.capabilities) or "none"
    if r.no_new_privs is not None:
        rows["no_new_privs"] = str(r.no_new_privs).lower()
    if r.seccomp:
        rows["seccomp"] = r.seccomp
    if r.rlimits:
        rows["rlimits"] = "\n".join(f"{k} {v}" for k, v in r.rlimits.items())
    if r.mounts:
        rows["mounts"] = "\n".join(r.mounts)
    if r.rootfs:
        rows["rootfs"] = r.rootfs
    if r.timings:
        rows["timings"] = "\n".join(f"{k} {v * 1000:.0f} ms" for k, v in r.timings.items())
    if r.calls:
        rows["calls"] = _calls(r.calls)
    return rows


# A path's column is never narrower than this in the chunked form.
_MIN_PATH_COLUMN = 22


def path_chunks(label_width: int, n_paths: int, width: int) -> int:
    """How many path columns fit beside the property names in `width` (at least one)."""
    room = width - label_width
    return max(1, min(n_paths, room // (_MIN_PATH_COLUMN + 3)))


def _render(result: CompareResult, wide: bool = False) -> None:
    from rich import box
    from rich.table import Table

    per_path = [_rows(r) for r in result.paths]
    names: list[str] = []
    for rows in per_path:
        names += [k for k in rows if k not in names]
    label = max(len(n) for n in names) if names else 0
    width = terminal_width()
    natural = [max([len(r.path), *(len(ln) for v in rows.values() for ln in v.splitlines())])
               for r, rows in zip(result.paths, per_path, strict=True)]
    fits = label + sum(w + 3 for w in natural) <= width
    per = len(result.paths) if wide or fits else path_chunks(label, len(result.paths), width)
    for start in range(0, len(result.paths), per):
        chunk = list(range(start, min(start + per, len(result.paths))))
        if start:
            click.echo("")
        if per < len(result.paths):
            click.echo(f"paths {start + 1}-{chunk[-1] + 1} of {len(result.paths)}:")
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold",
                      show_lines=True)
        table.add_column("", no_wrap=True)
        column = (width - label - 3 * len(chunk)) // len(chunk)
        for i in chunk:
            if wide or fits:
                table.add_column(result.paths[i].path, no_wrap=True, overflow="ignore")
            else:
                table.add_column(result.paths[i].path, width=max(column, len(result.paths[i].path)),
                                 overflow="fold")
        for name in names:
            table.add_row(name, *(per_path[i].get(name, "") for i in chunk))
        console(width=4096 if wide else width).print(table)
    for note in reused_inodes(result.paths):
        click.echo("\n" + wrap_paragraph(note, hanging="  "))
    if sum(r.ran for r in result.paths) < 2:
        click.echo("\nDifferences: fewer than two paths ran.")
        return
    _render_differences(result.differences)


def reused_inodes(paths: list[PathResult]) -> list[str]:
    """A note for each isolated namespace inode that two paths share: the paths run one after
    another, and the kernel hands a freed namespace's inode number to the next one."""
    seen: dict[tuple[str, int], list[str]] = {}
    for r in paths:
        for t, ns in r.namespaces.items():
            if ns.isolated and ns.inode:
                seen.setdefault((t, ns.inode), []).append(r.path)
    return [f"note: {' and '.join(ps)} show the same {t} inode {inode}, yet each had a {t} "
            f"namespace of its own: the paths ran one after another, and once a container exits "
            f"the kernel reuses its namespace's inode number for the next new one."
            for (t, inode), ps in seen.items() if len(ps) > 1]


def _render_differences(diffs: list[Difference]) -> None:
    bold = sys.stdout.isatty()
    if not diffs:
        click.echo("\nDifferences: none among the paths that ran.")
        return
    click.echo("\nDifferences (only the rows where the paths disagree):")
    for d in diffs:
        groups: dict[str, list[str]] = {}
        for path, value in d.values.items():
            groups.setdefault(value, []).append(path)
        shown = "; ".join(f"{', '.join(ps)}: {_short(v)}" for v, ps in groups.items())
        first = wrap_paragraph(f"{d.row}  {shown}", indent="  ", hanging="      ", reflow=False)
        click.echo(first.replace(d.row, click.style(d.row, bold=bold), 1))
        if d.detail:
            click.echo(wrap_paragraph(d.detail, indent="    ", hanging="      "))
        click.echo(wrap_paragraph(f"why: {d.why}", indent="    ", hanging="      "))


def _short(value: str) -> str:
    one = value.rstrip("\n").replace("\n", "\\n")
    return one if len(one) <= 80 else one[:77] + "..."
