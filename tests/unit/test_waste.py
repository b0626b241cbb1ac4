"""The waste ledger (ocix.oci.fs.waste) and dive's figures (ocix.oci.fs.divescore) on synthetic layer
stacks.  The ledger's expected rows are written out from each recipe by hand; dive's figures come
from tests/divereference.py, a separate flat re-statement of dive's Efficiency/Analyze (sorted
path lists instead of trees), never from ocix's own model."""

from __future__ import annotations

import math
import random
import tarfile

import pytest

from ocix.jobs.images import wastegate as gate
from ocix.oci.fs.divescore import DiveScore
from ocix.oci.fs.waste import WasteLedger
from tests.divereference import Entry, dive_reference


def ti(name: str, size: int = 0, kind: str = "f") -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE}[kind]
    t.size = size if kind == "f" else 0
    return t


def feed(layers: list[list[Entry]]) -> tuple[WasteLedger, DiveScore]:
    ledger, dive = WasteLedger(), DiveScore()
    for layer in layers:
        for name, size, kind in layer:
            m = ti(name, size, kind)
            ledger.add(m)
            dive.add(m)
        ledger.end_layer()
        dive.end_layer()
    return ledger, dive


# -- the recipes --------------------------------------------------------------------------------

BASE: list[Entry] = [("etc/", 0, "d"), ("etc/passwd", 100, "f"), ("bin/", 0, "d"),
                     ("bin/ls", 1000, "f"), ("usr/", 0, "d"), ("usr/lib/", 0, "d"),
                     ("usr/lib/a", 300, "f"), ("usr/lib/b", 200, "f"), ("data/", 0, "d"),
                     ("data/x", 50, "f"), ("bin/sh", 0, "l")]
EDIT: list[Entry] = [("etc/", 0, "d"), ("etc/passwd", 120, "f"), ("bin/", 0, "d"),
                     ("bin/ls", 1000, "f"),  # chmod only: the whole file again
                     ("usr/", 0, "d"), ("usr/.wh.lib", 0, "f"),
                     ("data/", 0, "d"), ("data/.wh..wh..opq", 0, "f"), ("data/y", 10, "f")]
DROP: list[Entry] = [("etc/", 0, "d"), ("etc/.wh.passwd", 0, "f")]


def test_ledger_rows_per_path_and_layer() -> None:
    ledger, _ = feed([BASE, EDIT, DROP])
    rows = {(h.path, h.added_in, h.hidden_by, h.how): (h.bytes, h.entries, h.subtree)
            for h in ledger.hidden}
    assert rows == {
        ("/etc/passwd", 1, 2, "overwritten"): (100, 1, False),
        ("/bin/ls", 1, 2, "overwritten"): (1000, 1, False),
        ("/usr/lib", 1, 2, "deleted"): (500, 3, True),  # the directory and its two files
        ("/data", 1, 2, "opaque"): (50, 1, True),
        ("/etc/passwd", 2, 3, "deleted"): (120, 1, False),
    }
    assert ledger.hidden_per_layer() == [1650, 120, 0]
    assert ledger.added == [1650, 1130, 0]
    assert ledger.visible_bytes() == 1000 + 10
    assert sum(ledger.added) == ledger.visible_bytes() + sum(ledger.hidden_per_layer())


def test_type_changes_hide_subtrees_and_files() -> None:
    ledger, _ = feed([
        [("a/", 0, "d"), ("a/f", 7, "f"), ("a/g", 3, "f"), ("b", 5, "f")],
        [("a", 11, "f"), ("b/", 0, "d"), ("b/c", 2, "f"), ("d", 1, "f"), ("d", 4, "f")],
    ])
    rows = {(h.path, h.added_in, h.hidden_by, h.how): (h.bytes, h.entries, h.subtree)
            for h in ledger.hidden}
    assert rows == {("/a", 1, 2, "overwritten"): (10, 3, True),  # a dir replaced by a file
                    ("/b", 1, 2, "overwritten"): (5, 1, False),  # a file replaced by a dir
                    ("/d", 2, 2, "overwritten"): (1, 1, False)}  # written twice in one layer
    assert ledger.visible_bytes() == 11 + 2 + 4


