"""The quick ways names are mapped are the general rules, exactly.

:mod:`cdfs.iso.isonames` maps most names (ASCII, no collision in their
directory) by a short path; these tests hold it to the general one
(:func:`cdfs.iso.isonames._iso_parts`, :func:`cdfs.iso.isonames._joliet_parts`
and the collision loop) over random names, with dots, case and the
characters either tree replaces weighted in.  What the names must look like
to readers is checked in tests/test_mastering.py and tests/test_corpus.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdfs.iso import isonames

_ALPHABET = st.sampled_from([*"aZ09._-~ .;:*?\\", "é", "ß", "日", "\U0001f600", "\x01"])
names = st.one_of(
    st.text(_ALPHABET, min_size=1, max_size=80),
    st.from_regex(r"[a-zA-Z0-9_ ~-]{1,45}(\.[a-zA-Z0-9.]{0,20})?", fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1),
).filter(lambda s: s not in (".", ".."))


EDGES = [
    "a.", ".profile", "x" * 40 + ".txt", "x" * 40 + ".longextension", "a.b.c", "a" * 29 + ".t",
    "a" * 28 + ".ab", "q" * 30, "q" * 31, "Mixed Case.Doc", "é" * 70, "a" * 64, "a" * 65,
    "a" * 63 + ".", "name.tar.gz", "a.b.",
]  # fmt: skip


@pytest.mark.parametrize("name", EDGES)
def test_quick_forms_of_edge_names(name: str) -> None:
    for is_dir in (False, True):
        want = isonames._iso_parts(name, is_dir).fit()
        assert isonames._iso_wanted(name, is_dir) == want
        if name.isascii():
            assert isonames._iso_wanted_ascii(name.encode(), is_dir) == want.encode()
    assert isonames._joliet_wanted(name) == isonames._joliet_parts(name).fit()
    children = [(name, False), (name + "x", True)]
    raw = [n.encode() for n, _d in children]
    assert isonames.idents_of(raw, [False, True]) == isonames.iso_idents(children)
    assert isonames.joliet_of(raw, [False, True], set) == isonames.joliet_list(children)


@given(names, st.booleans())
def test_iso_quick_form_is_the_general_one(name: str, is_dir: bool) -> None:
    assert isonames._iso_wanted(name, is_dir) == isonames._iso_parts(name, is_dir).fit()


@given(names)
def test_joliet_quick_form_is_the_general_one(name: str) -> None:
    assert isonames._joliet_wanted(name) == isonames._joliet_parts(name).fit()


def _general(children: list[tuple[str, bool]], reserved: tuple[str, ...]) -> dict[str, bytes]:
    """iso_names through the collision loop whatever the names."""
    items = sorted(children)
    parts = {n: isonames._iso_parts(n, d) for n, d in items}
    wanted = {n: p.fit() for n, p in parts.items()}
    chosen = isonames._resolve(items, wanted, parts, "_", str, set(reserved))
    return {n: (chosen[n] if d else isonames._iso_file_ident(chosen[n])).encode() for n, d in items}


def _general_joliet(children: list[tuple[str, bool]], first: set[str]) -> dict[str, str]:
    items = sorted(children, key=lambda item: (item[0] not in first, item))
    parts = {n: isonames._joliet_parts(n) for n, _d in items}
    wanted = {n: p.fit() for n, p in parts.items()}
    return isonames._resolve(items, wanted, parts, "~", isonames._joliet_key, set())


@given(
    st.lists(st.tuples(names, st.booleans()), max_size=30, unique_by=lambda t: t[0]),
    st.sampled_from([(), ("RR_MOVED",), ("A",)]),
    st.data(),
)
def test_names_of_a_directory_are_those_of_the_collision_loop(
    children: list[tuple[str, bool]], reserved: tuple[str, ...], data: st.DataObject
) -> None:
    assert isonames.iso_names(children, reserved) == _general(children, reserved)
    first = set(data.draw(st.lists(st.sampled_from([n for n, _d in children] or ["x"]))))
    assert isonames.joliet_names(children, first) == _general_joliet(children, first)


@given(
    st.lists(st.tuples(names, st.booleans()), max_size=30, unique_by=lambda t: t[0]),
    st.sampled_from([(), ("RR_MOVED",), ("A",)]),
    st.data(),
)
def test_names_given_as_bytes_are_mapped_as_the_decoded_ones(
    children: list[tuple[str, bool]], reserved: tuple[str, ...], data: st.DataObject
) -> None:
    raw = [n.encode() for n, _d in children]
    dirs = [d for _n, d in children]
    assert isonames.idents_of(raw, dirs, reserved) == isonames.iso_idents(children, reserved)
    first = set(data.draw(st.lists(st.sampled_from([n for n, _d in children] or ["x"]))))
    got = isonames.joliet_of(raw, dirs, lambda: first)
    assert got == isonames.joliet_list(children, first)
