"""Images into containerd and back out: pull (plan, fetch, unpack), find and walk an image, validate one."""
