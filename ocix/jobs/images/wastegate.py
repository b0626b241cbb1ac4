"""`ocix layers --ci`: dive's CI rules (a `.dive-ci` file) plus ocix's own, PASS or FAIL each.

The file is read as dive reads it (docs/layers.md, "The CI gate"): a YAML mapping whose `rules`
hold the keys below; each value is taken as its literal text; a key left out, or null, keeps its
default; `disabled`, `off`, `false` or an empty value switch a rule off.  Ratios are floats in
0..1; byte values are go-humanize strings ("20MB" = 20,000,000, "20MiB" = 20,971,520, "1,000"
= 1000 bytes).  dive fails a rule when efficiency < lowestEfficiency, or a measured value >
its highest...; ocix's two byte rules compare the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InvalidArgumentError
from .waste import WasteReport

LOWEST_EFFICIENCY = "lowestEfficiency"
HIGHEST_WASTED_BYTES = "highestWastedBytes"
HIGHEST_USER_WASTED_PERCENT = "highestUserWastedPercent"
HIGHEST_HIDDEN_BYTES = "highestHiddenBytes"
HIGHEST_UNSHARED_HIDDEN_BYTES = "highestUnsharedHiddenBytes"
# dive's defaults for its three keys; ocix's two are off unless set.
DEFAULTS = {LOWEST_EFFICIENCY: "0.9", HIGHEST_WASTED_BYTES: "disabled",
            HIGHEST_USER_WASTED_PERCENT: "0.1", HIGHEST_HIDDEN_BYTES: "disabled",
            HIGHEST_UNSHARED_HIDDEN_BYTES: "disabled"}
RATIOS = (LOWEST_EFFICIENCY, HIGHEST_USER_WASTED_PERCENT)
DEFAULT_FILE = ".dive-ci"
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

# go-humanize's ParseBytes units: SI (1000) and IEC (1024), with or without the final "b".
_UNITS = {"": 1, "b": 1}
for _i, (_si, _iec) in enumerate(zip("kmgtpe", ("ki", "mi", "gi", "ti", "pi", "ei"),
                                     strict=True), 1):
    _UNITS[_si] = _UNITS[_si + "b"] = 1000 ** _i
    _UNITS[_iec] = _UNITS[_iec + "b"] = 1024 ** _i


class CIConfigError(InvalidArgumentError):
    exit_code = 2


@dataclass(frozen=True)
class Rule:
    key: str
    config: str  # the value as written
    threshold: float | int | None  # None: disabled


@dataclass(frozen=True)
class RuleResult:
    key: str
    config: str
    status: str  # PASS, FAIL or SKIP
    measured: str
    message: str


def is_disabled(value: str) -> bool:
    return value.strip().lower() in ("", "disabled", "off", "false")


def parse_go_float(text: str) -> float:
    """strconv.ParseFloat's decimal and special forms; ValueError with Go's message otherwise."""
    bad = ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    if text != text.strip() or "_" in text:  # Python's float() takes these, Go's does not
        raise bad
    try:
        if text.lower().lstrip("+-").startswith("0x"):
            return float.fromhex(text)
        return float(text)
    except ValueError:
        raise bad from None


def parse_bytes(text: str) -> int:
    """go-humanize ParseBytes: digits (with , and .) then an optional unit, case-insensitive."""
    n = 0
    while n < len(text) and text[n] in "0123456789.,":
        n += 1
    if n < len(text) and text[n].isdigit():
        raise ValueError(f"invalid syntax: {text!r}")  # a digit Go counts and ParseFloat refuses
    digits = text[:n].replace(",", "")
    try:
        number = float(digits)
    except ValueError:  # "", "." or "1.2.3"
        raise ValueError(f'strconv.ParseFloat: parsing "{digits}": invalid syntax') from None
    unit = text[n:].strip().lower()
    if unit not in _UNITS:
        raise ValueError(f"unhandled size name: {unit}")
    value = number * _UNITS[unit]
    if value >= 2.0 ** 64:
        raise ValueError(f"too large: {text}")
    return int(value)


def parse_rules(values: dict[str, str]) -> list[Rule]:
    """All five rules from `values` (defaults filled in); every bad value is named at once."""
    rules, errors = [], []
    for key, default in DEFAULTS.items():
        value = values.get(key, default)
        if is_disabled(value):
            rules.append(Rule(key, value, None))
            continue
        try:
            if key in RATIOS:
                threshold: float | int = parse_go_float(value)
                if threshold < 0 or threshold > 1:
                    errors.append(f"{key} config value is outside allowed range (0-1), given "
                                  f"{value!r}")
                    continue
            else:
                threshold = parse_bytes(value)
        except ValueError as e:
            errors.append(f"invalid {key} config value, given {value!r}: {e}")
            continue
        rules.append(Rule(key, value, threshold))
    if errors:
        raise CIConfigError("; ".join(errors),
                            hint="ratios are 0..1 (0.9), byte values like 20MB, or `disabled`")
    return rules


def read_config(text: str, where: str) -> dict[str, str]:
    """The `rules` of a .dive-ci file: key -> literal value text (unknown keys are ignored)."""
    import yaml

    try:
        doc = yaml.compose(text)
    except yaml.YAMLError as e:
        raise CIConfigError(f"{where}: not valid YAML: {_one_line(e)}") from None
    if doc is None:
        return {}
    if not isinstance(doc, yaml.MappingNode):
        raise CIConfigError(f"{where}: the file must be a YAML mapping with a `rules` key")
    out: dict[str, str] = {}
    for k, v in doc.value:
        if getattr(k, "value", None) != "rules" or _is_null(v):
            continue
        if not isinstance(v, yaml.MappingNode):
            raise CIConfigError(f"{where}: `rules` must be a mapping of rule names to values")
        for rk, rv in v.value:
            if not isinstance(rk, yaml.ScalarNode) or rk.value not in DEFAULTS or _is_null(rv):
                continue
            if not isinstance(rv, yaml.ScalarNode):
                raise CIConfigError(f"{where}: rules.{rk.value} must be a single value")
            out[rk.value] = str(rv.value)
    return out


def _is_null(node: Any) -> bool:
    return bool(node.tag == "tag:yaml.org,2002:null")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def load_rules(path: str | None) -> tuple[list[Rule], str]:
    """(rules, where they came from): FILE, else ./.dive-ci when it exists, else the defaults."""
    if path is None:
        p = Path(DEFAULT_FILE)
        if not p.is_file():
            return parse_rules({}), "defaults"
        path = DEFAULT_FILE
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CIConfigError(f"cannot read the CI config {path}: {getattr(e, 'strerror', e)}"
                            ) from None
    return parse_rules(read_config(text, path)), path


def evaluate(rules: list[Rule], r: WasteReport) -> list[RuleResult]:
    out = []
    for rule in rules:
        measured, failed, why = _measure(rule, r)
        if rule.threshold is None:
            out.append(RuleResult(rule.key, rule.config, SKIP, measured, "rule disabled"))
        else:
            out.append(RuleResult(rule.key, rule.config, FAIL if failed else PASS, measured, why))
    return out


def _measure(rule: Rule, r: WasteReport) -> tuple[str, bool, str]:
    t = rule.threshold if rule.threshold is not None else 0
    if rule.key == LOWEST_EFFICIENCY:
        v = r.dive.efficiency
        return f"{v:.4f}", t > v, f"efficiency={v:.4f} < threshold={rule.config}"
    if rule.key == HIGHEST_USER_WASTED_PERCENT:
        v = r.dive.user_wasted_percent
        shown = f"{v:.4f}" if math.isfinite(v) else str(v)
        return shown, v > t, f"user-wasted-percent={shown} > threshold={rule.config}"
    value = {HIGHEST_WASTED_BYTES: r.dive.wasted_bytes,
             HIGHEST_HIDDEN_BYTES: r.totals.hidden_bytes,
             HIGHEST_UNSHARED_HIDDEN_BYTES: r.totals.unshared_hidden_bytes}[rule.key]
    return str(value), value > t, f"{value} bytes > threshold={rule.config} ({int(t)} bytes)"


def passed(results: list[RuleResult]) -> bool:
    return all(x.status != FAIL for x in results)