def test_whiteouts_apply_to_lower_layers_only() -> None:
    ledger, _ = feed([[("x", 9, "f")], [(".wh.x", 0, "f"), ("x", 4, "f"), (".wh.nothing", 0, "f")]])
    assert [(h.path, h.bytes, h.how) for h in ledger.hidden] == [("/x", 9, "deleted")]
    assert ledger.visible_bytes() == 4


@pytest.mark.parametrize("layers", [
    [BASE, EDIT, DROP],
    [BASE, [("usr/lib/a", 300, "f")], [("usr/.wh.lib", 0, "f")], [("usr/lib/a", 5, "f")]],
    [[("a/b/c", 10, "f"), ("a/b/d", 20, "f")], [("a/.wh.b", 0, "f")], [("a/b", 1, "f")]],
    [[("only", 42, "f")]],
    [[("x", 0, "f")], [("x", 0, "f")]],
])
def test_dive_figures_match_the_reference(layers: list[list[Entry]]) -> None:
    _, dive = feed(layers)
    got = dive.figures()
    eff, wasted, pct = dive_reference(layers)
    assert got.efficiency == pytest.approx(eff, abs=0, rel=1e-12)
    assert got.wasted_bytes == wasted
    assert (math.isnan(pct) and math.isnan(got.user_wasted_percent)) or \
        got.user_wasted_percent == pytest.approx(pct, rel=1e-12)


def test_dive_figures_of_the_recipe_by_hand() -> None:
    """BASE, EDIT, DROP by dive's rules: passwd seen 3 times (100, 120, then a file whiteout: 0),
    ls twice (1000, 1000), /usr/lib's whiteout counts its 500 bytes; the opaque marker is
    ignored, so /data/x is seen once."""
    _, dive = feed([BASE, EDIT, DROP])
    f = dive.figures()
    assert f.wasted_bytes == (100 + 120 + 0) + (1000 + 1000)
    # leaves: passwd [100,120,0], ls [1000,1000], sh [0], lib/a [300], lib/b [200],
    # data/x [50], /usr/lib [500] (whiteout), data/y [10]
    smallest = 0 + 1000 + 0 + 300 + 200 + 50 + 500 + 10
    total = 220 + 2000 + 0 + 300 + 200 + 50 + 500 + 10
    assert f.efficiency == smallest / total
    assert f.user_wasted_percent == f.wasted_bytes / (120 + 1000 + 10)
    assert f.inefficient_paths == 2


def test_dive_stops_a_layer_at_a_whiteout_of_nothing() -> None:
    # ".wh.a" sorts before "b": dive never sees /b of layer 2
    layers: list[list[Entry]] = [[("b", 5, "f")], [(".wh.a", 0, "f"), ("b", 5, "f")]]
    _, dive = feed(layers)
    assert dive.figures().wasted_bytes == 0 == dive_reference(layers)[1]


def test_random_stacks_against_the_reference() -> None:
    rng = random.Random(19)
    names = ["a", "b", "c", "a/x", "a/y", "b/z", "c/d/e", ".wh.a", "a/.wh.x", ".wh.b",
             "c/.wh..wh..opq", "c/d/.wh.e"]
    for _ in range(300):
        layers = []
        for _ in range(rng.randrange(1, 5)):
            picked = rng.sample(names, rng.randrange(1, 6))
            layers.append([(n, rng.randrange(0, 50), rng.choice("ffd") if ".wh." not in n else "f")
                           for n in picked])
        _, dive = feed(layers)
        got = dive.figures()
        eff, wasted, _ = dive_reference(layers)
        assert (got.wasted_bytes, got.efficiency) == (wasted, pytest.approx(eff)), layers
        ledger, _ = feed(layers)
        assert sum(ledger.added) == ledger.visible_bytes() + sum(ledger.hidden_per_layer())


# -- the CI gate's config -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("20MB", 20_000_000), ("20Mb", 20_000_000), ("20MiB", 20 << 20), ("1,000", 1000),
    ("1.5 kb", 1500), ("42", 42), ("3k", 3000), ("2gi", 2 << 30), ("0", 0)])
def test_byte_values_as_go_humanize_reads_them(text: str, value: int) -> None:
    assert gate.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["abc", "MB", "1.2.3", "12 parsecs", "1e3"])
