"""`ocix sbom`: an image's packages from its layers, as CycloneDX JSON."""

from __future__ import annotations

import click

from ..options import client_options, json_option, registry_options
from ..output import print_kv, print_table, write_text


@click.command()
@click.argument("image")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Which manifest of an index (default: this host's).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the CycloneDX JSON to this file.")
@click.option("--attach", "attach_it", is_flag=True,
              help="Push the CycloneDX JSON as a referrer of the image (artifactType application/vnd.cyclonedx+json).")
@registry_options
@json_option
def sbom(image: str, platform: str | None, output: str | None, attach_it: bool,
         hosts_dir: str | None, plain_http: bool, user: str | None, as_json: bool) -> None:
    """Nothing is run or extracted.  The layers' tar headers give the final filesystem, as for
    `ocix cat` (whiteouts and opaque directories applied, symlinks followed inside the image's
    root, hostile entries refused); then only the layers holding dpkg's /var/lib/dpkg/status
    (and status.d/), apk's /lib/apk/db/installed or a busybox binary are read again.  busybox
    with its applets is one package.  Every byte is checked against its layer's digest.

    \b
    Examples:
      ocix sbom "$OCIX_REGISTRY/library/busybox:latest"
      ocix sbom "$OCIX_REGISTRY/library/busybox:latest" --json > sbom.cdx.json
      ocix sbom "$OCIX_REGISTRY/library/busybox:latest" --attach && ocix referrers "$OCIX_REGISTRY/library/busybox:latest"
    """
    import tempfile
    from pathlib import Path

    from ...jobs.registry.sbom import sbom as read_sbom
    from ..progress import LayerStatus

    opts = client_options(hosts_dir, plain_http, user)
    with LayerStatus(not as_json) as status:
        result = read_sbom(image, opts, platform=platform, on_layer=status.layer)
    if output:
        Path(output).write_text(result.document)
    attached = None
    if attach_it:
        from ...jobs.registry.artifacts import attach

        with tempfile.TemporaryDirectory(prefix="ocix-sbom-") as tmp:
            path = Path(tmp) / "sbom.cdx.json"
            path.write_text(result.document)
            attached = attach(f"{result.name.split('@')[0]}@{result.digest}",
                              "application/vnd.cyclonedx+json", [path], opts)
    if as_json:
        write_text(result.document + "\n")
        return
    print_kv([("Image", result.name), ("Manifest", result.digest),
              ("Read", ", ".join(result.databases) or "no package database found"),
              ("Packages", len(result.packages))]
             + ([("Attached", f"{attached.digest} (via the {attached.via})")] if attached else []))
    click.echo()
    print_table(["NAME", "VERSION", "KIND", "ARCH", "SOURCE"],
                [[p.name, p.version, p.kind + (f" ({p.applets} applets)" if p.applets else ""),
                  p.arch, p.source] for p in result.packages], empty="no packages")
