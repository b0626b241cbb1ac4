"""Jobs: code that drives one whole user-visible job across services.

pull, unpack, run, exec, bundle (and compare, explore, tour) live here, one layer above the
per-service clients (`ocix.containerd`, `ocix.registry`, `ocix.cri`, `ocix.dockerapi`) and
below the CLI.  A job module may call any client; a client never imports a job.
"""
