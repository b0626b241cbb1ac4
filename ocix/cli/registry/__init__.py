"""Commands about registries: browse, referrers, attach, artifact pull, copy, sbom."""
