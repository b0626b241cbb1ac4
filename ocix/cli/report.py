"""`ocix report`: one self-contained HTML page about this host, its stack, images and store."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

import click

from .main import State, pass_state
from .options import platform_option
from .output import human_size

if TYPE_CHECKING:
    from ..jobs.compare.model import CompareResult, PathResult


@click.command()
@click.argument("images", nargs=-1, metavar="[IMAGE]...")
@click.option("--compare", "compare_cmd", metavar="CMD",
              help="Also run CMD through every path (`ocix compare`) in the first IMAGE "
                   "(busybox without one) and draw the matrix and live call chains.")
@click.option("--why", "why_ref", metavar="REF",
              help="The blob or snapshot whose references to draw (default: the first "
                   "IMAGE's base layer).")
@click.option("-o", "--output", default="ocix-report.html", show_default=True, metavar="FILE",
              help="Where to write the page.")
@platform_option
@pass_state
def report(state: State, images: tuple[str, ...], compare_cmd: str | None, why_ref: str | None,
           output: str, platform: str | None) -> None:
    """The page is one file that works offline: its CSS, SVG and one small script are inline,
    it asks no host for anything (its Content-Security-Policy forbids it), and it reads the
    same with scripts off.  Sections: the host's daemons, runtimes, cgroup mode and the six
    call chains; with --compare the matrix of every path with the odd cells and their why,
    and a capability grid; per IMAGE its index → manifest → config → layers, each layer's
    history line and A/C/D/O counts, and the final filesystem as a tree; the store's
    snapshot chains, disk usage per image, and the references that keep one object.
    Everything shown is escaped: names, labels and paths may come from anyone.

    \b
    Examples:
      ocix report -o host.html
      ocix report busybox "$OCIX_REGISTRY/library/layers:latest" -o images.html
      ocix report busybox --compare 'grep Cap /proc/self/status' -o compare.html
      ocix report busybox --why sha256:2f1e -o why.html
    """
    from ..report.collect import ReportRequest, report_page
    from ..report.page import write

    result = None
    if compare_cmd is not None:
        result = run_compare(state, images[0] if images else "busybox", shlex.split(compare_cmd))
    tty = sys.stderr.isatty()

    def progress(msg: str) -> None:
        if tty:
            click.echo(msg, err=True)

    html = report_page(state.conn(), ReportRequest(list(images), platform, why_ref), result,
                       progress)
    size = write(output, html)
    click.echo(f"wrote {output} ({human_size(size)})")


def run_compare(state: State, image: str, argv: list[str]) -> CompareResult:
    from ..jobs.compare.model import CompareOptions, Endpoints
    from ..jobs.compare.runner import compare

    tty = sys.stderr.isatty()

    def progress(r: PathResult) -> None:
        if tty:
            click.echo(f"compare: {r.path} done", err=True)

    return compare(CompareOptions(image=image, command=argv),
                   Endpoints.from_env(state.address, state.namespace), on_path=progress)