def test_bad_byte_values(text: str) -> None:
    with pytest.raises(ValueError):
        gate.parse_bytes(text)


def test_rules_defaults_disabled_and_errors() -> None:
    rules = {r.key: r.threshold for r in gate.parse_rules({})}
    assert rules == {"lowestEfficiency": 0.9, "highestWastedBytes": None,
                     "highestUserWastedPercent": 0.1, "highestHiddenBytes": None,
                     "highestUnsharedHiddenBytes": None}
    rules = {r.key: r.threshold for r in gate.parse_rules(
        {"lowestEfficiency": "off", "highestWastedBytes": "20MB", "highestHiddenBytes": "1KiB",
         "highestUserWastedPercent": "False"})}
    assert rules["lowestEfficiency"] is None and rules["highestUserWastedPercent"] is None
    assert rules["highestWastedBytes"] == 20_000_000 and rules["highestHiddenBytes"] == 1024
    with pytest.raises(gate.CIConfigError) as e:
        gate.parse_rules({"lowestEfficiency": "1.5", "highestWastedBytes": "lots"})
    assert e.value.exit_code == 2
    assert e.value.message == (
        "lowestEfficiency config value is outside allowed range (0-1), given '1.5'; "
        "invalid highestWastedBytes config value, given 'lots': "
        'strconv.ParseFloat: parsing "": invalid syntax')


def test_dive_ci_file_literal_values_and_nulls() -> None:
    text = ("plugins:\n  - plugin1\nrules:\n  lowestEfficiency: 0.95\n"
            "  highestWastedBytes: 20Mb\n  highestUserWastedPercent:\n"
            "  highestUnsharedHiddenBytes: no\n  plugin1/rule1: error\n")
    assert gate.read_config(text, "f") == {"lowestEfficiency": "0.95",
                                           "highestWastedBytes": "20Mb",
                                           "highestUnsharedHiddenBytes": "no"}
    with pytest.raises(gate.CIConfigError) as e:  # "no" is not dive's "disabled": bad value
        gate.parse_rules(gate.read_config(text, "f"))
    assert "highestUnsharedHiddenBytes" in e.value.message
    for bad in ("rules: [1, 2]\n", "- a\n", "rules:\n  lowestEfficiency: [0.9]\n", "a: [\n"):
        with pytest.raises(gate.CIConfigError):
            gate.read_config(bad, "f")
    assert gate.read_config("", "f") == {}


def test_a_hard_link_keeps_the_data_reachable() -> None:
    link = ti("b")
    link.type, link.linkname = tarfile.LNKTYPE, "a"
    ledger = WasteLedger()
    for m in (ti("a", 30), link, ti("c", 5)):
        ledger.add(m)
    ledger.end_layer()
    ledger.add(ti(".wh.a"))  # /b still names the 30 bytes
    ledger.end_layer()
    assert [(h.path, h.bytes) for h in ledger.hidden] == [("/a", 0)]
    assert ledger.visible_bytes() == 35
    ledger.add(ti("b", 1))  # now the data has no name left
    ledger.end_layer()
    assert [(h.path, h.added_in, h.bytes) for h in ledger.hidden] == [("/a", 1, 0), ("/b", 1, 30)]
    assert sum(ledger.added) == ledger.visible_bytes() + sum(ledger.hidden_per_layer())


def _report(eff: float, wasted: int, pct: float, hidden: int, unshared: int) -> object:
    from ocix.jobs.images.waste import WasteReport, WasteTotals
    from ocix.oci.fs.divescore import DiveFigures

    return WasteReport("img", "test", "sha256:x", "linux/amd64", [], [],
                       WasteTotals(0, 0, hidden, 0, hidden - unshared, unshared, 0),
                       DiveFigures(eff, wasted, pct, 0, 0, 0))


