"""OCI primitives: media types, digests, descriptors, chain IDs, runtime-spec generation."""
