"""containerd over raw gRPC: the connection and one module per service."""
