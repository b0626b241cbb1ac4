"""`ocix compare`: one command through docker, containerd, runc, crun, CRI and podman, side by side.

How each path runs and how the kernel evidence is read: docs/compare.md.
"""
