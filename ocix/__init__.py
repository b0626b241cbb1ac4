"""ocix: an OCI explorer for containerd, runc, Docker and CRI."""

__version__ = "0.1.0"