def test_rules_compare_as_dive_does() -> None:
    rules = gate.parse_rules({"lowestEfficiency": "0.9", "highestWastedBytes": "1kB",
                              "highestUserWastedPercent": "0.1", "highestHiddenBytes": "500",
                              "highestUnsharedHiddenBytes": "100"})
    at_limit = gate.evaluate(rules, _report(0.9, 1000, 0.1, 500, 100))  # type: ignore[arg-type]
    assert [x.status for x in at_limit] == ["PASS"] * 5  # only beyond the limit fails
    over = gate.evaluate(rules, _report(0.89, 1001, 0.11, 501, 101))  # type: ignore[arg-type]
    assert [x.status for x in over] == ["FAIL"] * 5 and not gate.passed(over)
    assert over[1].message == "1001 bytes > threshold=1kB (1000 bytes)"
    # one layer: dive divides by zero, NaN compares false (PASS), +Inf fails
    nan = gate.evaluate(rules, _report(1.0, 0, math.nan, 0, 0))  # type: ignore[arg-type]
    inf = gate.evaluate(rules, _report(1.0, 5, math.inf, 0, 0))  # type: ignore[arg-type]
    assert (nan[2].status, nan[2].measured) == ("PASS", "nan")
    assert (inf[2].status, inf[2].measured) == ("FAIL", "inf")


def test_cli_usage_and_bad_config_need_no_daemon(tmp_path: object) -> None:
    from pathlib import Path

    from tests.helpers import run_cli

    env = {"CONTAINERD_ADDRESS": "/nonexistent/containerd.sock"}
    for args, message in [
        (["layers", "x", "--top", "3"], "Error: --top goes with --waste, --ci-config with --ci"),
        (["layers", "--ref", "x"], "Error: --ref goes with --waste or --ci"),
        (["layers", "x", "--waste", "--ci"],
         "Error: use either --waste (the ledger) or --ci (the rules)"),
        (["layers", "x", "--waste", "--files"],
         "Error: --files and --layer do not go with --waste, --ci or --ref"),
    ]:
        r = run_cli(args, env=env)
        assert (r.exit_code, r.stderr.splitlines()[0]) == (2, message), args
    cfg = Path(str(tmp_path)) / ".dive-ci"
    cfg.write_text("rules:\n  highestWastedBytes: 20 parsecs\n")
    r = run_cli(["layers", "x", "--ci", "--ci-config", str(cfg)], env=env)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == ("Error: invalid highestWastedBytes config value, given "
                                        "'20 parsecs': unhandled size name: parsecs")


def test_dive_counts_hostile_entries_the_ledger_does_not() -> None:
    layers: list[list[Entry]] = [[("../up", 8, "f"), ("/abs", 3, "f")], [("abs", 3, "f")]]
    ledger, dive = feed(layers)
    assert ledger.hidden == [] and ledger.visible_bytes() == 3
    assert dive.figures().wasted_bytes == 6 == dive_reference(layers)[1]


def test_dives_own_efficiency_example() -> None:
    """The stack of dive's TestEfficiency (docs/sources.md): score 0.75, one
    inefficient path (nginx.conf, 7000 bytes).  /etc/nginx is only a parent there, so its
    whiteout counts 0."""
    layers: list[list[Entry]] = [
        [("etc/nginx/nginx.conf", 2000, "f"), ("etc/nginx/public", 3000, "f")],
        [("etc/nginx/nginx.conf", 5000, "f"), ("etc/athing", 10000, "f")],
        [("etc/.wh.nginx", 0, "f")]]
    _, dive = feed(layers)
    f = dive.figures()
    assert (f.efficiency, f.wasted_bytes, f.inefficient_paths) == (0.75, 7000, 1)
    _, scratch = feed([[("nothing", 0, "f")], [], []])  # TestEfficiency_ScratchImage
    assert (scratch.figures().efficiency, scratch.figures().inefficient_paths) == (1.0, 0)


def test_ci_reads_dot_dive_ci_by_default(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    monkeypatch.chdir(str(tmp_path))
    assert gate.load_rules(None)[1] == "defaults"
    Path(".dive-ci").write_text("rules:\n  highestHiddenBytes: 1MiB\n")
    rules, where = gate.load_rules(None)
    assert where == ".dive-ci"
    assert {r.key: r.threshold for r in rules}["highestHiddenBytes"] == 1 << 20
    with pytest.raises(gate.CIConfigError) as e:
        gate.load_rules("missing.yaml")
    assert e.value.message.startswith("cannot read the CI config missing.yaml: ")
