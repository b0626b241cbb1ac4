"""containerd.services.introspection.v1.Introspection: the daemon's plugins."""

from __future__ import annotations

from dataclasses import dataclass, field

from .connection import Connection, load_stub_module

_pb = load_stub_module("services.introspection.v1.introspection_pb2")


@dataclass(frozen=True)
class Plugin:
    type: str
    id: str
    platforms: list[str]
    status: str  # "ok", "skip" or "error", like `ctr plugins ls`
    requires: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    capabilities: list[str] = field(default_factory=list)
    error: str = ""


def _platform(p: object) -> str:
    parts = [getattr(p, "os", ""), getattr(p, "architecture", ""), getattr(p, "variant", "")]
    return "/".join(x for x in parts if x)


def plugins(conn: Connection, filters: list[str] | None = None) -> list[Plugin]:
    r = conn.unary("introspection", "Plugins", _pb.PluginsRequest(filters=filters or []), what="plugins")
    out = []
    for p in r.plugins:
        error = ""
        status = "ok"
        if p.HasField("init_err"):
            error = p.init_err.message
            # containerd marks a plugin that chose not to load with ErrSkipPlugin's text.
            status = "skip" if "skip plugin" in error else "error"
        out.append(Plugin(type=p.type, id=p.id, platforms=[_platform(x) for x in p.platforms],
                          status=status, requires=list(p.requires), exports=dict(p.exports),
                          capabilities=list(p.capabilities), error=error))
    return out
