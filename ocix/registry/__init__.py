"""Registry client: the distribution API on oras-py (refs, auth, hosts, push, referrers)."""
