#!/usr/bin/env bash
# `make demo`: start the lab and walk through what ocix does, step by step.
# Every step is a real call to the lab's containerd, registry or the runtimes.
set -euo pipefail
cd "$(dirname "$0")/.."
OCIX=.venv/bin/ocix
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }
have() { "$OCIX" "$1" --help >/dev/null 2>&1; }

"$OCIX" lab up --with-docker --with-podman
eval "$("$OCIX" lab env)"
step "Client and daemon" "$OCIX" version
step "Every daemon, socket and runtime on this host (ps aux | grep dockerd, docker info)" "$OCIX" info
step "docker's default capabilities against podman's" "$OCIX" caps --diff 00000000a80425fb 00000000800405fb
step "What containerd loaded (like ctr plugins ls)" "$OCIX" plugins 'type==io.containerd.snapshotter.v1'
step "Pull through the lab's docker.io mirror, over raw gRPC" "$OCIX" pull busybox
step "A three-layer image with whiteouts" "$OCIX" pull layers
step "Images (ctr sees the same ones)" "$OCIX" images ls
step "ctr agrees: content complete and unpacked" ctr -a "$CONTAINERD_ADDRESS" images check
step "Namespaces and what they hold" "$OCIX" namespaces ls
step "Validate the image in containerd" "$OCIX" validate image busybox
bundle=$(mktemp -d)
runc spec -b "$bundle" && mkdir -p "$bundle/rootfs"
step "Validate what \`runc spec\` writes (note the ambient-capability warning)" "$OCIX" validate "$bundle" || true
rm -rf "$bundle"
if have run; then
  step "Run through containerd like ctr run" "$OCIX" run --rm busybox sh -c 'echo hello from $(hostname); grep CapEff /proc/self/status'
  step "Drop every capability" "$OCIX" run --rm --cap-drop ALL busybox grep CapEff /proc/self/status
  "$OCIX" tasks kill -s KILL demo-kv >/dev/null 2>&1 || true
  "$OCIX" containers rm -f demo-kv >/dev/null 2>&1 || true
  "$OCIX" run -d --name demo-kv --memory 67108864 --pids-limit 50 busybox sleep 600 >/dev/null
  step "The kernel's view of that container" "$OCIX" kernel demo-kv
  "$OCIX" tasks kill -s KILL demo-kv >/dev/null; "$OCIX" containers rm -f demo-kv >/dev/null
fi
printf '\nThe lab keeps running; `%s lab down` stops it.\n' "$OCIX"
