"""`ocix kernel`: what the kernel sees of a container's process: namespaces, cgroups, capabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..main import State, pass_state
from ..options import json_option
from ..output import human_size, print_json, print_kv, print_table, to_jsonable, wrap_paragraph

if TYPE_CHECKING:
    from ...kernel import KernelView


@click.command()
@click.argument("task", required=False)
@click.option("--pid", type=int, help="Any process id instead of a containerd task.")
@click.option("--docker", "docker_name", metavar="NAME",
              help="A Docker container (by name or id), through the Engine API at DOCKER_HOST.")
@click.option("--exec-id", default="", help="With TASK: an exec'd process of the task.")
@json_option
@pass_state
def kernel(state: State, task: str | None, pid: int | None, docker_name: str | None,
           exec_id: str, as_json: bool) -> None:
    """The one-command answer to `docker inspect -f '{{.State.Pid}}'`, `ls -l /proc/$PID/ns`,
    `cat /proc/$PID/cgroup` and `grep Cap /proc/$PID/status`: every namespace with whether it
    is isolated from the host, every cgroup with its limits, capability sets decoded to names.

    \b
    Examples:
      ocix run -d --name web busybox sleep 600 && ocix kernel web
      ocix kernel --docker ns-test                  # a container dockerd runs
      ocix -n k8s.io kernel CONTAINER_ID            # a CRI container
      ocix kernel --pid $$ --json | jq .caps.effective.names
    """
    from ...kernel import kernel_view

    chosen = [x for x in (task, pid, docker_name) if x is not None]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of TASK, --pid or --docker")
    origin = ""
    if pid is None and task is not None:
        from ...containerd import tasks

        pid = _exec_pid(state, task, exec_id) if exec_id else tasks.get(state.conn(), task).pid
        origin = f"task {task} in namespace {state.conn().namespace}"
    elif docker_name is not None:
        from ...dockerapi.client import DockerClient

        with DockerClient.from_env() as client:
            pid = client.container_pid(docker_name)
        origin = f"docker container {docker_name}"
    assert pid is not None
    view = kernel_view(pid)
    if as_json:
        print_json({"origin": origin, **_json(view)})
        return
    _render(view, origin)


def _exec_pid(state: State, task: str, exec_id: str) -> int:
    from ...containerd import tasks
    from ...errors import NotFoundError

    for p in tasks.list_pids(state.conn(), task):
        if p.exec_id == exec_id:
            return int(p.pid)
    raise NotFoundError(f"task {task} has no exec process {exec_id!r}")


def _json(view: KernelView) -> dict[str, object]:
    data = to_jsonable(view)
    assert isinstance(data, dict)
    data["seccomp_mode"] = view.seccomp_mode
    data["user_namespace"] = to_jsonable(view.user_namespace)
    return data


def _render(view: KernelView, origin: str) -> None:
    ident = view.identity
    print_kv([("Process", f"{view.pid} ({view.name})" + (f"  {origin}" if origin else "")),
              ("User", f"uid {ident.uid[1]} gid {ident.gid[1]} groups {ident.groups or '-'}"),
              ("No new privs", {True: "yes", False: "no", None: "unknown"}[view.no_new_privs]),
              ("Seccomp", view.seccomp_mode + (f" ({view.seccomp_filters} filters)"
                                               if view.seccomp_filters else "")),
              ("uid map", ", ".join(f"{m.inside}->{m.outside} x{m.count}" for m in view.uid_map)),
              # pid 1's namespace links may be unreadable (some VMs); then ocix's own stand in.
              ("Host reference", {"1": "pid 1", "self": "this ocix process (pid 1 unreadable)"}.get(
                  view.namespace_reference, "none"))])
    click.echo("")
    print_table(["NAMESPACE", "INODE", "VS HOST"],
                [[n.type, n.inode if n.inode is not None else "?",
                  {True: "isolated", False: "shared", None: "unknown"}[n.isolated]]
                 for n in view.namespaces])
    click.echo("")
    click.echo(wrap_paragraph("User ns: " + view.user_namespace.note))
    click.echo("")
    print_table(["CAPABILITIES", "MASK", "NAMES"],
                [[name, s.hex, " ".join(c.removeprefix("CAP_") for c in s.names) or "-"]
                 for name, s in (("effective", view.caps.effective), ("permitted", view.caps.permitted),
                                 ("bounding", view.caps.bounding),
                                 ("inheritable", view.caps.inheritable),
                                 ("ambient", view.caps.ambient))])
    click.echo("")
    r = view.resources
    print_table(["CGROUP", "V", "CONTROLLERS", "PATH"],
                [[c.hierarchy, c.version, ",".join(c.controllers) or "-", c.path] for c in view.cgroups])
    limits = [("memory", human_size(r.memory_limit) if r.memory_limit is not None else "no limit"),
              ("memory used", human_size(r.memory_usage) if r.memory_usage is not None else "-"),
              ("pids", f"{r.pids_current if r.pids_current is not None else '-'} of "
                       f"{r.pids_limit if r.pids_limit is not None else 'no limit'}"),
              ("cpus", f"{r.cpus:g}" if r.cpus is not None else "no limit")]
    click.echo("")
    print_kv(limits)
