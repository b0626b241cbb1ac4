"""library/app:latest: what a typical Dockerfile makes of debian:bookworm, built step by step.

Each RUN runs chrooted in the real tree and becomes the layer of what it changed (rootfs.py);
COPY writes into the tree; ENV, WORKDIR and CMD change only the config (empty_layer).  The
steps leave on purpose what layer tools exist to find (docs/real-images.md): apt's lists and
cache kept by one layer and deleted by a later one, a large file written and then rewritten,
a file whose only change is its mode.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...oci.descriptor import Descriptor
from ...oci.layout import LayoutImage, canonical_json, read_blob
from ..state import Progress
from .debian import PATH_ENV, Recipe, assemble, rfc3339
from .layers import EPOCH, BuiltLayer, LayerSpec, write_layer
from .rootfs import changes, run_in, walk

PACKAGES = ("python3-minimal", "ca-certificates")
MODEL_MIB = 24
APP_PY = b'''import sys
with open("/etc/debian_version") as f:
    debian = f.read().strip()
print(f"app: python {sys.version.split()[0]} on debian {debian}")
'''
RUN_SH = b'#!/bin/sh\nexec python3 /app/app.py "$@"\n'


@dataclass(frozen=True)
class Step:
    instruction: str  # as a Dockerfile says it
    run: str = ""  # a RUN's shell command
    copy: tuple[tuple[str, bytes], ...] = ()  # COPY: (path in the image, content)
    config: tuple[tuple[str, Any], ...] = ()  # what the step sets in the config

    @property
    def empty(self) -> bool:
        return not self.run and not self.copy


def _run(cmd: str) -> Step:
    return Step(f"RUN /bin/sh -c {cmd} # buildkit", run=cmd)


STEPS: tuple[Step, ...] = (
    Step("ENV APP_HOME=/app", config=(("Env", "APP_HOME=/app"),)),
    _run("apt-get update && apt-get install -y --no-install-recommends " + " ".join(PACKAGES)),
    _run("rm -rf /var/lib/apt/lists/* /var/cache/apt/*"),
    Step("COPY app.py run.sh /app/ # buildkit",
         copy=(("app/app.py", APP_PY), ("app/run.sh", RUN_SH))),
    Step("WORKDIR /app", config=(("WorkingDir", "/app"),)),
    _run(f"dd if=/dev/urandom of=/app/model.bin bs=1M count={MODEL_MIB} status=none"),
    _run(f"dd if=/dev/urandom of=/app/model.bin bs=1M count={MODEL_MIB} status=none"),
    _run("chmod 0755 /app/run.sh"),
    Step('CMD ["/app/run.sh"]', config=(("Cmd", ["/app/run.sh"]),)),
)


def fingerprint() -> str:
    h = hashlib.sha256(canonical_json([[s.instruction, s.run,
                                        [(p, hashlib.sha256(b).hexdigest()) for p, b in s.copy],
                                        list(s.config)] for s in STEPS]))
    return "sha256:" + h.hexdigest()


def _apply_config(cfg: dict[str, Any], step: Step) -> None:
    for key, value in step.config:
        if key == "Env":
            cfg.setdefault("Env", []).append(value)
        else:
            cfg[key] = value


def build(rc: Recipe, cache: Path, base: LayoutImage, rootfs: Path,
          progress: Progress) -> LayoutImage:
    """Run STEPS on `rootfs` (the unpacked base) and write library/app:latest into `cache`."""
    manifest = json.loads(read_blob(cache, base.root.digest))
    base_cfg = json.loads(read_blob(cache, manifest["config"]["digest"]))
    layers = [BuiltLayer(Descriptor.from_json(d), diff_id, 0)
              for d, diff_id in zip(manifest["layers"], base_cfg["rootfs"]["diff_ids"],
                                    strict=True)]
    history: list[dict[str, Any]] = list(base_cfg["history"])
    config: dict[str, Any] = {"Env": [PATH_ENV], "Cmd": ["bash"]}
    env = {"DEBIAN_FRONTEND": "noninteractive", "HOME": "/root", "APP_HOME": "/app"}
    created = rfc3339(EPOCH)
    for n, step in enumerate(STEPS, 1):
        progress(f"app step {n}/{len(STEPS)}: {step.instruction.removesuffix(' # buildkit')}")
        entry: dict[str, Any] = {"created": created, "created_by": step.instruction,
                                 "comment": "buildkit.dockerfile.v0"}
        _apply_config(config, step)
        if step.empty:
            entry["empty_layer"] = True
            history.append(entry)
            continue
        before = walk(rootfs)
        if step.run:
            run_in(rootfs, step.run, env=env)
        for path, data in step.copy:
            target = rootfs / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o644)
        layer = write_layer(cache, LayerSpec(tuple(changes(rootfs, before, walk(rootfs))),
                                             created_by=step.instruction))
        layers.append(layer)
        history.append(entry)
    return assemble(cache, "library/app", "latest", rc.platform, layers, history, config,
                    created)
