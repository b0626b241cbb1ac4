"""podman, the conmon stack (conmon, containers/storage, containers/image) CRI-O is built on."""
