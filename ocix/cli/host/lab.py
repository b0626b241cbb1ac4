"""`ocix lab`: the embedded, offline lab (private containerd + loopback registry [+ dockerd, podman])."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

import click

from ..options import json_option, quiet_option
from ..output import print_json, print_kv, print_table

DIR_OPTION = click.option("--dir", "directory", envvar="OCIX_LAB_DIR", metavar="DIR",
                          help="Lab state directory (env OCIX_LAB_DIR, default /var/lib/ocix-lab).")


def _progress(quiet: bool) -> Callable[[str], None]:
    if quiet:
        return lambda _msg: None
    return lambda msg: click.echo(f"lab: {msg}", err=True)


@click.group()
def lab() -> None:
    """Everything works offline: the registry is seeded with images ocix builds from files on
    this machine, and it mirrors docker.io, so `ocix pull busybox` and
    `ctr images pull --hosts-dir "$OCIX_HOSTS_DIR" docker.io/library/busybox:latest` both work.
    With --with-podman, a podman with the lab's own storage and config (never
    /var/lib/containers or /etc/containers) pulls from the same registry; after
    `eval "$(ocix lab env)"`, a plain `podman` uses it.

    \b
    Examples:
      ocix lab up && eval "$(ocix lab env)"
      ocix lab up --with-docker
      ocix lab up --with-podman && eval "$(ocix lab env)" && podman images
      ocix lab up --with-rootless         # user ocixlab: rootless podman + dockerd
      ocix lab status
      ocix lab logs dockerd -n 20
      ocix lab seed --large
      ocix lab seed --debian              # debian:bookworm and app:latest, real layers
      ocix lab import alpine.tar          # docker save, oci-archive or OCI layout
      ocix lab down
    """


@lab.command()
@DIR_OPTION
@click.option("--with-docker", is_flag=True, help="Also start a dockerd wired to the lab containerd.")
@click.option("--with-podman", is_flag=True,
              help="Also configure a lab-owned podman (own root, runroot, registries) and pull "
                   "the seed images into it.")
@click.option("--no-seed", is_flag=True, help="Do not build and push the seed images.")
@click.option("--with-rootless", is_flag=True,
              help="Also create the user ocixlab and run rootless podman and dockerd as it.")
@quiet_option("No progress lines.")
def up(directory: str | None, with_docker: bool, with_podman: bool, no_seed: bool,
       with_rootless: bool, quiet: bool) -> None:
    """Start the lab (a no-op if it already runs).

    \b
    Examples:
      ocix lab up && eval "$(ocix lab env)"
      ocix lab up --with-docker --with-podman
      ocix lab up --with-rootless          # user ocixlab: rootless podman and dockerd
      OCIX_LAB_DIR=/var/lib/ocix-lab-mine ocix lab up -q --no-seed
    """
    from ...lab import lab as labmod

    result = labmod.up(directory, with_docker=with_docker, with_podman=with_podman,
                       seed=not no_seed, with_rootless=with_rootless, progress=_progress(quiet))
    st = result.state
    if with_rootless:
        _rootless_line(st.dir)
    if result.already_running:
        click.echo(f"lab already running in {st.dir} (containerd {st.containerd_socket}, "
                   f"registry {st.registry})")
        return
    click.echo(f"lab up in {result.seconds:.1f}s: containerd {st.containerd_socket}, "
               f"registry {st.registry}" + (f", dockerd {st.docker_socket}" if st.docker_socket else "")
               + (f", podman {st.dir}/podman" if st.podman else ""))
    click.echo(f'next: eval "$({env_command(directory)})"')


def env_command(directory: str | None) -> str:
    """`ocix lab env` as this shell must type it: --dir when the lab's dir is not $OCIX_LAB_DIR."""
    if directory and directory != os.environ.get("OCIX_LAB_DIR"):
        return f"ocix lab env --dir {shlex.quote(directory)}"
    return "ocix lab env"


def _rootless_line(directory: str) -> None:
    from ...lab.rootless import RootlessState

    rs = RootlessState.load(Path(directory))
    if rs is None:
        return
    docker = (f"dockerd-rootless unix://{rs.docker_socket}" if rs.docker_socket
              else f"no rootless dockerd: {rs.dockerd_error}")
    click.echo(f"rootless: user {rs.user} (uid {rs.uid}), podman uid_map {rs.uid_map}; {docker}")


@lab.command()
@DIR_OPTION
@click.option("--purge", is_flag=True,
              help="Also delete the lab directory and the rootless lab user ocixlab.")
@quiet_option("No progress lines.")
def down(directory: str | None, purge: bool, quiet: bool) -> None:
    """Stop what `lab up` started, by pid, and unmount what is left.

    \b
    Examples:
      ocix lab down
      ocix lab down --purge       # also delete the lab directory and the user ocixlab
    """
    from ...lab import lab as labmod

    stopped = labmod.down(directory, purge=purge, progress=_progress(quiet))
    click.echo("lab down: stopped " + ", ".join(stopped) if stopped else "lab was not running")


