"""The compare matrix: one row per property, one column per path, the odd cells marked with
their why; and the capabilities as a grid of names × paths (docs/compare.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..jobs.compare.differences import Difference, rows_of
from ..jobs.compare.model import NAMESPACE_TYPES, RLIMITS, CompareResult, PathResult

# (row key, what the reader sees); the keys of rows_of() are the ones differences() compares.
ROWS: tuple[tuple[str, str], ...] = (
    ("status", "status"), ("chain", "call chain"), ("parent", "init's parent"),
    ("pid", "init pid"), ("exit_code", "exit code"), ("stdout", "output"),
    *((f"namespaces.{t}", f"{t} namespace") for t in NAMESPACE_TYPES),
    ("uid_map", "uid map"), ("cgroup.path", "cgroup"), ("cgroup.parent", "cgroup parent"),
    ("cgroup.memory_limit", "memory limit"), ("cgroup.pids_limit", "pids limit"),
    ("cgroup.cpu", "cpu quota"), ("capabilities", "CapEff"), ("cap_count", "capabilities"),
    ("no_new_privs", "no_new_privs"), ("seccomp", "seccomp"),
    *((f"rlimits.{n}", f"rlimit {n} (soft/hard)") for n in RLIMITS),
    ("mounts", "mount points"), ("rootfs.store", "rootfs store"),
)


@dataclass
class Cell:
    text: str
    odd: bool = False
    why: str = ""
    detail: str = ""


@dataclass
class MatrixRow:
    key: str
    label: str
    cells: list[Cell]
    differs: bool


@dataclass
class CapRow:
    name: str  # without CAP_
    cells: list[Cell]


@dataclass
class MatrixView:
    image: str
    command: list[str]
    paths: list[str]
    rows: list[MatrixRow]
    caps: list[CapRow]
    cap_paths: list[str]  # the paths that ran
    differences: int
    summary: list[str] = field(default_factory=list)  # "podman lacks NET_RAW, …"
    differ: list[tuple[str, str, str]] = field(default_factory=list)  # (key, label, odd paths)
    cap_drops: list[str] = field(default_factory=list)  # "podman drops CAP_NET_RAW, which …"


def values(r: PathResult) -> dict[str, str]:
    """What each row shows for one path."""
    out = {"status": r.outcome}
    if not r.available:
        return out
    if r.ran:
        out.update(rows_of(r))
    out["chain"] = " → ".join(r.chain)
    if r.parent:
        out["parent"] = f"{r.parent.name} (pid {r.parent.pid})"
    if r.pid is not None:
        out["pid"] = str(r.pid)
    if r.uid_map:
        out["uid_map"] = "identity" if r.uid_map == ["0 0 4294967295"] else " / ".join(r.uid_map)
    if r.cgroup:
        out["cgroup.path"] = r.cgroup.path
    if r.cap_eff is not None:
        out["cap_count"] = str(len(r.capabilities))
    return out


def matrix(result: CompareResult) -> MatrixView:
    diffs: dict[str, Difference] = {d.row: d for d in result.differences}
    table = [values(r) for r in result.paths]
    names = [r.path for r in result.paths]
    rows: list[MatrixRow] = []
    for key, label in ROWS:
        if not any(key in t for t in table):
            continue
        d = diffs.get(key)
        cells = []
        for path, t in zip(names, table, strict=True):
            odd = d is not None and path in d.odd
            cells.append(Cell(t.get(key, ""), odd, d.why if odd and d else "",
                              d.detail if odd and d else ""))
        if key == "mounts" and d is not None:
            _mount_details(cells, names, table, d)
        rows.append(MatrixRow(key, label, cells, d is not None))
    ran = [r for r in result.paths if r.ran]
    caps = cap_grid(ran, diffs.get("capabilities"))
    summary = [d.detail for d in result.differences if d.row == "capabilities" and d.detail]
    differ = [(row.key, row.label, ", ".join(p for p, c in zip(names, row.cells, strict=True)
                                             if c.odd)) for row in rows if row.differs]
    cap_paths = [r.path for r in ran]
    return MatrixView(result.image, result.command, names, rows, caps, cap_paths,
                      len(result.differences), summary, differ, cap_sentences(caps, cap_paths))


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def cap_sentences(caps: list[CapRow], paths: list[str]) -> list[str]:
    """One sentence per path off the majority: what it drops and which paths hold those, or
    what it adds; the grid's odd cells said in words."""
    out = []
    for j, path in enumerate(paths):
        drops = [row for row in caps if row.cells[j].odd and row.cells[j].text == "—"]
        adds = [row for row in caps if row.cells[j].odd and row.cells[j].text != "—"]
        if drops:
            holders = [p for k, p in enumerate(paths)
                       if all(row.cells[k].text != "—" for row in drops)]
            out.append(f"{path} drops {', '.join('CAP_' + r.name for r in drops)}, which "
                       f"{_and(holders)} hold{'s' if len(holders) == 1 else ''}.")
        if adds:
            out.append(f"{path} adds {', '.join('CAP_' + r.name for r in adds)}, which most "
                       "paths here lack.")
    if not out and len(paths) > 1:
        out.append(f"Every path that ran ({_and(paths)}) holds the same {len(caps)} "
                   "capabilities.")
    return out


def _mount_details(cells: list[Cell], names: list[str], table: list[dict[str, str]],
                   d: Difference) -> None:
    """An odd path's mount points as what it adds to and lacks from the majority's set."""
    ref = next((p for p in names if p in d.values and p not in d.odd), "")
    if not ref:
        return
    base = set(table[names.index(ref)]["mounts"].split())
    for path, cell in zip(names, cells, strict=True):
        if cell.odd:
            have = set(cell.text.split())
            bits = [f"{word} {' '.join(sorted(ms))}" for word, ms in
                    (("adds", have - base), ("lacks", base - have)) if ms]
            cell.detail = f"{path} against {ref}: " + "; ".join(bits)


def cap_grid(ran: list[PathResult], diff: Difference | None = None) -> list[CapRow]:
    """Every capability any path holds; a cell off the majority is marked odd, with the
    capabilities row's reason when that path is its exception."""
    held = [{c.removeprefix("CAP_") for c in r.capabilities} for r in ran]
    names = sorted(set().union(*held)) if held else []
    out = []
    for name in names:
        have = [name in h for h in held]
        majority = sum(have) * 2 >= len(have)
        cells = [Cell(name if h else "—", h != majority,
                      f"{r.path} {'holds' if h else 'lacks'} CAP_{name}, unlike most paths")
                 for r, h in zip(ran, have, strict=True)]
        for r, c in zip(ran, cells, strict=True):
            c.why = c.why if c.odd else ""
            if c.odd and diff is not None and r.path in diff.odd:
                c.why += ". " + diff.why
        out.append(CapRow(name, cells))
    return out
