"""The Kubernetes CRI v1 client (RuntimeService and ImageService over gRPC)."""
