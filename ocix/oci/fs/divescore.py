"""dive's three figures (efficiency, wastedBytes, userWastedPercent), computed the way dive does.

A re-statement of dive's model (docs/layers.md, "dive's figures"), fed one layer of tar headers
at a time, so a `.dive-ci` file means the same here:

- each layer becomes a tree: one node per tar entry, plus nodes for parents the tar does not
  list (those carry no size and are not directories).  Names starting `.wh..wh.` (the opaque
  marker) are not added at all: dive ignores opaque directories;
- every *leaf* of a layer's tree (a node with no children in that layer) is one sighting of its
  path; a whiteout `.wh.NAME` is a sighting of NAME.  A sighting's size is the tar header size;
  a whiteout's is the summed size of what the layers below hold at NAME if that is a directory,
  and 0 if it is not.  A whiteout of a path the layers below lack stops the reading of that
  layer's remaining leaves (dive's visitor returns an error there), leaves being read depth
  first, children before parents, names in byte order;
- efficiency = sum over paths of the smallest sighting / sum of all sightings (1 if nothing);
  wastedBytes = sum of all sightings of the paths sighted more than once;
  userWastedPercent = wastedBytes / the header sizes of every entry of all layers but the first.

"The layers below" is dive's stacked tree: each upper tree is grafted children first, a
whiteout removing its path, any other node replacing the payload of the node at its path.
"""

from __future__ import annotations

import math
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

WH, WH_META = ".wh.", ".wh..wh.."


class Node:
    __slots__ = ("children", "is_dir", "size")

    def __init__(self, size: int = 0, is_dir: bool = False) -> None:
        self.children: dict[str, Node] = {}
        self.size = size
        self.is_dir = is_dir

    def copy(self) -> Node:
        n = Node(self.size, self.is_dir)
        n.children = {k: c.copy() for k, c in self.children.items()}
        return n

    def subtree_size(self) -> int:
        total, todo = 0, [self]
        while todo:
            n = todo.pop()
            total += n.size
            todo.extend(n.children.values())
        return total


def add_path(root: Node, path: str, size: int, is_dir: bool) -> None:
    """dive's AddPath: create missing parents bare; the last node gets the payload."""
    names = [x for x in path.strip("/").split("/") if x]
    node = root
    for i, name in enumerate(names):
        child = node.children.get(name)
        if child is None:
            if name.startswith(WH_META):
                return
            child = node.children[name] = Node()
        node = child
        if i == len(names) - 1:
            node.size, node.is_dir = size, is_dir


def get_node(root: Node, path: str) -> Node | None:
    node = root
    for name in path.strip("/").split("/"):
        if not name:
            continue
        nxt = node.children.get(name)
        if nxt is None:
            return None
        node = nxt
    return node


def remove_path(root: Node, path: str) -> None:
    names = [x for x in path.strip("/").split("/") if x]
    if not names:
        return
    parent = get_node(root, "/".join(names[:-1]))
    if parent is not None:
        parent.children.pop(names[-1], None)


def child_first(root: Node, prefix: str = "") -> Iterator[tuple[str, str, Node]]:
    """(parent path, name, node) of every node below `root`, children before their parent and
    siblings in byte order of their names (dive's VisitDepthChildFirst by name)."""
    stack: list[tuple[str, Node, list[str], int]] = [(prefix, root, sorted(root.children), 0)]
    while stack:
        path, node, keys, i = stack.pop()
        if i < len(keys):
            stack.append((path, node, keys, i + 1))
            child = node.children[keys[i]]
            stack.append((f"{path}/{keys[i]}", child, sorted(child.children), 0))
            continue
        if stack:  # never the root itself
            parent, name = path.rsplit("/", 1)
            yield parent, name, node


def node_path(parent: str, name: str) -> str:
    """dive's Path(): the whiteout prefix is dropped from the last name only."""
    if name.startswith(WH):
        name = name[len(WH):]
    return (parent + "/" + name).replace("//", "/") or "/"


def stack(lower: Node, upper: Node) -> None:
    for parent, name, node in child_first(upper):
        if name.startswith(WH):
            remove_path(lower, node_path(parent, name))
        else:
            add_path(lower, f"{parent}/{name}", node.size, node.is_dir)


@dataclass(frozen=True)
class DiveFigures:
    efficiency: float
    wasted_bytes: int
    user_wasted_percent: float  # a ratio 0..1 as dive has it; inf or nan when dive's is
    size_bytes: int  # dive's image size: the header sizes of every layer's entries
    user_size_bytes: int  # the same without the first layer
    inefficient_paths: int  # paths sighted more than once


class DiveScore:
    """Feed each layer's tar headers in order (`add`, then `end_layer`); read `figures()`."""

    def __init__(self) -> None:
        self._tree = Node()  # the layer being read
        self._layer_size = 0
        self._below: Node | None = None  # stacked tree of the layers read so far
        self.layer_sizes: list[int] = []
        self._seen: dict[str, list[int]] = {}  # path -> [cumulative, smallest, sightings]

    def add(self, m: tarfile.TarInfo) -> None:
        name = posixpath.normpath(m.name).lstrip("/") if m.name else "."
        if name == ".":
            return
        self._layer_size += m.size
        # Hostile entries too: dive takes every entry, and this tree is only a count.
        add_path(self._tree, name, m.size, m.isdir())

    def end_layer(self) -> None:
        tree, self._tree = self._tree, Node()
        self.layer_sizes.append(self._layer_size)
        self._layer_size = 0
        below = self._below if self._below is not None else tree  # dive: layer 1 over itself
        for parent, name, node in child_first(tree):
            if node.children:
                continue
            path = node_path(parent, name)
            size = node.size
            if name.startswith(WH):
                prev = get_node(below, path)
                if prev is None:
                    break  # dive stops reading this layer's leaves here
                size = prev.subtree_size() if prev.is_dir else 0
            rec = self._seen.get(path)
            if rec is None:
                self._seen[path] = [size, size, 1]
            else:
                rec[0] += size
                rec[1] = min(rec[1], size)
                rec[2] += 1
        if self._below is None:
            self._below = tree.copy()
        stack(self._below, tree)

    def figures(self) -> DiveFigures:
        smallest = sum(r[1] for r in self._seen.values())
        total = sum(r[0] for r in self._seen.values())
        wasted = sum(r[0] for r in self._seen.values() if r[2] > 1)
        user = sum(self.layer_sizes[1:])
        # Go's float division: x/0 is +Inf, 0/0 is NaN
        pct = wasted / user if user else (math.inf if wasted else math.nan)
        return DiveFigures(smallest / total if total else 1.0, wasted, pct,
                           sum(self.layer_sizes), user,
                           sum(1 for r in self._seen.values() if r[2] > 1))
