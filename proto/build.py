#!/usr/bin/env python3
"""Stage containerd's API protos from the installed Debian package and compile them.

Inputs (never committed):
  * containerd's ``api/**/*.proto`` from ``golang-github-containerd-containerd-dev``;
  * ``runtime/v2/runc/options/oci.proto`` (runc shim options) from the same package;
  * our own CRI subset in ``proto/cri/`` (written from cri-api's field numbers);
  * ``google/rpc/status.proto`` from the googleapis-common-protos wheel (include only: the
    wheel already ships its Python module).

Staging rewrites ``github.com/containerd/containerd/api/...`` imports to ``ocix/_api/containerd/...``
so the generated ``import`` lines are valid Python, and drops the gogoproto and fieldpath options:
they only steer Go code generation.  The output package is ``ocix/_api`` (gitignored).

The build is skipped when a hash of every input (and the grpcio-tools version) is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT_PKG = REPO / "ocix" / "_api"
STAMP = OUT_PKG / ".inputs.sha256"
GOPATH_SRC = Path(os.environ.get("OCIX_GOCODE", "/usr/share/gocode/src"))
CONTAINERD = GOPATH_SRC / "github.com/containerd/containerd"
GO_PREFIX = "github.com/containerd/containerd/"

# Which upstream protos we compile, relative to the containerd source tree.
UPSTREAM_GLOBS = ["api/services/*/v1/*.proto", "api/types/*.proto", "api/types/task/*.proto",
                  "api/events/*.proto", "runtime/v2/runc/options/oci.proto"]
SKIP = {"api/services/ttrpc/events/v1/events.proto"}  # the shim-side ttrpc copy; not served over gRPC

_OPTION_STMT = re.compile(r"^\s*option\s+\((?:gogoproto|containerd\.plugin)\.[\w.]+\)\s*=\s*[^;]+;\s*$", re.M)
_WEAK_IMPORT = re.compile(r'^\s*import\s+weak\s+"[^"]+";\s*$', re.M)
_FIELD_OPTS = re.compile(r"\[([^\[\]]*)\]")
_GO_OPT = re.compile(r"^\s*\((?:gogoproto|containerd\.plugin)\.[\w.]+\)\s*=")


def _strip_field_options(match: re.Match[str]) -> str:
    kept = [o for o in _split_options(match.group(1)) if not _GO_OPT.match(o)]
    return f"[{', '.join(o.strip() for o in kept)}]" if kept else ""


def _split_options(body: str) -> list[str]:
    """Split `a = 1, b = "x,y"` on the commas outside string literals."""
    parts, cur, quoted = [], "", False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def stage_text(text: str) -> str:
    """Rewrite one upstream proto so it compiles to importable Python under ocix/_api."""
    text = _WEAK_IMPORT.sub("", text)
    text = _OPTION_STMT.sub("", text)
    text = _FIELD_OPTS.sub(_strip_field_options, text)
    # api/... -> ocix/_api/containerd/...; runtime/... -> ocix/_api/containerd/runtime/...
    text = re.sub(r'import\s+"' + re.escape(GO_PREFIX) + r'api/([^"]+)"',
                  r'import "ocix/_api/containerd/\1"', text)
    return text


def staged_name(rel: str) -> str:
    if rel.startswith("api/"):
        return "ocix/_api/containerd/" + rel[len("api/"):]
    return "ocix/_api/containerd/" + rel


def upstream_protos() -> list[Path]:
    if not CONTAINERD.is_dir():
        sys.exit(f"proto/build.py: {CONTAINERD} is missing; install golang-github-containerd-containerd-dev "
                 "(`make setup` does)")
    found: set[Path] = set()
    for pattern in UPSTREAM_GLOBS:
        found.update(p for p in CONTAINERD.glob(pattern) if str(p.relative_to(CONTAINERD)) not in SKIP)
    return sorted(found)


def own_protos() -> list[Path]:
    return sorted(HERE.glob("cri/**/*.proto"))


def inputs_hash(files: list[Path]) -> str:
    import grpc_tools

    h = hashlib.sha256()
    h.update(getattr(grpc_tools, "__version__", "").encode())
    h.update(_tools_version().encode())
    h.update(Path(__file__).read_bytes())
    for f in files:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _tools_version() -> str:
    from importlib.metadata import version

    return version("grpcio-tools") + "/" + version("protobuf")


def main() -> int:
    force = "--force" in sys.argv
    upstream, own = upstream_protos(), own_protos()
    digest = inputs_hash(upstream + own)
    if not force and STAMP.exists() and STAMP.read_text().strip() == digest:
        print("stubs: up to date")
        return 0

    import grpc_tools
    from grpc_tools import protoc

    wkt = Path(grpc_tools.__file__).parent / "_proto"
    import google.rpc  # googleapis-common-protos ships status.proto next to its module

    googleapis_root = Path(next(iter(google.rpc.__path__))).parent.parent

    with tempfile.TemporaryDirectory(prefix="ocix-proto-") as tmp:
        stage = Path(tmp)
        targets: list[str] = []
        for src in upstream:
            name = staged_name(str(src.relative_to(CONTAINERD)))
            dst = stage / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(stage_text(src.read_text()))
            targets.append(name)
        for src in own:
            name = "ocix/_api/" + str(src.relative_to(HERE))
            dst = stage / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            targets.append(name)

        out = Path(tmp) / "out"
        out.mkdir()
        args = ["grpc_tools.protoc", f"-I{stage}", f"-I{wkt}", f"-I{googleapis_root}",
                f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *targets]
        if protoc.main(args) != 0:
            print("stubs: protoc failed", file=sys.stderr)
            return 1
        if OUT_PKG.exists():
            shutil.rmtree(OUT_PKG)
        shutil.copytree(out / "ocix" / "_api", OUT_PKG)
    for d in [OUT_PKG, *(p for p in OUT_PKG.rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    (OUT_PKG / "__init__.py").write_text('"""Generated by proto/build.py from installed protos. Do not edit."""\n')
    STAMP.write_text(digest + "\n")
    print(f"stubs: compiled {len(targets)} protos into {OUT_PKG.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
