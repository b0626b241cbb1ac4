"""The lab's images: the builder and seed recipes, real debian and app images, `lab import`."""
