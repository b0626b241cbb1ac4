"""`ocix lab`: placeholder until the lab module lands."""
from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Run the embedded lab."""
