"""Installed programs: where a program is, and what its `--version` says.

One place for what the lab, `ocix info`, `ocix explain` and `ocix compare` each need to know
about runc, crun, containerd and the rest.  Root's tools live in /usr/sbin, which a non-root
PATH may lack; podman keeps some helpers in /usr/libexec/podman.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache

EXTRA_DIRS = ("/usr/sbin", "/sbin", "/usr/libexec/podman")


def find(name: str) -> str | None:
    """The program's path: PATH first, then the directories PATH often lacks; None if absent."""
    return shutil.which(name) or next(
        (p for p in (f"{d}/{name}" for d in EXTRA_DIRS) if os.access(p, os.X_OK)), None)


def version_line(argv: list[str], timeout: float = 5.0) -> str:
    """The first non-empty output line of e.g. `runc --version`; "" when it fails.

    "Version:" in front is dropped, and a first line that only names the binary
    ("/usr/bin/containerd-shim-runc-v2:") is skipped."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [ln.strip() for ln in (r.stdout + "\n" + r.stderr).splitlines() if ln.strip()]
    if r.returncode != 0 and lines and lines[0].startswith("flag provided but not defined"):
        return ""  # Go's flag package: the program has no such version flag
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return " ".join(lines[0].removeprefix("Version:").split()) if lines else ""


def version_word(line: str) -> str:
    """"runc version 1.1.5+ds1" -> "1.1.5+ds1": the word after "version", else the line."""
    words = line.split()
    return words[words.index("version") + 1] if "version" in words[:-1] else line


@cache
def named_version(binary: str) -> str:
    """'runc 1.1.5+ds1' from the first line of `binary --version`; the bare name if unknown."""
    first = version_line([binary, "--version"], timeout=10)
    return f"{binary} {first.split()[-1]}" if "version" in first else binary
