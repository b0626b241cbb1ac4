"""`ocix info`: the daemons, sockets and runtimes of this host, rootless ones included."""
