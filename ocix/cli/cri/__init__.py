"""`ocix cri`: the Kubernetes CRI, like crictl (listings, pod and container lifecycle)."""
