"""The Kubernetes CRI v1 client (RuntimeService and ImageService over gRPC)."""

CRI_PEER = "the CRI runtime"  # how messages name the server: containerd's cri plugin or CRI-O
CRIO_SOCKET = "/var/run/crio/crio.sock"  # CRI-O's standard endpoint (docs/info.md, docs/cri.md)
