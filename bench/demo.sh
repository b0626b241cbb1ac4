#!/usr/bin/env bash
# `make demo`: start the lab (or reuse the one running in $OCIX_LAB_DIR) and walk through what
# ocix does, step by step.  Every step is a real call to the lab's containerd, registry, dockerd,
# podman or the runtimes.  Any failing step stops the demo with its name and exit code; what the
# demo started (a container, a CRI pod, temp files) is removed on every exit, the lab stays.
set -euo pipefail
cd "$(dirname "$0")/.."
OCIX=.venv/bin/ocix
PY=.venv/bin/python
current="lab up"
pod=""
seed_pid=""
tmp=$(mktemp -d)

step() { current=$1; printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

cleanup() {
  local rc=$?
  "$OCIX" containers rm -f demo-kv >/dev/null 2>&1 || true
  if [ -n "$pod" ]; then "$OCIX" cri rmp -f "$pod" >/dev/null 2>&1 || true; fi
  if [ -n "$seed_pid" ]; then kill "$seed_pid" 2>/dev/null || true; wait "$seed_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
  if [ "$rc" -ne 0 ]; then
    printf '\n\033[1;31mdemo FAILED at "%s" (exit %s)\033[0m\n' "$current" "$rc" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

"$OCIX" lab up --with-docker --with-podman
eval "$("$OCIX" lab env)"
# debian:bookworm and app:latest come from the Debian archive (~40 s the first time, then from
# the lab's cache): built in the background while the first steps run.
"$OCIX" lab seed --debian -q >"$tmp/seed-debian.log" 2>&1 &
seed_pid=$!

# --- the basics: daemons, pull, images, validate, run -------------------------------------
step "Client and daemon" "$OCIX" version
step "Every daemon, socket and runtime on this host (ps aux | grep dockerd, docker info)" "$OCIX" info
step "docker's default capabilities against podman's" "$OCIX" caps --diff 00000000a80425fb 00000000800405fb
step "What containerd loaded (like ctr plugins ls)" "$OCIX" plugins 'type==io.containerd.snapshotter.v1'
step "Pull through the lab's docker.io mirror, over raw gRPC" "$OCIX" pull busybox
step "A four-layer image with whiteouts (the base layer is busybox's: not downloaded again)" "$OCIX" pull layers
step "Images (ctr sees the same ones)" "$OCIX" images ls
step "ctr agrees: content complete and unpacked" ctr -a "$CONTAINERD_ADDRESS" images check
step "Namespaces and what they hold" "$OCIX" namespaces ls
step "Validate the image in containerd" "$OCIX" validate image busybox
bundle="$tmp/bundle"
current="runc spec"
mkdir -p "$bundle/rootfs"
runc spec -b "$bundle"
step "Validate what \`runc spec\` writes (valid, with an ambient-capability warning)" "$OCIX" validate "$bundle"
step "Run through containerd like ctr run" "$OCIX" run --rm busybox sh -c 'echo hello from $(hostname); grep CapEff /proc/self/status'
step "Drop every capability" "$OCIX" run --rm --cap-drop ALL busybox grep CapEff /proc/self/status
"$OCIX" containers rm -f demo-kv >/dev/null 2>&1 || true
current="start demo-kv"
"$OCIX" run -d --name demo-kv --memory 67108864 --pids-limit 50 busybox sleep 600 >/dev/null
step "The kernel's view of that container" "$OCIX" kernel demo-kv

# --- explore what containerd holds ----------------------------------------------------------
step "An image's anatomy: manifest, config, each layer's digest, diff ID, chain ID and snapshot" \
  "$OCIX" images inspect layers
step "What two images share: stored once, unpacked once" "$OCIX" images diff busybox layers
step "What each layer adds, changes and deletes (read from the tar headers, nothing extracted)" \
  "$OCIX" layers layers
step "Layer 3 file by file: D is a whiteout, O an opaque directory" "$OCIX" layers layers --layer 3 --files
current="find busybox's base layer"
base=$("$OCIX" images inspect busybox --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
step "Why garbage collection keeps busybox's layer: every chain from a root" "$OCIX" why "$base"
step "Snapshots as parent chains, with their images and the container" "$OCIX" snapshots tree
current="lab seed --debian (in the background since the start)"
if wait "$seed_pid"; then
  seed_pid=""
  step "A real image: debian:bookworm bootstrapped from the Debian archive, app:latest built on it" \
    "$OCIX" pull app
  step "app's history reads like its Dockerfile (empty_layer steps included)" "$OCIX" images history app
  step "What each of app's layers adds, changes and deletes" "$OCIX" layers app
  step "Layer 3 of app: apt's lists and cache, left by layer 2, deleted by whiteouts" \
    "$OCIX" layers app --layer 3 --files
else
  # Offline: the archive is unreachable; the rest of the demo needs only the seed images.
  seed_pid=""
  printf '\n\033[1m== debian and app skipped\033[0m\n%s\n' "$(head -1 "$tmp/seed-debian.log")"
fi
step "Where the bytes are, and what removing each image would free" "$OCIX" df
current="read CapBnd"
bnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
step "What this machine's root may not hand to any container (ALL against root's bounding set)" \
  "$OCIX" caps --diff ALL "$bnd"
"$OCIX" containers rm -f demo-kv >/dev/null

# --- the same containerd through the Kubernetes CRI, like crictl ----------------------------
current="clean up an earlier demo pod"
"$OCIX" cri pods --name '^ocix-demo$' -q | xargs -r "$OCIX" cri rmp -f >/dev/null
mkdir -p "$tmp/logs"
cat > "$tmp/pod.json" <<EOF
{"metadata": {"name": "ocix-demo", "uid": "ocix-demo", "namespace": "default"},
 "log_directory": "$tmp/logs",
 "linux": {"security_context": {"namespace_options": {"network": 2}}}}
EOF
cat > "$tmp/ctr.json" <<'EOF'
{"metadata": {"name": "hello"}, "image": {"image": "docker.io/library/busybox:latest"},
 "command": ["sh", "-c", "echo hello from a CRI container; sleep 600"], "log_path": "hello.log"}
EOF
current="cri runp (a host-network pod: no CNI needed)"
printf '\n\033[1m== %s\033[0m\n$ %s\n' "$current" "$OCIX cri runp pod.json"
pod=$("$OCIX" cri runp "$tmp/pod.json")
echo "$pod"
current="cri create + start"
cid=$("$OCIX" cri create "$pod" "$tmp/ctr.json" "$tmp/pod.json")
"$OCIX" cri start "$cid" >/dev/null
step "Pods (crictl pods)" "$OCIX" cri pods
step "Containers (crictl ps)" "$OCIX" cri ps
step "ExecSync in it (crictl exec)" "$OCIX" cri exec "$cid" id
step "Stop and remove the pod with its container (crictl rmp -f)" "$OCIX" cri rmp -f "$pod"
pod=""

# --- the stacks side by side, and the handout's steps ---------------------------------------
step "One command through docker, containerd, runc, crun, CRI and podman" \
  "$OCIX" compare busybox -- sh -c 'grep CapEff /proc/self/status'
step "What a shim is, and which parts of that stack run here" "$OCIX" explain shims
step "The handout's step 24: a pid namespace by hand with unshare, next to ocix kernel" \
  "$OCIX" tour --step 24 --yes

printf '\nThe lab keeps running; `%s lab down` stops it.\n' "$OCIX"
