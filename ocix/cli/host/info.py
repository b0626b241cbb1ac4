"""`ocix info`: the container daemons, sockets and runtimes of this host, asked live."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..main import State, pass_state
from ..options import json_option
from ..output import print_json, print_kv, print_table, wrap_paragraph

if TYPE_CHECKING:
    from ...jobs.host.daemons import Daemon
    from ...jobs.host.info import HostInfo


@click.command()
@click.option("--docker-host", metavar="SOCKET", envvar="DOCKER_HOST",
              help="Docker socket (env DOCKER_HOST, else the lab's, else /var/run/docker.sock).")
@json_option
@pass_state
def info(state: State, docker_host: str | None, as_json: bool) -> None:
    """The one-command answer to `ps aux | grep dockerd`, `systemctl status docker containerd`,
    `docker info | grep -E "Storage Driver|Rootless"` and `ctr plugins ls`: each endpoint
    (containerd, its CRI plugin, CRI-O's standard socket, dockerd, podman) is asked through
    its own API, with the process listening on it; then runc and crun, the cgroup layout
    (v1, v2 or hybrid), and seccomp and AppArmor support. A daemon that is missing or does
    not answer is shown with the reason; it never fails the command. The rootless lab's podman
    and dockerd (`ocix lab up --with-rootless`) are shown with their user namespace and uid_map.

    \b
    Examples:
      ocix info
      ocix info --json | jq -r '.cgroup.mode'
      ocix info --json | jq '.daemons[] | select(.name=="docker") | .storage'
      ocix -a /run/containerd/containerd.sock info   # the system containerd
      ocix info --json | jq '.daemons[] | select(.user_namespace) | {name, user_namespace}'
    """
    from ...jobs.host.info import host_info

    result = host_info(state.address, docker_host)
    if as_json:
        print_json(result)
        return
    _render(result)


def _render(h: HostInfo) -> None:
    c = h.cgroup
    layout = {"hybrid": f"hybrid: v1 controllers, cgroup2 at {c.v2_mount}",
              "v2": f"v2 (unified at {c.v2_mount})", "v1": "v1", "none": "no cgroup mounts"}
    seccomp = "not supported"
    if h.seccomp.supported:
        seccomp = "filters (" + " ".join(h.seccomp.actions) + ")" if h.seccomp.filter \
            else "strict mode only"
    apparmor = "enabled" + (f", {h.lsm.apparmor_profiles} profiles loaded"
                            if h.lsm.apparmor_profiles is not None else "") \
        if h.lsm.apparmor else "not enabled"
    print_kv([("Kernel", h.kernel),
              ("Cgroups", layout.get(c.mode, c.mode)),
              ("v1 controllers", " ".join(c.v1_controllers) or "-"),
              ("v2 controllers", " ".join(c.v2_controllers) or "-"),
              ("Seccomp", seccomp),
              ("AppArmor", apparmor),
              ("SELinux", "enabled" if h.lsm.selinux else "not enabled")])
    click.echo()
    print_table(["DAEMON", "ADDRESS", "STATE", "VERSION", "RUNS ON", "STORAGE", "ROOTLESS",
                 "PID", "NOTE"], [_row(d) for d in h.daemons])
    _render_userns(h.daemons)
    click.echo()
    print_table(["RUNTIME", "PATH", "VERSION", "NOTE"],
                [[r.name, r.path or "-", r.version or "-", r.note] for r in h.runtimes])


def _render_userns(daemons: list[Daemon]) -> None:
    """The rootless daemons' user namespaces, with why their capabilities stay inside."""
    held = [d for d in daemons if d.user_namespace is not None]
    if not held:
        return
    click.echo()
    rows, why = [], ""
    for d in held:
        u = d.user_namespace
        assert u is not None
        state = {True: "isolated", False: "shared with the host", None: "?"}[u.isolated]
        rows.append([d.name, f"{u.process} ({u.pid})", f"{state} {u.inode or ''}".strip(),
                     " / ".join(u.uid_map) or "-"])
        why = u.why
    print_table(["ROOTLESS DAEMON", "HELD BY", "USER NAMESPACE", "UID_MAP"], rows)
    click.echo(wrap_paragraph(why, hanging=""))


def _row(d: Daemon) -> list[object]:
    version = d.version + (f" (API {d.api_version})" if d.api_version and d.api_version != d.version
                           else "")
    runs_on = ", ".join(f"{k} {v}".strip() for k, v in d.components.items() if k != "revision")
    rootless = "-" if d.rootless is None else ("yes" if d.rootless else "no")
    return [d.name, d.address, d.state, version or "-", runs_on or "-",
            ", ".join(d.storage) or "-", rootless, d.pid or "-", d.note]
