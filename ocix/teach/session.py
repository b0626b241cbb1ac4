"""What every tour step runs in: the Session (the lab's environment, the values earlier steps
learned, the cleanups), the Step records, and the two ways a step stops short.

A Session runs ocix commands as subprocesses and removes everything the tour made in
`close()`, which callers run in a finally block.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import OcixError

NAMESPACE = "ocix-tour"  # the tour's containerd namespace: what it makes is easy to find
PREFIX = "ocix-tour-"  # every container, task and pod the tour names starts with this
# Returns None when an `ocix …` line names a command of this build, else why not. The CLI
# passes its click-tree check in, so this layer needs no click.
CommandCheck = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    handout: str
    look_for: str
    action: str
    explanation: str
    run: list[str] = field(default_factory=list)
    ocix: str = ""
    keep: list[str] = field(default_factory=list)
    host: list[str] = field(default_factory=list)
    fixture: str = ""
    needs: list[str] = field(default_factory=list)
    limit: int = 0  # most lines of one command's output to show (0: all)

    @property
    def ocix_command(self) -> str:
        return self.ocix or "\n".join(self.run)

    @property
    def listing(self) -> str:
        """The first ocix command for `tour --list`: values filled at run time as NAMES."""
        return re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(),
                      self.ocix_command.splitlines()[0])


@dataclass
class StepResult:
    number: int
    title: str
    handout_command: str
    look_for: str
    ocix_command: str
    output: str
    explanation: str
    ok: bool
    skipped_reason: str


class NeedsCommand(OcixError):
    """A command the step runs is not part of this build (it lands with another change)."""


class StepFailed(OcixError):
    """The step ran but did not show what it should; the output so far is kept."""


def first_lines(text: str, limit: int) -> str:
    lines = text.splitlines()
    if not limit or len(lines) <= limit:
        return text
    return "\n".join([*lines[:limit], f"… ({len(lines) - limit} more lines)"])


def keep_blocks(text: str, prefixes: list[str]) -> str:
    """Only the blank-line-separated blocks whose first line starts with one of `prefixes`."""
    if not prefixes:
        return text
    blocks = re.split(r"\n\s*\n", text)
    return "\n\n".join(b for b in blocks if b.lstrip().startswith(tuple(prefixes)))


def daemon_rootless(info: str) -> dict[str, str]:
    """Each daemon's ROOTLESS answer in `ocix info`'s output, as a table row or, on a narrow
    terminal, as a block per daemon ("DAEMON docker" then "  ROOTLESS  yes")."""
    lines = info.splitlines()
    header = next((ln for ln in lines if ln.split()[:2] == ["DAEMON", "ADDRESS"]), "")
    out: dict[str, str] = {}
    if "ROOTLESS" in header:  # the table: ROOTLESS is a column
        col = header.index("ROOTLESS")
        for ln in lines[lines.index(header) + 2:]:
            if not ln.strip():
                break
            if ln[:1].strip() and len(ln) > col and ln[col:].split():
                out[ln.split()[0]] = ln[col:].split()[0]
        return out
    name = ""
    for ln in lines:
        if ln.startswith("DAEMON "):
            name = ln.split()[1]
        elif name and ln.split()[:1] == ["ROOTLESS"]:
            out[name] = ln.split()[1]
    return out


class Session:
    def __init__(self, env: dict[str, str], check: CommandCheck, lab_dir: str,
                 timeout: float = 180.0) -> None:
        self.env = {**os.environ, **env, "CONTAINERD_NAMESPACE": NAMESPACE}
        self.env.pop("OCIX_TRACE", None)
        self.check = check
        self.lab_dir = lab_dir
        self.timeout = timeout
        self.vars: dict[str, str] = {}
        self.done: set[str] = set()  # fixtures already set up in this session
        self.keep: set[str] = set()  # fixtures left for a later `tour --step` run (kept_fixtures)
        self.objects: dict[str, Any] = {}  # clients the actions share (closed by close())
        self._cleanups: list[tuple[str, Callable[[], None]]] = []

    def wrap(self, text: str) -> str:
        """A sentence of a step's own output, wrapped to the width its commands print at."""
        try:
            width = int(self.env.get("COLUMNS", "80"))
        except ValueError:
            width = 80
        return textwrap.fill(text, width=max(40, width), break_long_words=False,
                             break_on_hyphens=False)

    def fill(self, line: str) -> str:
        try:
            return line.format(**self.vars)
        except KeyError as e:
            raise StepFailed(f"{line!r} needs {e.args[0]}, which no earlier action set") from e

    def ocix(self, line: str, keep: list[str] | None = None, *, must_pass: bool = True,
             limit: int = 0) -> tuple[int, str]:
        """Run one `ocix …` line as `python -m ocix` with the lab's environment; returns the exit
        code and the transcript ("$ line" then the output)."""
        line = self.fill(line)
        problem = self.check(line)
        if problem is not None:
            raise NeedsCommand(problem)
        argv = [sys.executable, "-m", "ocix", *shlex.split(line)[1:]]
        try:
            r = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                               timeout=self.timeout, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as e:
            raise StepFailed(f"`{line}` did not finish in {self.timeout:.0f}s") from e
        out = "\n".join(ln.rstrip() for ln in (r.stdout + r.stderr).splitlines())
        transcript = f"$ {line}\n{first_lines(keep_blocks(out, keep or []), limit)}".rstrip()
        if must_pass and r.returncode != 0:
            raise StepFailed(f"`{line}` exited with {r.returncode}", hint=transcript)
        return r.returncode, transcript

    def host(self, argv: list[str], timeout: float = 60.0) -> tuple[int, str]:
        """Run a host command (the handout's own, e.g. lsns or runc) and return its transcript."""
        argv = [self.fill(a) for a in argv]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL, check=False, env=self.env)
        except FileNotFoundError:
            return 127, f"$ {shlex.join(argv)}\n{argv[0]}: not installed"
        except subprocess.TimeoutExpired as e:
            raise StepFailed(f"`{shlex.join(argv)}` did not finish in {timeout:.0f}s") from e
        out = "\n".join(ln.rstrip() for ln in (r.stdout + r.stderr).splitlines())
        return r.returncode, f"$ {shlex.join(argv)}\n{out}".rstrip()

    def on_close(self, what: str, fn: Callable[[], None]) -> None:
        self._cleanups.append((what, fn))

    def close(self) -> list[str]:
        """Undo everything, newest first; returns what could not be removed, with why."""
        problems = []
        while self._cleanups:
            what, fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # every cleanup runs; each failure is reported, none hidden
                problems.append(f"{what}: {e}")
        return problems
