"""Commands about this host and its daemons: version, plugins, namespaces, info, the lab."""
