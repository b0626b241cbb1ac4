"""`ocix cri` commands that change the node: runp, create, start, stop, rm, stopp, rmp, rmi."""

from __future__ import annotations

import click

from .show import CriState, pass_cri


@click.command()
@click.argument("pod_config", type=click.Path(dir_okay=False))
@click.option("--runtime", default="", metavar="HANDLER",
              help="Runtime handler, e.g. runc or crun (default: the runtime's default).")
@pass_cri
def runp(state: CriState, pod_config: str, runtime: str) -> None:
    """Run a pod sandbox from a crictl-style JSON POD_CONFIG; prints the pod ID.

    Without CNI, the pod needs host network: linux.security_context.namespace_options.network 2.

    \b
    Examples:
      ocix cri runp pod.json
      ocix cri runp --runtime crun pod.json
      echo '{"metadata": {"name": "p", "uid": "u1", "namespace": "default"},
             "linux": {"security_context": {"namespace_options": {"network": 2}}}}' > pod.json
    """
    from ...jobs.cri.configs import load_pod_config
    from ...jobs.cri.crictl import run_pod

    click.echo(run_pod(state.client(), load_pod_config(pod_config), runtime))


@click.command()
@click.argument("pod_id")
@click.argument("container_config", type=click.Path(dir_okay=False))
@click.argument("pod_config", type=click.Path(dir_okay=False))
@click.option("--no-pull", is_flag=True, help="Fail instead of pulling a missing image.")
@pass_cri
def create(state: CriState, pod_id: str, container_config: str, pod_config: str,
           no_pull: bool) -> None:
    """Create a container in pod POD_ID from crictl-style JSON configs; prints its ID.

    POD_CONFIG is the file the pod was run with.  A missing image is pulled first.

    \b
    Examples:
      ocix cri create POD_ID container.json pod.json
      ocix cri start "$(ocix cri create POD_ID container.json pod.json)"
    """
    from ...jobs.cri.configs import load_container_config, load_pod_config
    from ...jobs.cri.crictl import create_container

    container = load_container_config(container_config)
    pod = load_pod_config(pod_config)
    cid, pulled = create_container(state.client(), pod_id, container, pod, pull=not no_pull)
    if pulled:
        click.echo(f"Pulled {container.image} ({pulled})", err=True)
    click.echo(cid)


@click.command()
@click.argument("ids", nargs=-1, required=True)
@pass_cri
def start(state: CriState, ids: tuple[str, ...]) -> None:
    """Start created containers; prints each ID.

    \b
    Examples:
      ocix cri start CONTAINER_ID
    """
    for cid in ids:
        state.client().start_container(cid)
        click.echo(cid)


@click.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--timeout", "-t", default=0, metavar="SECONDS",
              help="Grace period after the stop signal before SIGKILL.")
@pass_cri
def stop(state: CriState, ids: tuple[str, ...], timeout: int) -> None:
    """Stop running containers; prints each ID.

    \b
    Examples:
      ocix cri stop CONTAINER_ID
      ocix cri stop -t 10 CONTAINER_ID
    """
    for cid in ids:
        state.client().stop_container(cid, timeout)
        click.echo(cid)


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--force", "-f", is_flag=True, help="Stop running containers first.")
@click.option("--all", "-a", "remove_all", is_flag=True, help="Remove every container.")
@pass_cri
def rm(state: CriState, ids: tuple[str, ...], force: bool, remove_all: bool) -> None:
    """Remove containers; prints each ID.

    \b
    Examples:
      ocix cri rm CONTAINER_ID
      ocix cri rm -f CONTAINER_ID
      ocix cri rm -a -f
    """
    from ...jobs.cri.crictl import remove_containers

    for cid in remove_containers(state.client(), list(ids), force=force, all=remove_all):
        click.echo(cid)


@click.command()
@click.argument("ids", nargs=-1, required=True)
@pass_cri
def stopp(state: CriState, ids: tuple[str, ...]) -> None:
    """Stop pod sandboxes and their containers.

    \b
    Examples:
      ocix cri stopp POD_ID
    """
    for pid in ids:
        state.client().stop_pod(pid)
        click.echo(f"Stopped sandbox {pid}")


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--force", "-f", is_flag=True, help="Stop ready pods first.")
@click.option("--all", "-a", "remove_all", is_flag=True, help="Remove every pod.")
@pass_cri
def rmp(state: CriState, ids: tuple[str, ...], force: bool, remove_all: bool) -> None:
    """Remove pod sandboxes and their containers.

    \b
    Examples:
      ocix cri rmp POD_ID
      ocix cri rmp -f POD_ID
      ocix cri rmp -a -f
    """
    from ...jobs.cri.crictl import remove_pods

    for pid in remove_pods(state.client(), list(ids), force=force, all=remove_all):
        click.echo(f"Removed sandbox {pid}")


@click.command()
@click.argument("images", nargs=-1, required=True)
@pass_cri
def rmi(state: CriState, images: tuple[str, ...]) -> None:
    """Remove images from the runtime, by reference or ID.

    \b
    Examples:
      ocix cri rmi busybox:latest
      ocix cri rmi "$(ocix cri images -q busybox)"
    """
    client = state.client()
    for image in images:
        if client.image_status(image) is None:
            from ...errors import NotFoundError

            raise NotFoundError(f"no image {image} in the runtime",
                                hint="list them with `ocix cri images`")
        client.remove_image(image)
        click.echo(f"Deleted: {image}")


COMMANDS = [runp, create, start, stop, rm, stopp, rmp, rmi]
