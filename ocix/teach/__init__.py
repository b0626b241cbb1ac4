"""Teaching: `explain` topics and their live probes, and `ocix tour`, the handout's steps run
live (texts are package data: topics/*.toml, tour.toml)."""
