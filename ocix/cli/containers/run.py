"""`ocix run`, `ocix spec`, `ocix bundle`, `ocix containers ls|inspect|rm`, `ocix tasks …`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..main import State, pass_state
from ..options import container_options, json_option, parse_bytes, quiet_option
from ..output import print_json, print_table

if TYPE_CHECKING:
    from ...oci.spec import RunOptions

RAW_ARGS = {"allow_interspersed_args": False}


def _check_terminal(interactive: bool, tty: bool) -> None:
    """-i -t copies stdin into a terminal: a pipe's EOF closes that terminal before the shell
    has read it, so, like docker, refuse it instead of running half the input."""
    if interactive and tty and not sys.stdin.isatty():
        from ...errors import UsageError

        raise UsageError("-i with -t needs a terminal on stdin, and stdin is not one",
                         hint="drop -t to pipe input into the process")


def _run_options(kw: dict[str, Any], args: tuple[str, ...]) -> RunOptions:
    from ...oci.spec import RunOptions

    return RunOptions(args=list(args), env=list(kw["env"]), user=kw["user"], cwd=kw["workdir"],
                      cap_add=list(kw["cap_add"]), cap_drop=list(kw["cap_drop"]),
                      memory=parse_bytes(kw["memory"]) if kw["memory"] else None,
                      pids_limit=kw["pids_limit"], cpus=kw["cpus"], read_only=kw["read_only"],
                      net=kw["net"], tty=kw["tty"])


@click.command(context_settings=RAW_ARGS)
@click.option("--rm", is_flag=True, help="Remove task, snapshot and container afterwards.")
@click.option("-d", "--detach", is_flag=True, help="Start the container, print its id, return.")
@click.option("-i", "--interactive", is_flag=True, help="Forward stdin (EOF closes it inside).")
@click.option("--runtime", type=click.Choice(["runc", "crun"]), default="runc", show_default=True,
              help="OCI runtime the shim calls.")
@click.option("--log-file", metavar="PATH", help="With -d: write the task's stdout+stderr to PATH.")
@container_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_state
def run(state: State, image: str, command: tuple[str, ...], rm: bool, detach: bool,
        interactive: bool, runtime: str, log_file: str | None, **kw: Any) -> None:
    """Like `ctr run` over raw gRPC: a snapshot of the image, a container, a task with FIFO stdio.
    Arguments after IMAGE replace the image's Cmd and keep its Entrypoint (docker's rule).
    The exit status of the process becomes ocix's exit status; Ctrl-C is forwarded to it (the
    third Ctrl-C sends SIGKILL).

    \b
    Examples:
      ocix run --rm busybox echo hello
      ocix run --rm --cap-drop ALL busybox grep CapEff /proc/1/status
      echo data | ocix run --rm -i busybox wc -c
      ocix run --rm -it busybox sh
      ocix run -d --name web --log-file /tmp/web.log busybox httpd -f -v
      ocix run --rm --runtime crun --memory 64m --pids-limit 20 busybox true
    """

    from ...jobs.containers.run import RunRequest
    from ...jobs.containers.run import run as do_run

    _check_terminal(interactive, kw["tty"] and not detach)

    req = RunRequest(image=image, options=_run_options(kw, command), container_id=kw["name"], rm=rm,
                     detach=detach, interactive=interactive, log_file=log_file, runtime=runtime,
                     snapshotter=kw["snapshotter"], platform=kw["platform"])
    result = do_run(state.conn(), req)
    if detach:
        click.echo(result.container_id)
        return
    sys.stdout.flush()
    raise SystemExit(result.exit_status or 0)


@click.command("spec", context_settings=RAW_ARGS)
@click.option("--raw", is_flag=True, help="Print the exact bytes sent (compact JSON).")
@container_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_state
def spec(state: State, image: str, command: tuple[str, ...], raw: bool, **kw: Any) -> None:
    """containerd's default Linux spec merged with the image config (Env, Entrypoint + Cmd or
    COMMAND, WorkingDir, User looked up in the image's /etc/passwd and /etc/group) and the flags.
    The container id (part of cgroupsPath) is --name, or "ocix-spec".

    \b
    Examples:
      ocix spec busybox
      ocix spec --name web -u nobody --cap-drop ALL --memory 64m busybox sh -c 'id'
      ocix spec --raw busybox | sha256sum
    """

    from ...jobs.containers.imagespec import spec_for
    from ...oci.specjson import go_key_order, spec_bytes

    s = spec_for(state.conn(), image, kw["name"] or "ocix-spec", _run_options(kw, command),
                 kw["snapshotter"], kw["platform"])
    if raw:
        click.echo(spec_bytes(s).decode())
    else:
        click.echo(json.dumps(go_key_order(s), indent=2))


@click.command("bundle", context_settings=RAW_ARGS)
@container_options
@click.argument("image")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--force", is_flag=True,
              help="Write into a directory that is not empty (config.json is replaced).")
@json_option
@pass_state
def bundle(state: State, image: str, directory: Path, command: tuple[str, ...], as_json: bool,
           force: bool, **kw: Any) -> None:
    """The spec is the one `ocix run` would use (same command, env, user), with root.path
    "rootfs" and a cgroupsPath of its own (/ocix-bundle/ID). The rootfs is copied out of a
    read-only View mount of the image's snapshot, which is unmounted again. DIRECTORY must be
    new or empty; --force writes into any directory whose rootfs/ is empty. It then prints
    the runc and crun command lines that run the bundle on this host: on a hybrid cgroup host
    crun refuses to start, and the line calls it through /run/ocix/crun-hybrid instead
    (docs/runtimes.md).

    \b
    Examples:
      ocix bundle busybox /tmp/bb sh -c 'echo hi from $(id -u)'
      runc run -b /tmp/bb bb1
      crun run -b /tmp/bb bb2                     # v2 or plain v1 cgroup host
      /run/ocix/crun-hybrid run -b /tmp/bb bb2    # hybrid cgroup host (see `ocix info`)
    """
    from ...jobs.containers.bundle import make_bundle

    name = kw["name"] or "ocix-bundle"
    r = make_bundle(state.conn(), image, directory, name, _run_options(kw, command),
                    kw["snapshotter"], kw["platform"], force=force)
    if as_json:
        print_json(r)
        return
    click.echo(f"{r.directory}: config.json and rootfs/ of {r.image} (runs: {' '.join(r.args)})")
    click.echo("run it on this host with:")
    for line in r.run_with:
        click.echo(f"  {line}")


# -- containers ---------------------------------------------------------------------------------
@click.group("containers")
def containers_group() -> None:
    """\b
    Examples:
      ocix containers ls
      ocix containers inspect web
      ocix containers rm --force web
    """


@containers_group.command("ls")
@quiet_option("Print only the ids.")
@click.argument("filters", nargs=-1)
@json_option
@pass_state
def containers_ls(state: State, quiet: bool, filters: tuple[str, ...], as_json: bool) -> None:
    """List containers with image and runtime, like `ctr containers ls`.

    \b
    Examples:
      ocix containers ls
      ocix containers ls -q
      ocix containers ls 'image~="busybox"' --json
    """
    from ...containerd import containers

    items = containers.list_containers(state.conn(), list(filters))
    if as_json:
        print_json([{k: v for k, v in vars(c).items() if k != "spec"} for c in items])
        return
    if quiet:
        for c in items:
            click.echo(c.id)
        return
    print_table(["CONTAINER", "IMAGE", "RUNTIME"],
                [[c.id, c.image, c.runtime + (f" ({c.runtime_binary})" if c.runtime_binary else "")]
                 for c in items], empty="no containers")


@containers_group.command("inspect")
@click.argument("container_id")
@pass_state
def containers_inspect(state: State, container_id: str) -> None:
    """Print a container record as JSON, spec included (like `ctr containers info`).

    \b
    Examples:
      ocix containers inspect web
      ocix containers inspect web | jq .spec.process.args
    """
    from ...containerd import containers

    print_json(containers.get(state.conn(), container_id))


@containers_group.command("rm")
@click.option("--force", "-f", is_flag=True, help="Kill and remove a running task first.")
@click.argument("container_ids", nargs=-1, required=True)
@pass_state
def containers_rm(state: State, force: bool, container_ids: tuple[str, ...]) -> None:
    """Remove containers with their task and snapshot.

    \b
    Examples:
      ocix containers rm web
      ocix containers rm --force web other
    """
    from ...jobs.containers.lifecycle import remove_container

    for cid in container_ids:
        remove_container(state.conn(), cid, force=force)
        click.echo(cid)


# -- tasks --------------------------------------------------------------------------------------
@click.group("tasks")
def tasks_group() -> None:
    """\b
    Examples:
      ocix tasks ls
      ocix tasks ps web
      ocix tasks kill -s HUP web
      ocix tasks exec -t -i web sh
      ocix tasks rm --force web
    """


@tasks_group.command("ls")
@json_option
@pass_state
def tasks_ls(state: State, as_json: bool) -> None:
    """List tasks with pid and status, like `ctr tasks ls`.

    \b
    Examples:
      ocix tasks ls
      ocix tasks ls --json
    """
    from ...containerd import tasks

    items = tasks.list_tasks(state.conn())
    if as_json:
        print_json(items)
        return
    print_table(["TASK", "PID", "STATUS"], [[t.container_id, t.pid, t.status.upper()] for t in items],
                empty="no tasks")


@tasks_group.command("ps")
@click.argument("container_id")
@json_option
@pass_state
def tasks_ps(state: State, container_id: str, as_json: bool) -> None:
    """List the processes of a task (host pids, and the exec id of exec'd processes).

    \b
    Examples:
      ocix tasks ps web
      ocix tasks ps web --json
    """
    from ...containerd import tasks

    items = tasks.list_pids(state.conn(), container_id)
    if as_json:
        print_json(items)
        return
    print_table(["PID", "EXEC ID"], [[p.pid, p.exec_id] for p in items], empty="no processes")


@tasks_group.command("kill")
@click.option("--signal", "-s", "sig", default="TERM", show_default=True,
              help="Signal name (TERM, SIGKILL, HUP …) or number.")
@click.option("--all", "-a", "all_procs", is_flag=True, help="Signal every process of the task.")
@click.option("--exec-id", default="", help="Signal this exec'd process instead of init.")
@click.argument("container_ids", nargs=-1, required=True)
@pass_state
def tasks_kill(state: State, sig: str, all_procs: bool, exec_id: str,
               container_ids: tuple[str, ...]) -> None:
    """Send a signal to tasks, like `ctr tasks kill`.

    \b
    Examples:
      ocix tasks kill web                # SIGTERM to its init process
      ocix tasks kill -s KILL --all web
      ocix tasks kill -s HUP web other
    """
    from ...containerd import tasks

    number = tasks.parse_signal(sig)
    for cid in container_ids:
        tasks.kill(state.conn(), cid, number, all_procs=all_procs, exec_id=exec_id)


@tasks_group.command("rm")
@click.option("--force", "-f", is_flag=True, help="SIGKILL a running task first.")
@click.argument("container_ids", nargs=-1, required=True)
@pass_state
def tasks_rm(state: State, force: bool, container_ids: tuple[str, ...]) -> None:
    """Remove stopped tasks (the container stays).

    \b
    Examples:
      ocix tasks rm web
      ocix tasks rm --force web
    """
    from ...jobs.containers.lifecycle import remove_task

    conn = state.conn()
    for cid in container_ids:
        remove_task(conn, cid, force=force)
        click.echo(cid)


@tasks_group.command("exec", context_settings=RAW_ARGS)
@click.option("-i", "--interactive", is_flag=True, help="Forward stdin.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-terminal.")
@click.option("--exec-id", metavar="ID", help="Process id within the task (default: random).")
@click.option("-e", "--env", multiple=True, metavar="K=V", help="Add or replace a variable.")
@click.option("-u", "--user", metavar="USER", help="uid[:gid] or a name from the image.")
@click.option("-w", "--workdir", metavar="DIR", help="Working directory.")
@click.argument("container_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_state
def tasks_exec(state: State, interactive: bool, tty: bool, exec_id: str | None,
               env: tuple[str, ...], user: str | None, workdir: str | None, container_id: str,
               command: tuple[str, ...]) -> None:
    """Run COMMAND in the running task CONTAINER_ID; its exit status is ocix's.

    \b
    Examples:
      ocix tasks exec web ps
      ocix tasks exec -i -t web sh
    """

    from ...jobs.containers.taskexec import ExecRequest, exec_in

    _check_terminal(interactive, tty)

    status = exec_in(state.conn(), ExecRequest(container_id, list(command), exec_id, tty,
                                               interactive, list(env), user, workdir))
    sys.stdout.flush()
    raise SystemExit(status)
