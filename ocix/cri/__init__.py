"""The Kubernetes CRI v1 client (RuntimeService and ImageService over gRPC)."""

CRIO_SOCKET = "/var/run/crio/crio.sock"  # CRI-O's standard endpoint (docs/info.md, docs/cri.md)
