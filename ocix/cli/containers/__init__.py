"""Commands about containers: run, spec, bundle, tasks; the kernel's view; caps; compare."""
