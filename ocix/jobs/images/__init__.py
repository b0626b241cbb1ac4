"""Images into containerd and back out: pull, find and walk, validate, final filesystem, waste."""
