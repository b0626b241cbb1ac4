"""The Docker Engine API client (dockerd's HTTP API on its unix socket)."""
