"""What containerd holds: image anatomy, layers, snapshots, df, the GC graph and `why`, labels, content, leases, events."""
