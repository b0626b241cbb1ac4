"""The `ocix` command: global options and the single error boundary.

Only this package imports click.  Commands parse, call the library, render.  Anything heavy
(grpc, the stubs, rich, oras) is imported inside the command that needs it.
"""

from __future__ import annotations

import importlib
import inspect  # click imports it already
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..errors import OcixError
from .hints import hint_for
from .output import error_line

if TYPE_CHECKING:
    from ..containerd.connection import Connection


class State:
    """What the global options decided; commands get it with `pass_state`.

    A plain class, not a dataclass: importing dataclasses costs start-up time on every call."""

    def __init__(self, address: str | None = None, namespace: str | None = None) -> None:
        self.address = address
        self.namespace = namespace
        self._conn: Connection | None = None

    def conn(self) -> Connection:
        if self._conn is None:
            from ..containerd.connection import Connection

            self._conn = Connection.from_env(self.address, self.namespace)
        return self._conn


pass_state = click.make_pass_decorator(State, ensure=True)


# name -> (module in ocix.cli, attribute, the summary `ocix --help` shows).  Command modules are
# imported only when their command runs, so `ocix --help` loads click and nothing else heavy.
# The summary is written only here: get_command makes it the first line of the command's help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "lab": ("host.lab", "lab",
            "Run the embedded lab: a private containerd, a loopback registry, optionally dockerd, podman."),
    "version": ("host.daemon", "version", "Print the client version and the daemon's version and revision."),
    "plugins": ("host.daemon", "plugins",
                "List the daemon's plugins: type, id, platforms and status, like `ctr plugins ls`."),
    "namespaces": ("host.daemon", "namespaces", "Manage containerd namespaces."),
    "pull": ("images.images", "pull", "Pull REF into containerd and unpack it, like `ctr images pull`."),
    "images": ("images.images", "images", "List, check and remove images in containerd."),
    "layers": ("images.layers", "layers",
               "Show what each layer of IMAGE adds, changes and deletes, read from containerd."),
    "diff": ("images.diff", "diff",
             "Compare images A and B file by file, or a container with its image (--container)."),
    "cat": ("images.cat", "cat", "Print one file of IMAGE's final filesystem to stdout, without running the image."),
    "cp": ("images.cat", "cp",
           "Copy a file or directory of IMAGE's final filesystem to DEST, without running the image."),
    "run": ("containers.run", "run",
            "Run COMMAND (default: the image's Entrypoint + Cmd) in a new container of IMAGE."),
    "spec": ("containers.run", "spec", "Print the OCI runtime spec `ocix run` would send for IMAGE and these flags."),
    "bundle": ("containers.run", "bundle", "Write an OCI runtime bundle: DIRECTORY/config.json and DIRECTORY/rootfs."),
    "containers": ("containers.run", "containers_group",
                   "List, inspect and remove containers (the metadata records `ctr containers` shows)."),
    "tasks": ("containers.run", "tasks_group", "List, signal, remove tasks and run processes in them."),
    "cri": ("cri.commands", "cri",
            "Explore a node through the Kubernetes CRI (containerd's cri plugin or CRI-O), like crictl."),
    "kernel": ("containers.kernel", "kernel",
               "Show the kernel view of a container's process: namespaces, cgroups, capabilities."),
    "compare": ("containers.compare", "compare",
                "Run COMMAND through docker, containerd, runc, crun, CRI and podman, and compare them."),
    "info": ("host.info", "info",
             "Show the container daemons, sockets and runtimes of this host, with live versions."),
    "caps": ("containers.caps", "caps",
             "Convert capability masks to names and names to a mask; compare two sets with --diff."),
    "registry": ("registry.browse", "registry",
                 "Browse a registry without pulling: repositories, tags, manifests across platforms."),
    "referrers": ("registry.artifacts", "referrers",
                  "Show the tree of artifacts whose subject is REF (SBOMs, signatures, attestations)."),
    "attach": ("registry.artifacts", "attach", "Push FILEs as an artifact whose subject is REF (through oras-py)."),
    "artifact": ("registry.artifacts", "artifact", "Fetch an OCI artifact's files from a registry."),
    "copy": ("registry.artifacts", "copy",
             "Copy an image or a whole index between registries and OCI layouts (oci:DIR[:TAG])."),
    "sbom": ("registry.sbom", "sbom",
             "List IMAGE's packages (dpkg, apk, busybox) from its layers in the registry, as CycloneDX."),
    "validate": ("images.validate", "validate",
                 "Validate OCI content against ocix's schemas and the spec's prose rules."),
    "snapshots": ("store.snapshots", "snapshots_group",
                  "List, explain, mount and remove snapshots (the unpacked layers and container rootfs)."),
    "content": ("store.content", "content_group", "List, read, explain and remove blobs in the content store."),
    "df": ("store.df", "df",
           "Show the bytes in the content store and in snapshots, and per image what it shares."),
    "why": ("store.why", "why",
            "Print the chains of references that keep a blob or snapshot from garbage collection."),
    "leases": ("store.leases", "leases_group", "List, create and remove leases, with the resources each one holds."),
    "events": ("store.events", "events", "Stream containerd's events (every namespace) as readable lines, until Ctrl-C."),
    "report": ("report", "report",
               "Write one HTML page about this host: its stack, a compare run, images and the store."),
    "explain": ("teach", "explain",
                "Explain a part of the container stack, with its diagram and what runs on this host."),
    "tour": ("teach", "tour",
             "Walk through the lab handout's hands-on steps, each run live with ocix against the lab."),
}


class OcixGroup(click.Group):
    """Catches OcixError once: one line, a hint (cli/hints.py), the right exit code, never a
    traceback.

    Subcommands load lazily from COMMANDS."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute, summary = entry
        module = importlib.import_module(f"{__package__}.{module_name}")
        cmd: click.Command = getattr(module, attribute)
        if not (cmd.help or "").startswith(summary):
            rest = inspect.cleandoc(cmd.help) if cmd.help else ""
            cmd.help = f"{summary}\n\n{rest}" if rest else summary
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, _, summary) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OcixError as e:
            error_line(e.message, hint_for(e))
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # `ocix ... | head`: the reader left; say nothing.
            sys.stderr.close()
            ctx.exit(1)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)  # the lab first, then the layers from daemon to runtime


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
      ocix explain                             # the stack, topic by topic, live on this host
      ocix tour --list                         # the lab handout's 25 steps, run live
    """
    ctx.obj = State(address=address, namespace=namespace)
    if trace or os.environ.get("OCIX_TRACE") == "1":
        from .. import trace as tracing

        tracing.enable()

