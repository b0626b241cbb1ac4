"""containerd's defaults that ocix relies on, in a module with no imports.

The command line reads them for its option defaults without loading the gRPC stubs."""

DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACE = "default"
DEFAULT_SNAPSHOTTER = "overlayfs"
