"""Registry exploration without containerd: browse, referrers, artifacts, copy."""
