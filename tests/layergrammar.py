"""A grammar of small layer stacks, hostile and harmless entries mixed, for hypothesis.

Names and link targets come from short lists chosen to reach what the naive extraction of
tests/naive_extract.py watches: the sentinels /s0, /l1/s1, /l1/l2/s2 around the root
/l1/l2/root, and /etc and /tmp outside it."""

from __future__ import annotations

import os
import zlib

from hypothesis import strategies as st

from tests.hostile import D, F, H, Member, S


def property_seed() -> int:
    """OCIX_PROPERTY_SEED (a number or any text; `pytest --hypothesis-seed` sets it), 16 unset."""
    value = os.environ.get("OCIX_PROPERTY_SEED", "16")
    return int(value) if value.isdigit() else zlib.crc32(value.encode())


COMPONENTS = ["a", "b", "c"]
SYMLINK_TARGETS = ["a", "b", "c", "a/b", "../a", "..", "../..", "../../..", "../s2", "../../s1",
                   "/", "/tmp", "/etc", "/s0", "/l1", "b/../..", ".", "./a", "a/../../..",
                   "/tmp/../.."]
HARDLINK_TARGETS = ["a", "b", "a/b", "c/a", "b/c", "nothing", "/s0", "/etc/passwd", "../s2",
                    "../../s1", "."]
WHITEOUT_NAMES = ["a", "b", "c", ".", "..", "", "s2"]


def _name(parts: list[str], prefix: str) -> str:
    return prefix + "/".join(parts)


names = st.builds(_name, st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3),
                  st.sampled_from(["", "", "", "", "./", "../", "../../", "/"]))
parents = st.builds(_name, st.lists(st.sampled_from(COMPONENTS), min_size=0, max_size=2),
                    st.sampled_from(["", "", "./"]))


def _whiteout(parent: str, name: str) -> Member:
    return ((parent + "/" if parent not in ("", "./") else parent) + ".wh." + name, F, "")


def _opaque(parent: str) -> Member:
    return ((parent + "/" if parent not in ("", "./") else parent) + ".wh..wh..opq", F, "")


entries: st.SearchStrategy[Member] = st.one_of(
    st.builds(lambda n: (n, F, ""), names),
    st.builds(lambda n: (n + "/", D, ""), names),
    st.builds(lambda n, t: (n, S, t), names, st.sampled_from(SYMLINK_TARGETS)),
    st.builds(lambda n, t: (n, H, t), names, st.sampled_from(HARDLINK_TARGETS)),
    st.builds(_whiteout, parents, st.sampled_from(WHITEOUT_NAMES)),
    st.builds(_opaque, parents),
)
layers = st.lists(entries, min_size=1, max_size=5)
stacks = st.lists(layers, min_size=1, max_size=3)
