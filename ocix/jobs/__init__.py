"""Jobs: each drives one whole user-visible job across services, one floor above the clients.

    images/      pull (plan, fetch, unpack), find and walk an image, validate image and ref,
                 its final filesystem (cat, cp, diff), the waste ledger and its CI gate
    store/       what containerd holds: anatomy, layers, snapshots, df, the GC graph, why,
                 labels, content, leases, events, dockerd's own layers
    containers/  image to runtime spec, create and remove, run, tasks exec, attach, bundle
    cri/         crictl's rules over the CRI client and its config files
    host/        `ocix info`: every daemon, socket and runtime here, rootless ones included
    compare/     one command through docker, containerd, runc, crun, CRI and podman

A job may call any client and the lab (`ocix.lab`); a client never imports a job, and the
floors are in docs/architecture.md.
"""
