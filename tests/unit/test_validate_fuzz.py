"""Fuzz: random and mutated documents never crash, and the fast path never changes findings."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocix.validate import KINDS, validate_bytes, validate_document
from ocix.validate.schemas import fast_valid, full_validator
from tests.unit.test_validate_image import config, index, manifest
from tests.unit.test_validate_runtime import base

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)

SEEDS: dict[str, Any] = {"bundle": base(), "manifest": manifest(), "index": index(), "config": config()}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return doc


def _same_either_way(doc: Any, kind: str) -> None:
    fast = validate_document(doc, kind, fast=True)
    slow = validate_document(doc, kind, fast=False)
    assert fast.findings == slow.findings
    if fast_valid(kind, doc):  # the fast verdict may be stricter, never more lenient
        assert not list(full_validator(kind).iter_errors(doc))


@FUZZ
@given(kind=st.sampled_from(sorted(SEEDS)), data=st.data(), value=json_values)
def test_mutated_documents(kind: str, data: st.DataObject, value: Any) -> None:
    doc = copy.deepcopy(SEEDS[kind])
    path = data.draw(st.sampled_from(_paths(doc)))
    doc = _replace(doc, path, value)
    _same_either_way(doc, kind)


@FUZZ
@given(kind=st.sampled_from(KINDS), doc=json_values)
def test_random_documents(kind: str, doc: Any) -> None:
    _same_either_way(doc, kind)


@FUZZ
@given(blob=st.binary(max_size=200))
def test_random_bytes_never_crash(blob: bytes) -> None:
    report = validate_bytes(blob)
    assert report.findings  # junk is never silently valid... unless it is a real document
    assert isinstance(json.dumps(report.to_json()), str)


def test_fast_path_accepts_every_valid_seed() -> None:
    """If the compiled validator broke, everything would silently take the slow path."""
    from tests.unit.test_validate_image import desc

    seeds = {**SEEDS, "descriptor": desc(), "layout": {"imageLayoutVersion": "1.0.0"}}
    for kind, doc in seeds.items():
        assert fast_valid(kind, doc), kind
        assert validate_document(doc, kind).findings == []
