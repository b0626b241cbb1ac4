"""`ocix validate`: OCI documents, image layouts, runtime bundles, images and refs.

jsonschema and fastjsonschema are imported inside the command (through ocix.validate's lazy
loaders), so `import ocix.cli.main` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ...errors import UsageError
from ..main import State, pass_state
from ..options import json_option, quiet_option
from ..output import print_json, wrap_paragraph

if TYPE_CHECKING:
    from ...validate.findings import Report

KIND_CHOICES = ("manifest", "index", "config", "descriptor", "layout", "bundle")


@click.command()
@click.argument("target", metavar="TARGET")
@click.argument("name", metavar="[NAME|REF]", required=False)
@click.option("--kind", "-k", type=click.Choice(KIND_CHOICES),
              help="Force the kind instead of detecting it.")
@quiet_option("Print nothing; the exit code is the verdict.")
@click.option("--hosts-dir", envvar="OCIX_HOSTS_DIR", metavar="DIR",
              help="For `ref`: containerd hosts dir (env OCIX_HOSTS_DIR).")
@click.option("--plain-http", is_flag=True, help="For `ref`: HTTP to a registry not on loopback.")
@click.option("--user", "-u", metavar="USER[:PASSWORD]", help="For `ref`: registry credentials.")
@click.option("--check-layers", is_flag=True,
              help="For `image` and `ref`: resolve every layer entry through the layers below it "
                   "like an extractor and list the hostile ones, as `ocix layers` does.")
@json_option
@pass_state
def validate(state: State, target: str, name: str | None, kind: str | None, quiet: bool,
             hosts_dir: str | None, plain_http: bool, user: str | None, check_layers: bool,
             as_json: bool) -> None:
    """TARGET is a JSON file (manifest, index, image config, descriptor, oci-layout header or a
    runtime config.json), '-' for stdin, an image layout directory (it has an oci-layout file:
    every blob's digest and size, every layer tar, the diff IDs), a runtime bundle directory
    (config.json plus its rootfs), `image NAME` for an image in containerd, or `ref REF` for an
    image in a registry.  With --check-layers an image's or ref's layer entries are also
    judged as `ocix layers` judges them (writes through symlinks, hostile hardlinks and
    whiteouts...): each hostile entry is a warning and `--json` lists them under "hostile".

    Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error or unreadable path.

    \b
    Examples:
      mkdir -p /tmp/b/rootfs && runc spec -b /tmp/b && ocix validate /tmp/b
      ocix validate manifest.json
      curl -s URL | ocix validate - --kind index
      ocix validate ./layout-dir --json | jq '.findings[] | select(.severity == "error")'
      ocix validate image docker.io/library/alpine:latest
      ocix validate ref localhost:5000/lab/alpine:3
      ocix validate ref busybox --hosts-dir "$OCIX_HOSTS_DIR"   # through the lab mirror
      ocix validate image busybox --check-layers --json | jq .hostile
    """
    from ...jobs.images import validation as remote
    from ...validate import targets

    if name is not None:
        if target not in ("image", "ref"):
            raise UsageError(f"unexpected extra argument {name!r}",
                             hint="use `ocix validate TARGET`, `ocix validate image NAME` or "
                                  "`ocix validate ref REF`")
        if kind is not None:
            raise UsageError(f"--kind does not apply to `{target} {name}`: it is walked as an image")
        if target == "image":
            report = remote.validate_containerd_image(state.conn(), name, hostile=check_layers)
        else:
            from ...registry.auth import parse_user

            report = remote.validate_registry_ref(
                name, hosts_dir=hosts_dir, plain_http=plain_http,
                credentials=parse_user(user) if user else None, hostile=check_layers)
    else:
        if check_layers:
            raise UsageError("--check-layers applies to `ocix validate image NAME` and "
                             "`ocix validate ref REF`")
        report = targets.validate_path(target, kind)
    if as_json:
        print_json(report.to_json())
    elif not quiet:
        render(report)
    if not report.valid:
        click.get_current_context().exit(1)


_STYLE: dict[str, dict[str, Any]] = {"error": {"fg": "red", "bold": True},
                                     "warning": {"fg": "yellow", "bold": True}}


def render(report: Report) -> None:
    """Findings grouped by severity, errors first, then the one-line verdict."""
    for severity, title in (("error", "Errors"), ("warning", "Warnings")):
        group = [f for f in report.findings if f.severity.value == severity]
        if not group:
            continue
        click.echo(click.style(f"{title} ({len(group)})", **_STYLE[severity]))
        for f in group:
            where = " ".join(p for p in (f.location, f.pointer or "/") if p)
            # Wrapped as plain text to the width, then the location is made bold.
            text = wrap_paragraph(f"{where}: {f.message}", indent="  ", hanging="    ")
            head = "  " + where
            click.echo("  " + click.style(where, bold=True) + text[len(head):]
                       if text.startswith(head + ":") else text)
            click.echo(click.style(f"      {f.spec} [{f.rule}]", dim=True))
            if f.hint:
                click.echo(click.style(wrap_paragraph(f"hint: {f.hint}", indent="      ",
                                                      hanging="        "), dim=True))
    counts = f"{_plural(report.errors, 'error')}, {_plural(report.warnings, 'warning')}"
    verdict = click.style(report.verdict, fg="green" if report.valid else "red", bold=True)
    click.echo(f"{report.kind} {report.target}: {verdict} ({counts})")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
