"""crictl's rules over the CRI client: config files, listings, pod and container lifecycle."""
