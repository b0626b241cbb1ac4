"""The embedded lab: private containerd, loopback registry, seeded images, dockerd, podman."""
