"""Command-line options that several commands share, each declared once.

In the spirit of pip's `cli/cmdoptions.py`: a command takes `@json_option`, `@snapshotter_option(...)`
or `@container_options` from here instead of writing the flag again, so the name, the default
and the parsing stay the same everywhere.  Only cheap modules are imported: `ocix --help` and
every command's `--help` load this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..containerd.defaults import DEFAULT_SNAPSHOTTER

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Any], Any]  # what click.option returns
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def json_option(fn: F) -> F:
    """--json: machine output on stdout, nothing else."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON on stdout instead of a table.")(fn)


def platform_option(fn: F) -> F:
    """--platform: which manifest of an index to look at."""
    return click.option("--platform", metavar="OS/ARCH[/VARIANT]",
                        help="Which manifest of an index (default: this host's).")(fn)


def snapshotter_option(help: str = "", *, hidden: bool = False) -> Decorator:
    """--snapshotter NAME, default containerd's own (DEFAULT_SNAPSHOTTER)."""
    return click.option("--snapshotter", default=DEFAULT_SNAPSHOTTER, show_default=True,
                        help=help or None, hidden=hidden)


def quiet_option(help: str) -> Decorator:
    """-q/--quiet: `help` says what is left of the output."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


def key_value_pairs(values: tuple[str, ...] | list[str], option: str = "--label"
                    ) -> dict[str, str]:
    """Repeated KEY=VALUE options as a dict; a bad one is a usage error on `option`."""
    out = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not key or not sep:
            raise click.BadParameter(f"{v!r} is not KEY=VALUE", param_hint=option)
        out[key] = val
    return out


def parse_bytes(text: str) -> int:
    """'1048576', '64m', '1.5G', '512KiB' -> bytes (powers of 1024, like docker)."""
    m = _SIZE.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size like 67108864, 64m or 1g")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def _apply(fn: F, opts: list[Decorator]) -> F:
    for o in reversed(opts):
        fn = o(fn)
    return fn


def process_options(fn: F) -> F:
    """The container flags `run`, `spec`, `bundle` and `compare` all take: env, capabilities,
    limits and user."""
    return _apply(fn, [
        click.option("-e", "--env", "env", multiple=True, metavar="K=V", help="Set an environment variable."),
        click.option("--cap-add", multiple=True, metavar="CAP", help="Add a capability (or ALL)."),
        click.option("--cap-drop", multiple=True, metavar="CAP", help="Drop a capability (or ALL)."),
        click.option("--memory", "-m", metavar="BYTES", help="Memory limit: bytes or 64m, 1g."),
        click.option("--pids-limit", type=int, metavar="N", help="Maximum number of processes."),
        click.option("-u", "--user", metavar="USER", help="uid, uid:gid, name or name:group."),
    ])


def container_options(fn: F) -> F:
    """The flags that shape the runtime spec (run, spec and bundle): process_options and the
    rest of `ocix run`'s container flags."""
    return _apply(fn, [
        click.option("--name", "name", metavar="ID", help="Container id (default: 12 random hex digits)."),
        process_options,
        click.option("--cpus", type=float, metavar="N", help="CPU quota in CPUs, e.g. 0.5."),
        click.option("-w", "--workdir", metavar="DIR", help="Working directory inside."),
        click.option("--read-only", is_flag=True, help="Mount the rootfs read-only."),
        click.option("--net", type=click.Choice(["none", "host"]), default="none", show_default=True,
                     help="none: a private network namespace (loopback only); host: the host's."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal."),
        snapshotter_option(hidden=True),
        platform_option,
    ])


def registry_options(fn: F) -> F:
    """--hosts-dir, --plain-http and --user, as `ocix pull` has them."""
    fn = click.option("--user", "-u", metavar="USER[:PASSWORD]",
                      help="Registry credentials (default: ~/.docker/config.json).")(fn)
    fn = click.option("--plain-http", is_flag=True,
                      help="Use HTTP for a registry that is not on loopback.")(fn)
    return click.option("--hosts-dir", envvar="OCIX_HOSTS_DIR", metavar="DIR",
                        help="containerd hosts dir with <host>/hosts.toml (env OCIX_HOSTS_DIR, "
                             "default /etc/containerd/certs.d).")(fn)


def client_options(hosts_dir: str | None, plain_http: bool, user: str | None) -> Any:
    from ..jobs.registry.browse import ClientOptions
    from ..registry.auth import parse_user

    return ClientOptions(hosts_dir, plain_http, parse_user(user) if user else None)
