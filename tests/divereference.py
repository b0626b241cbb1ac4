"""dive's three figures re-stated on their own, for the tests: flat sorted path lists instead of
dive's trees, written from dive's efficiency and analysis code, never calling ocix
(docs/layers.md, "dive's three figures")."""

from __future__ import annotations

import math

Entry = tuple[str, int, str]  # (tar name, size, "f" file | "d" dir | anything else: no data)


def _key(path: str) -> list[tuple[int, str]]:
    """Children before parents, siblings by name: the order dive visits a tree in."""
    return [(0, c) for c in path.strip("/").split("/")] + [(1, "")]


def _nodes(layer: list[Entry]) -> dict[str, tuple[int, bool]]:
    """path -> (size, is dir) of one layer's tree: entries, and their parents as bare nodes."""
    explicit: dict[str, tuple[int, bool]] = {}
    implied: set[str] = set()
    for name, size, kind in layer:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        cut = next((i for i, p in enumerate(parts) if p.startswith(".wh..wh.")), None)
        keep = parts if cut is None else parts[:cut]  # dive creates the names before a marker
        for i in range(1, len(keep) + (cut is not None)):
            implied.add("/" + "/".join(keep[:i]))
        if cut is None and parts:
            explicit["/" + "/".join(parts)] = (size if kind == "f" else 0, kind == "d")
    return {**{p: (0, False) for p in implied if p not in explicit}, **explicit}


def _under(path: str, tree: dict[str, tuple[int, bool]]) -> list[str]:
    return [p for p in tree if p == path or p.startswith(path + "/")]


def dive_reference(layers: list[list[Entry]]) -> tuple[float, int, float]:
    trees = [_nodes(x) for x in layers]
    seen: dict[str, list[int]] = {}
    stacked = dict(trees[0])
    for idx, tree in enumerate(trees):
        below = trees[0] if idx == 0 else stacked
        parents = {p.rsplit("/", 1)[0] or "/" for p in tree}
        for path in sorted((p for p in tree if p not in parents), key=_key):
            parent, name = path.rsplit("/", 1)
            size = tree[path][0]
            if name.startswith(".wh."):
                path = f"{parent}/{name[4:]}"
                if path not in below:
                    break
                size = sum(below[p][0] for p in _under(path, below)) if below[path][1] else 0
            seen.setdefault(path, []).append(size)
        for path in sorted(tree, key=_key):  # graft this layer onto the stack
            parent, name = path.rsplit("/", 1)
            if name.startswith(".wh."):
                for p in _under(f"{parent}/{name[4:]}", stacked):
                    del stacked[p]
            else:
                stacked[path] = tree[path]
    total = sum(sum(v) for v in seen.values())
    eff = sum(min(v) for v in seen.values()) / total if total else 1.0
    wasted = sum(sum(v) for v in seen.values() if len(v) > 1)
    user = sum(size for layer in layers[1:] for name, size, kind in layer if kind == "f")
    return eff, wasted, (wasted / user if user else math.nan)
