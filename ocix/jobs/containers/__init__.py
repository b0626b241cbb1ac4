"""Containers and tasks: image to runtime spec, create and remove, run, exec, attach, bundles."""
