"""`ocix snapshots ls|tree|info|mounts|usage|rm`: the snapshotter's side of the store."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from ..main import State, pass_state
from ..options import json_option, snapshotter_option
from ..output import human_size, print_json, print_kv, print_table, short_digest, wrap_paragraph

if TYPE_CHECKING:
    from ...jobs.store.snapshots import Node

_snapshotter = snapshotter_option("The snapshotter to look in.")


@click.group("snapshots")
def snapshots_group() -> None:
    """\b
    Examples:
      ocix snapshots ls
      ocix snapshots tree                 # parent chains, images and containers
      ocix snapshots info KEY             # its directory on disk, usage, owners
      ocix snapshots mounts KEY           # the mount command to run by hand
    """


@snapshots_group.command("ls")
@_snapshotter
@click.argument("filters", nargs=-1)
@json_option
@pass_state
def snapshots_ls(state: State, snapshotter: str, filters: tuple[str, ...], as_json: bool) -> None:
    """List snapshots: key, parent and kind, like `ctr snapshots ls`.

    FILTERS use containerd's syntax (kind==committed, parent==KEY, labels."k"==v).

    \b
    Examples:
      ocix snapshots ls
      ocix snapshots ls 'kind==active' --json
    """
    from ...containerd import snapshots

    snaps = snapshots.list_snapshots(state.conn(), snapshotter, list(filters))
    if as_json:
        print_json(snaps)
        return
    print_table(["KEY", "PARENT", "KIND"], [[s.name, s.parent, s.kind] for s in snaps],
                empty="no snapshots")


def _tree_label(n: Node) -> str:
    parts = [n.key if not n.key.startswith("sha256:") else "sha256:" + short_digest(n.key), n.kind]
    if n.chain_id:
        parts.append(f"snapshot.ref={'sha256:' + short_digest(n.chain_id)}")
    if n.images:
        parts.append("image " + ", ".join(n.images))
    if n.containers:
        parts.append("container " + ", ".join(n.containers))
    return "  ".join(parts)


@snapshots_group.command("tree")
@_snapshotter
@json_option
@pass_state
def snapshots_tree(state: State, snapshotter: str, as_json: bool) -> None:
    """Show snapshots as parent chains, with the images and containers they belong to.

    Each committed snapshot is named by its chain ID (the containerd.io/snapshot.ref label):
    the hash of its layer's diff ID stacked on every layer below.  An image uses the chain of
    its config's diff IDs; a container owns the active snapshot named by its snapshot_key.

    \b
    Examples:
      ocix snapshots tree
      ocix -n k8s.io snapshots tree --json
    """
    from ...jobs.store.snapshots import tree

    roots = tree(state.conn(), snapshotter)
    if as_json:
        print_json(roots)
        return
    if not roots:
        click.echo("no snapshots")
        return
    from rich.text import Text
    from rich.tree import Tree

    from ..output import console

    top = Tree(Text(f"{snapshotter} snapshots", style="bold"))

    def add(parent: Any, n: Node) -> None:
        branch = parent.add(Text(_tree_label(n)), highlight=False)  # keys are not markup
        for c in sorted(n.children, key=lambda x: x.key):
            add(branch, c)

    for r in sorted(roots, key=lambda x: x.key):
        add(top, r)
    console().print(top)


@snapshots_group.command("info")
@click.argument("key")
@_snapshotter
@json_option
@pass_state
def snapshots_info(state: State, key: str, snapshotter: str, as_json: bool) -> None:
    """Show a snapshot's kind, parent, labels, usage, owners and its directory on disk.

    This is the containerd answer to `ls /var/lib/docker/overlay2`: the overlayfs snapshotter
    keeps snapshot ID N in <root>/snapshots/N/fs.  For a committed snapshot with no child to
    read it from, ocix opens a View for an instant to learn the directory, then removes it.

    \b
    Examples:
      ocix snapshots info sha256:d4b1d75b1980a343c6be3a0ea537e59b0b5a75e6474782b8b34fd2d457be98d4
      ocix snapshots info my-container --json
    """
    from ...jobs.store.dockerlayers import docker_layers
    from ...jobs.store.snapshots import info

    result = info(state.conn(), key, snapshotter)
    docker = docker_layers()
    if as_json:
        print_json({"info": result, "docker": docker})
        return
    s = result.snapshot
    print_kv([
        ("Key", s.name), ("Parent", s.parent or "(none: a base layer)"), ("Kind", s.kind),
        ("Snapshotter", result.snapshotter),
        ("Created", s.created_at.isoformat() if s.created_at else ""),
        ("Usage", f"{human_size(result.usage.size)} ({result.usage.size} bytes, "
                  f"{result.usage.inodes} inodes)"),
        ("Directory", result.directory or "(not shown by its mounts)"),
        ("Snapshot ID", result.snapshot_id),
        ("Found via", result.found_via),
        ("Images", ", ".join(result.images) or "-"),
        ("Containers", ", ".join(result.containers) or "-"),
        *((f"Label {k}", v) for k, v in sorted(s.labels.items())),
    ])
    click.echo()
    root = result.snapshotter_root or "<snapshotter root>"
    click.echo(wrap_paragraph(f"containerd keeps every {snapshotter} snapshot in "
                              f"{root}/snapshots/<id>/fs: that is its answer to "
                              "`ls /var/lib/docker/overlay2`."))
    if docker.containerd_store:
        click.echo(wrap_paragraph(f"dockerd ({docker.source}) uses containerd's snapshotters: "
                                  "its layers are snapshots like this one."))
    else:
        click.echo(wrap_paragraph(
            f"dockerd with its own storage driver keeps its layers in {docker.directory}"
            f"/<id>/diff (data-root {docker.root}, driver {docker.driver}; from "
            f"{docker.source}), apart from containerd's."))


@snapshots_group.command("mounts")
@click.argument("key")
@click.option("--exec", "exec_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Mount it read-only on DIR now (needs root).")
@_snapshotter
@json_option
@pass_state
def snapshots_mounts(state: State, key: str, exec_dir: str | None, snapshotter: str,
                     as_json: bool) -> None:
    """Print the mount command for a snapshot, or run it with --exec DIR.

    An active or view snapshot has mounts of its own.  A committed one does not: ocix makes a
    View of it under a lease and prints that View's mounts.  The View stays until you remove
    it (the printed lines say how); the lease expires after 24 hours.

    \b
    Examples:
      ocix snapshots mounts my-container
      mkdir -p /mnt/img && ocix snapshots mounts --exec /mnt/img \\
          sha256:d4b1d75b1980a343c6be3a0ea537e59b0b5a75e6474782b8b34fd2d457be98d4
      # then run the `# when done:` line it printed: umount, remove the View and its lease
    """

    from ...jobs.store.snapshots import mount_snapshot, plan_mounts

    conn = state.conn()
    if exec_dir:
        plan = mount_snapshot(conn, key, exec_dir, snapshotter)
    else:
        plan = plan_mounts(conn, key, snapshotter)
    if as_json:
        print_json({**plan.__dict__, "mounted_on": exec_dir or ""})
        return
    if not exec_dir:
        click.echo(plan.command)
    else:
        click.echo(f"mounted {key} read-only on {exec_dir}")
    sys.stdout.flush()  # the command first, then the notes on stderr
    if plan.view:
        click.echo(f"# {key} is committed: this mounts View {plan.view}, kept by lease "
                   f"{plan.lease}.", err=True)
    undo = [f"umount {shlex.quote(exec_dir) if exec_dir else 'DIR'}"]
    if plan.view:
        undo.append(f"ocix snapshots rm {plan.view} && ocix leases rm {plan.lease}")
    click.echo("# when done: " + "; ".join(undo), err=True)


@snapshots_group.command("usage")
@click.argument("keys", nargs=-1)
@_snapshotter
@json_option
@pass_state
def snapshots_usage(state: State, keys: tuple[str, ...], snapshotter: str, as_json: bool) -> None:
    """Show the disk usage of snapshots (all of them without KEYS), like `ctr snapshots usage`.

    A committed snapshot's size is measured once, at commit; an active one's on every call.

    \b
    Examples:
      ocix snapshots usage
      ocix snapshots usage my-container --json
    """
    from ...containerd import snapshots
    from ...jobs.store.snapshots import require

    conn = state.conn()
    for k in keys:
        require(conn, k, snapshotter)
    names = list(keys) or [s.name for s in snapshots.list_snapshots(conn, snapshotter)]
    rows = [{"key": k, **snapshots.usage(conn, k, snapshotter).__dict__} for k in names]
    if as_json:
        print_json(rows)
        return
    print_table(["KEY", "SIZE", "INODES"], [[r["key"], human_size(r["size"]), r["inodes"]]
                                           for r in rows], empty="no snapshots")


@snapshots_group.command("rm")
@click.argument("keys", nargs=-1, required=True)
@_snapshotter
@json_option
@pass_state
def snapshots_rm(state: State, keys: tuple[str, ...], snapshotter: str, as_json: bool) -> None:
    """Remove snapshots (a snapshot with children cannot be removed).

    \b
    Examples:
      ocix snapshots rm ocix-view-0123456789ab
    """
    from ...containerd import snapshots
    from ...jobs.store.snapshots import require

    conn = state.conn()
    for k in keys:
        require(conn, k, snapshotter)
        snapshots.remove(conn, k, snapshotter)
        if not as_json:
            click.echo(k)
    if as_json:
        print_json({"removed": list(keys)})
