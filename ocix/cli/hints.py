"""The hints that name an `ocix` command, chosen at the command line from the error.

The library's errors speak of their own protocol: a class, a `kind` ("unreachable",
"lab-down" ...) and a `subject` (the peer, an image).  Which `ocix` command helps is the
command line's knowledge, kept here the way ctr keeps its own in cmd/ctr/commands.  An error
that carries a hint of its own keeps it.
"""

from __future__ import annotations

from ..errors import OcixError, UnreachableError

LAB_ENV = "`eval \"$(ocix lab env)\"`"
LAB_HINT = f"start the lab with `ocix lab up`, then {LAB_ENV}, or pass --address"
DOCKER_HINT = f"start the lab with `ocix lab up --with-docker`, then {LAB_ENV}"
CRI_HINT = ("pass --cri-address unix:///path/to.sock or set CONTAINER_RUNTIME_ENDPOINT; "
            f"for the lab: `ocix lab up` then {LAB_ENV}")

# UnreachableError, by the peer it could not reach.
UNREACHABLE = {
    "containerd": LAB_HINT,
    "the CRI runtime": CRI_HINT,
    "dockerd": DOCKER_HINT,
}

# kind -> hint; {subject} is the error's subject.
BY_KIND = {
    "lab-down": "start it with `ocix lab up`",
    "lab-part-missing": f"start the lab with `ocix lab up --with-{{subject}}`, then {LAB_ENV}",
    "lab-layout-blob-missing": "rebuild the images with `ocix lab seed`",
    "registry-host-unknown": ("check the name and the network; offline, `ocix lab up` and "
                              f"{LAB_ENV} make the lab registry a docker.io mirror"),
    "fifo-dir-denied": "ocix run needs root",
    "image-unknown": "`ocix pull {subject}` first, or see `ocix images ls`",
    "platform-not-pulled": "that platform was not pulled: `ocix pull --platform OS/ARCH IMAGE`",
    "layer-missing": "pull the image again: `ocix pull IMAGE`",
    "blob-unknown": "list blobs with `ocix content ls`",
    "snapshot-unknown": "list them with `ocix snapshots ls`",
    "lease-unknown": "list them with `ocix leases ls`",
    "gc-ref-unknown": "list them with `ocix content ls` and `ocix snapshots ls`",
    "cri-pod-unknown": "list them with `ocix cri pods`",
    "cri-container-unknown": "list them with `ocix cri ps -a`",
    "cri-image-missing": "pull it with `ocix cri pull {subject}`",
    "cri-pod-ready": "stop it with `ocix cri stopp`, or pass --force",
    "container-unknown": "list them with `ocix containers ls`",
    "container-unknown-anywhere": "list them with `ocix containers ls` or `docker ps -a`",
    "artifact-not-manifest": "pull one referrer by digest: REPO@sha256:… from `ocix referrers`",
    "debian-no-source": ("give one with --mirror URL (or $OCIX_DEBIAN_MIRROR), or bring an "
                         "image as a file with `ocix lab import`"),
    "debian-archive-unreachable": ("`skopeo copy docker://debian:bookworm oci-archive:debian.tar` "
                                   "on a machine with internet, then `ocix lab import debian.tar`"),
    "layer-refused": ("`ocix pull --no-unpack {subject}` then `ocix layers {subject}` shows every "
                      "hostile entry without writing anything"),
    "registry-host-not-repo": ("name one, like {subject}/library/busybox; list them with "
                               "`ocix registry repos {subject}`"),
    "tour-step-unknown": "steps are 1-{subject}: `ocix tour --list`",
}


def hint_for(e: OcixError) -> str | None:
    """The hint the command line prints under the error line, if any."""
    if e.hint:
        return e.hint
    if isinstance(e, UnreachableError) and e.kind == "unreachable":
        return UNREACHABLE.get(e.subject or "")
    template = BY_KIND.get(e.kind or "")
    return template.format(subject=e.subject) if template else None
