"""The page: Jinja2 with autoescaping, the inline stylesheet and script, and the CSP that
allows exactly those two (docs/report.md)."""

from __future__ import annotations

import base64
import hashlib
import os
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import OcixError

TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True)
class Section:
    id: str  # the anchor: host, compare, image-<n>, store
    title: str
    template: str
    context: dict[str, Any]


def csp_hash(text: str) -> str:
    """The CSP source that allows exactly this inline element's text."""
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def policy(style: str, script: str) -> str:
    """Nothing may load: no host, no frame, no form target; only our own style and script."""
    return ("default-src 'none'; img-src data:; "
            f"style-src {csp_hash(style)}; script-src {csp_hash(script)}; "
            "base-uri 'none'; form-action 'none'")


@cache
def environment() -> Any:
    import jinja2  # the page's only heavy import, loaded only when a page is written

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["size"] = human_size
    env.filters["short"] = short_digest
    return env


def human_size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def short_digest(d: str, n: int = 12) -> str:
    """sha256:0123456789ab for a digest; anything else (an image name) as it is."""
    algo, _, hexpart = (d or "").partition(":")
    if algo.isalnum() and hexpart and all(c in "0123456789abcdef" for c in hexpart):
        return f"{algo}:{hexpart[:n]}"
    return d


def render(sections: list[Section], title: str, nav: list[tuple[str, str]] | None = None,
           glance: list[tuple[str, str, str]] | None = None) -> str:
    """The whole page: each section's template, then the frame around them.  `nav` (href,
    text) replaces the links to the sections (the handbook links its pages); `glance` (text,
    href, link text) is what differs, said first."""
    env = environment()
    style = (TEMPLATES / "report.css").read_text()
    script = (TEMPLATES / "report.js").read_text()
    import markupsafe

    bodies = [(s, markupsafe.Markup(env.get_template(s.template).render(
        section=s, **s.context))) for s in sections]
    return env.get_template("page.html.j2").render(
        title=title, sections=bodies, csp=policy(style, script), nav=nav, glance=glance or [],
        style=markupsafe.Markup(style), script=markupsafe.Markup(script),
        version=__version__, made=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        host=os.uname().nodename)


def write(path: str | Path, html: str) -> int:
    """Write the page atomically (a reader never sees half a page); its size in bytes."""
    data = html.encode()
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # mkdir's word for "a part of the path is a file"
        raise OcixError(f"cannot write {path}: {target.parent} is not a directory") from None
    except OSError as e:
        raise OcixError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as e:
        with suppress(OSError):  # the directory may be a file, or not ours to write
            tmp.unlink(missing_ok=True)
        raise OcixError(f"cannot write {path}: {e.strerror or e}") from None
    return len(data)