@lab.command()
@DIR_OPTION
@json_option
def status(directory: str | None, as_json: bool) -> None:
    """Show what runs, with pids, sockets and versions.

    \b
    Examples:
      ocix lab status
      ocix lab status --json | jq '.components[] | {name, pid, running}'
    """
    from ...lab import lab as labmod

    st = labmod.status(directory)
    if as_json:
        print_json(st)
        return
    if not st.components:
        click.echo(f"lab in {st.dir}: not running")
        return
    print_kv([("Lab dir", st.dir), ("State", "running" if st.running else "DEGRADED")])
    print_table(["COMPONENT", "PID", "STATE", "ADDRESS", "VERSION"],
                [[c.name, "-" if c.pid is None else c.pid, "running" if c.running else "stopped",
                  c.address, c.version]
                 for c in st.components])
    if st.images:
        print_table(["SEEDED IMAGE"], [[i] for i in st.images])


@lab.command()
@DIR_OPTION
@json_option
def env(directory: str | None, as_json: bool) -> None:
    """Print shell exports for the running lab: eval "$(ocix lab env)".

    \b
    Examples:
      eval "$(ocix lab env)"
      ocix lab env --json
    """
    from ...lab import lab as labmod

    values = labmod.env(directory)
    if as_json:
        print_json(values)
        return
    for k, v in values.items():
        click.echo(f"export {k}={shlex.quote(v)}")


@lab.command()
@DIR_OPTION
@click.option("--large", is_flag=True, help="Also build the ~200 MiB benchmark image (library/large).")
@click.option("--sized", "sized", multiple=True, type=click.IntRange(1, 4096), metavar="MIB",
              help="Also build a single-layer image of MIB MiB (repeatable), e.g. --sized 50.")
@click.option("--debian", is_flag=True,
              help="Also bootstrap library/debian:bookworm from the Debian archive this "
                   "machine's apt uses (mmdebstrap) and build library/app:latest on it; "
                   "cached after the first time.")
@click.option("--mirror", metavar="URL", envvar="OCIX_DEBIAN_MIRROR",
              help="With --debian: bootstrap from this Debian mirror instead of /etc/apt's "
                   "sources (env OCIX_DEBIAN_MIRROR).")
@quiet_option("No progress lines.")
def seed(directory: str | None, large: bool, sized: tuple[int, ...], debian: bool,
         mirror: str | None, quiet: bool) -> None:
    """Build the seed images again (and optional benchmark and real images) and push them.

    \b
    Examples:
      ocix lab seed
      ocix lab seed --large --sized 50 -q
      ocix lab seed --debian               # library/debian:bookworm and library/app:latest
    """
    from ...lab import lab as labmod

    for ref in labmod.seed(directory, large=large, sized=sized, debian=debian, mirror=mirror,
                           progress=_progress(quiet)):
        click.echo(ref)


@lab.command("import")
@DIR_OPTION
@click.argument("path", type=click.Path())
@click.option("--as", "as_ref", metavar="NAME[:TAG]",
              help="Push under this name instead of the one the archive records (NAME alone "
                   "keeps each image's tag).")
@json_option
def import_(directory: str | None, path: str, as_ref: str | None, as_json: bool) -> None:
    """Push an image brought as a file (docker save, oci-archive, OCI layout) into the lab.

    PATH is a `docker save` tar, an oci-archive tar or an OCI layout directory, with any
    number of tags.  Everything is validated (digests, sizes, media types, diff IDs) before anything is pushed,
    and tags are put last.  Afterwards `ocix pull NAME:TAG` works, through the docker.io mirror
    for library/ names.

    \b
    Examples:
      skopeo copy docker://alpine:3.18 oci-archive:alpine.tar:alpine:3.18   # with internet
      ocix lab import alpine.tar && ocix pull alpine:3.18
      docker save busybox:latest -o bb.tar && ocix lab import bb.tar --as mybox:1
      ocix lab import ./layout-dir --json
    """
    from ...lab.images import importer

    done = importer.import_path(directory, path, as_ref=as_ref)
    if as_json:
        print_json(done)
        return
    print_table(["IMPORTED", "RECORDED AS", "DIGEST", "PULL AS"],
                [[i.ref, i.recorded or "-", i.digest, i.pull] for i in done])


@lab.command()
@DIR_OPTION
@click.argument("component")
@click.option("--lines", "-n", type=click.IntRange(1, 100000), default=20, show_default=True,
              help="How many lines from the end.")
def logs(directory: str | None, component: str, lines: int) -> None:
    """Print the end of a lab daemon's log (what `journalctl -u docker -n 20` shows for a service).

    \b
    Examples:
      ocix lab logs dockerd
      ocix lab logs containerd -n 50
    """
    from ...lab import lab as labmod

    click.echo(labmod.log_tail(directory, component, lines), nl=False)
