"""OCI primitives: media types, digests, descriptors, layouts, runtime specs; fs/: layer tars."""
