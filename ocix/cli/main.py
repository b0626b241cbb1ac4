"""The `ocix` command: global options and the single error boundary.

Only this package imports click.  Commands parse, call the library, render.  Anything heavy
(grpc, the stubs, rich, oras) is imported inside the command that needs it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..errors import OcixError
from .output import error_line

if TYPE_CHECKING:
    from ..containerd.connection import Connection


@dataclass
class State:
    """What the global options decided; commands get it with `pass_state`."""

    address: str | None = None
    namespace: str | None = None
    _conn: Connection | None = field(default=None, repr=False)

    def conn(self) -> Connection:
        if self._conn is None:
            from ..containerd.connection import Connection

            self._conn = Connection.from_env(self.address, self.namespace)
        return self._conn


pass_state = click.make_pass_decorator(State, ensure=True)


class OcixGroup(click.Group):
    """Catches OcixError once: one line, a hint, the right exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OcixError as e:
            error_line(e.message, e.hint)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `ocix ... | head`: the reader left; say nothing.
            sys.stderr.close()
            ctx.exit(1)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # keep the order commands were added: the lab first, then the layers


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=OcixGroup, context_settings=CONTEXT)
@click.option("--address", "-a", envvar="CONTAINERD_ADDRESS", metavar="SOCKET",
              help="containerd socket (env CONTAINERD_ADDRESS, default /run/containerd/containerd.sock).")
@click.option("--namespace", "-n", envvar="CONTAINERD_NAMESPACE", metavar="NS",
              help="containerd namespace (env CONTAINERD_NAMESPACE, default 'default').")
@click.option("--trace", is_flag=True, help="Print every gRPC and HTTP call with its timing on stderr.")
@click.version_option(__version__, "--version", "-V", prog_name="ocix")
@click.pass_context
def cli(ctx: click.Context, address: str | None, namespace: str | None, trace: bool) -> None:
    """ocix: explore OCI images and containers through containerd, runc, Docker and CRI.

    \b
    Start here:
      ocix lab up && eval "$(ocix lab env)"   # private containerd + registry, offline
      ocix version                             # client and daemon versions
      ocix plugins                             # what the daemon has loaded
      ocix namespaces ls                       # namespaces with image/container counts
    """
    ctx.obj = State(address=address, namespace=namespace)
    if trace or os.environ.get("OCIX_TRACE") == "1":
        from .. import trace as tracing

        tracing.enable()


def _register() -> None:
    from . import daemon, images, lab
    from . import run as runcmd
    from .validate import validate

    cli.add_command(lab.lab)
    for cmd in (daemon.version, daemon.plugins, daemon.namespaces, images.pull, images.images):
        cli.add_command(cmd)
    cli.add_command(validate)
    for cmd in (runcmd.run, runcmd.spec, runcmd.bundle, runcmd.containers_group, runcmd.tasks_group):
        cli.add_command(cmd)


_register()


def main() -> None:
    cli(prog_name="ocix")
