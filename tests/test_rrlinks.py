"""The SL entries of :mod:`cdfs.iso.rrlinks` against models of the readers.

Each model follows its reader's source line by line: libarchive's
``parse_rockridge_SL1``, libisofs's ``read_rr_SL`` (as ``fs_image.c`` calls
it), cdrkit isoinfo's ``parse_rr`` and Linux's ``get_symlink_chunk``.  Over
random targets (slashes, dots and two-byte characters in every position) and
every room the first entry may have, all of them must read the target back;
the real readers do the same on real discs in ``test_symlinks.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from cdfs.iso import rrlinks

Entries = list[bytes]


def _components(body: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 1  # the entry's flags byte
    while pos + 2 <= len(body):
        flags, size = body[pos], body[pos + 1]
        yield flags, body[pos + 2 : pos + 2 + size]
        pos += 2 + size


def libarchive(entries: Entries) -> bytes:
    out, continues = b"", False
    for body in entries:
        if not continues or not out:
            out = b""
        continues = body[0] == 1
        separator = b""
        for flags, text in _components(body):
            out += separator
            separator = b"/"
            if flags in (0, 1):
                out += text
                separator = b"/" if flags == 0 else b""
            elif flags == 2:
                out += b"."
            elif flags == 4:
                out += b".."
            elif flags == 8:
                out += b"/"
                separator = b""
    return out


def libisofs(entries: Entries) -> bytes:
    dest, cont = b"", 0
    for body in entries:
        for flags, text in _components(body):
            comp = b"." if flags & 2 else b".." if flags & 4 else b"/" if flags & 8 else text
            if cont == 1:
                dest += (b"" if dest.endswith(b"/") else b"/") + comp
            elif cont == 2:
                dest += comp
            else:
                dest = comp
            cont = 2 if flags & 1 else 1
        if cont != 2:
            cont = 1 if body[0] & 1 else 0
    return dest


def isoinfo(entries: Entries) -> bytes:
    xname = b"-> "
    for body in entries:
        for flags, text in _components(body):
            kind = flags & 0xFE
            xname += text if kind == 0 else b"." if kind == 2 else b".." if kind == 4 else b"/"
            if not flags & 1 and not xname.endswith(b"/"):
                xname += b"/"
    return (xname[:-1] if xname.endswith(b"/") else xname)[3:]


def kernel(entries: Entries) -> bytes:
    out = b""
    for body in entries:
        components = list(_components(body))
        for i, (flags, text) in enumerate(components):
            kind = flags & ~1
            out += text if kind == 0 else b"." if kind == 2 else b".." if kind == 4 else b"/"
            last = i == len(components) - 1
            if kind != 8 and not flags & 1 and (not last or body[0] & 1):
                out += b"/"
    return out


targets = st.lists(
    st.sampled_from(["a", "bc", "/", "/", ".", "..", "é", "x" * 200, "y" * 255]),
    min_size=1,
    max_size=60,
).map(lambda parts: "".join(parts).encode()[: rrlinks.TARGET_MAX].decode("utf-8", "ignore"))


@settings(max_examples=1000, deadline=None)
@given(target=targets.filter(bool).map(str.encode), first=st.integers(2, rrlinks.ENTRY_MAX))
def test_every_reader_reads_the_entries_back(target: bytes, first: int) -> None:
    entries = rrlinks.entries(target, first)
    assert len(entries[0]) - 1 <= first
    assert all(len(body) - 1 <= rrlinks.ENTRY_MAX for body in entries)
    assert [body[0] for body in entries] == [1] * (len(entries) - 1) + [0]
    assert sum(rrlinks.HEADER + len(b) - 1 for b in entries) <= rrlinks.length_bound(len(target))
    assert libarchive(entries) == target
    assert libisofs(entries) == target
    assert kernel(entries) == target
    assert rrlinks.target(b"".join(body[1:] for body in entries)) == target
    # isoinfo drops the last slash of every target it lists.
    assert isoinfo(entries) == (target[:-1] if target.endswith(b"/") else target)


def test_inner_slashes_are_root_components_as_mkisofs_writes_them() -> None:
    root, dot, up = rrlinks.ROOT, rrlinks.CURRENT, rrlinks.PARENT
    assert rrlinks.components(b"a//b///c") == [
        (0, b"a"), (root, b""), (0, b"b"), (root, b""), (root, b""), (0, b"c"),
    ]  # fmt: skip
    assert rrlinks.components(b"//x") == [(root, b""), (root, b""), (0, b"x")]
    assert rrlinks.components(b"/") == [(root, b"")]
    assert rrlinks.components(b"x//") == [(0, b"x"), (root, b"")]
    assert rrlinks.components(b"./a/../") == [(dot, b""), (0, b"a"), (up, b""), (0, b"")]
