"""Commands about what containerd holds: content, snapshots, leases, df, why, events."""
