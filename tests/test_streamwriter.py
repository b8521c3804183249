"""cdfs.iso.streamwriter writes the session pycdlib writes, byte for byte.

Each tree is mastered twice, "now" frozen: once by the stream writer (what
cdfs uses), once through pycdlib (``mastering.STREAMING`` off, the
:class:`cdfs.iso.sessioniso.SessionIso` path), and the two images compared
whole.  The trees are the ones the mastering tests read back with xorriso,
isoinfo and bsdtar (tests/test_mastering.py), without their directories
deeper than eight levels, which both paths leave to pycdlib, plus hard
links, a rewrite copying kept files, and random trees.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mastering import (
    SOURCE_SIZE,
    _dir,
    _file,
    build_source,
    entries_from,
    run,
    trees,
)

from cdfs.iso import mastering, sessioniso
from cdfs.iso.isonames import ISO_DIR_DEPTH
from cdfs.iso.mastering import MAX_EXTENT, Kind, MasterEntry, master_session
from cdfs.units import SECTOR_SIZE, Lba


def both(
    entries: list[MasterEntry],
    where: Path,
    monkeypatch: pytest.MonkeyPatch,
    start: int = 0,
    **kw: Any,
) -> tuple[bytes, bytes]:
    """(stream writer's image, pycdlib's image) of ``entries``."""
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    images = []
    for streaming in (True, False):
        monkeypatch.setattr(mastering, "STREAMING", streaming)
        out = where / f"{'stream' if streaming else 'pycdlib'}.iso"
        n = master_session(entries, out, start=Lba(start), label="Same Label", **kw)
        data = out.read_bytes()
        assert len(data) == n * SECTOR_SIZE
        images.append(data)
    return images[0], images[1]


def assert_same(entries: list[MasterEntry], where: Path, mp: pytest.MonkeyPatch, **kw: Any) -> None:
    stream, pycdlib = both(entries, where, mp, **kw)
    if stream != pycdlib:
        at = next(
            (i for i, (a, b) in enumerate(zip(stream, pycdlib, strict=False)) if a != b),
            min(len(stream), len(pycdlib)),
        )
        pytest.fail(
            f"images differ from sector {at // SECTOR_SIZE} byte {at % SECTOR_SIZE}"
            f" ({len(stream)} and {len(pycdlib)} bytes)"
        )


def test_the_stream_writer_is_what_masters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparisons below compare two different writers: with STREAMING
    on, pycdlib writes nothing (its write_fp is never called)."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("pycdlib wrote the session")

    monkeypatch.setattr(sessioniso.SessionIso, "write_fp", refuse)
    master_session(
        [_dir((b"d",)), _file((b"d", b"f"))], tmp_path / "s.iso", start=Lba(0), label="x"
    )


@pytest.mark.parametrize("start", [0, 12_345, 10**6 + 10])
def test_source_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: int) -> None:
    """tests/test_mastering.py's tree: Unicode and long names, symlinks,
    empty files and directories, odd times and modes, files of several
    sectors; a session at sector 0 and later ones."""
    build_source(tmp_path / "src")
    entries = [e for e in entries_from(tmp_path / "src") if len(e.path) <= ISO_DIR_DEPTH]
    assert_same(entries, tmp_path, monkeypatch, start=start)


def _entry(path: tuple[bytes, ...], i: int, **kw: Any) -> MasterEntry:
    t = (i * 7919 % 5000) * 10**9 * 3600
    return MasterEntry(path, Kind.FILE, 0o600 + i % 64, i, 2 * i, t, t + i * 10**9, **kw)


def test_large_directories_long_names_multi_extent_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree of test_records_made_directly_are_the_ones_pycdlib_makes
    (without its relocated directories): directories of many blocks with
    subdirectories before and after the files (".." of one added after its
    parent stopped growing shows one block), names going on into
    continuation areas, a kept multi-extent file, long symlink targets."""
    big = MAX_EXTENT + 3 * SECTOR_SIZE
    entries = [_dir((b"a",)), _dir((b"a", b"sub")), _dir((b"z",))]
    entries += [_entry((f"f{i:04} {'n' * (i % 3) * 100}".encode(),), i) for i in range(700)]
    entries += [_entry((b"a", f"{i:04}.txt".encode()), i) for i in range(300)]
    entries += [_entry((b"z", b"big"), 1, size=big, extents=((100, MAX_EXTENT), (10**6, 6144)))]
    entries += [
        MasterEntry((b"z", f"l{i}".encode()), Kind.SYMLINK, 0o777, 0, 0, 0, 0,
                    target=b"../" * i + b"t" * 150)
        for i in range(40)
    ]  # fmt: skip
    entries += [
        _entry((b"z", f"{'é' * (i % 90)}{i}ü {'x' * (i % 200)}".encode()[:250]), i)
        for i in range(1500)
    ]
    assert_same(entries, tmp_path, monkeypatch, start=10**6 + 10)


def test_hard_links_new_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names of one file in several directories, before and after each
    other in both orders (plan order gives PX serial numbers, record order
    places the data): one copy of the data, shared serial and link count."""
    data = tmp_path / "data"
    data.write_bytes(os.urandom(5000))
    t = 10**18
    entries = [_dir((b"d",)), _dir((b"e",))]
    for path in ((b"d", b"x"), (b"e", b"a"), (b"y",)):
        entries.append(MasterEntry(path, Kind.FILE, 0o640, 1, 2, t, t, 5000, data, link=7))
    for path in ((b"k1",), (b"d", b"k2")):
        entries.append(
            MasterEntry(path, Kind.FILE, 0o644, 3, 4, t, t, 3000, extents=((40, 3000),), link=8)
        )
    entries += [
        MasterEntry((b"d", f"u{i}".encode()), Kind.FILE, 0o644, 1, 1, t, t, 100 * i, data)
        for i in range(30)
    ]
    assert_same(entries, tmp_path, monkeypatch, start=777)


def test_rewrite_copying_kept_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``copy_from``: kept files' data copied from the old disc."""
    disc = tmp_path / "disc"
    disc.write_bytes(os.urandom(60 * SECTOR_SIZE))
    t = 10**18
    entries = [
        _dir((b"d",)),
        MasterEntry((b"d", b"kept"), Kind.FILE, 0o644, 1, 1, t, t, 5000,
                    extents=((38, 2048), (45, 2952))),
        MasterEntry((b"k",), Kind.FILE, 0o644, 1, 1, t, t, 100, extents=((50, 100),)),
    ]  # fmt: skip
    with open(disc, "rb") as fp:
        assert_same(entries, tmp_path, monkeypatch, copy_from=fp)


def test_empty_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same([], tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("source") / "data"
    path.write_bytes(os.urandom(SOURCE_SIZE))
    return path


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=trees(), start=st.sampled_from([0, 12_345]))
def test_random_trees(tree: list[MasterEntry], start: int, source: Path, tmp_path: Path) -> None:
    """Random trees (tests/test_mastering.py's): long names, long symlink
    targets, empty, new and kept files up to 9 GiB; deep ones (pycdlib's
    on both sides) included."""
    tree = [replace(e, source=source) if e.source is not None else e for e in tree]
    with pytest.MonkeyPatch.context() as mp:
        assert_same(tree, tmp_path, mp, start=start)


def test_readers_agree_on_a_streamed_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xorriso, isoinfo and bsdtar list every name of a streamed session
    of 3,000 files in nested directories (several blocks each)."""
    data = tmp_path / "one"
    data.write_bytes(b"x" * 100)
    entries = [_dir((f"d{d}".encode(),)) for d in range(3)]
    entries += [
        MasterEntry((f"d{i % 3}".encode(), f"file {i:05} {'n' * (i % 180)}".encode()),
                    Kind.FILE, 0o644, 0, 0, 0, 0, 100, data)
        for i in range(3000)
    ]  # fmt: skip
    image = tmp_path / "s.iso"
    master_session(entries, image, start=Lba(0), label="readers")
    want = {"/" + b"/".join(e.path).decode() for e in entries}
    xorriso = run(["xorriso", "-indev", f"stdio:{image}", "-find", "/"]).stdout.decode()
    assert {line.strip("'") for line in xorriso.splitlines()} - {"/"} == want
    isoinfo = run(["isoinfo", "-i", str(image), "-R", "-f"]).stdout.decode()
    assert set(isoinfo.splitlines()) == want
    bsdtar = run(["bsdtar", "tf", str(image)]).stdout.decode()
    assert {"/" + p.rstrip("/") for p in bsdtar.splitlines()} - {"/."} == want


def test_symlink_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/test_symlinks.py's targets (SL entries cut across the record and
    its continuation area), in the root and below a long name; the ones
    needing several continuation areas are pycdlib's (in a session of
    their own here)."""
    from test_symlinks import TARGETS

    def link(path: tuple[bytes, ...], target: bytes) -> MasterEntry:
        return MasterEntry(path, Kind.SYMLINK, 0o777, 0, 0, 0, 0, target=target)

    long_dir = (b"d" * 200,)
    short = {k: t for k, t in TARGETS.items() if len(t) <= 800}
    entries = [_dir(long_dir)]
    entries += [link((k.encode(),), t) for k, t in short.items()]
    entries += [link((*long_dir, (k * 20).encode()[:240]), t) for k, t in short.items()]
    assert_same(entries, tmp_path, monkeypatch)
    whole = [link((k.encode(),), t) for k, t in TARGETS.items()]
    assert_same(whole, tmp_path, monkeypatch)


def test_appended_session_over_a_session_of_xorriso(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next session of a disc xorriso mastered, as a burn lists it
    (issue 18: the files kept at their one extent take a short path in the
    writer): short names, names going on into continuation areas, empty and
    hard-linked files, a symlink, and one new file; byte for byte what
    pycdlib writes."""
    from cdfs.burn.snapshot import disc_entry
    from cdfs.iso import discread

    src = tmp_path / "src"
    for d in range(3):
        (src / f"d{d}").mkdir(parents=True)
        for i in range(150):
            name = f"f{i:03}.bin" if i % 5 else f"{'long name é ' * (i % 17)}{i}.txt"
            (src / f"d{d}" / name).write_bytes(bytes([i]) * (i * 37))
    os.link(src / "d0" / "f001.bin", src / "d1" / "hard link")
    (src / "d2" / "link").symlink_to("../d0/f001.bin")
    image = tmp_path / "s1.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(image), str(src)])
    with image.open("rb") as fp:
        root = discread.read_session(fp, Lba(0))
    links: dict[object, int] = {}
    entries = [
        disc_entry(p, e, 0 if e.link is None else links.setdefault(e.link, len(links) + 1))
        for p, e in discread.walk(root)
    ]
    assert sum(e.kept and len(e.extents) == 1 for e in entries) > 400
    new = tmp_path / "new"
    new.write_bytes(b"appended\n")
    entries.append(_entry((b"d1", b"new.txt"), 3, size=9, source=new))
    start = image.stat().st_size // SECTOR_SIZE + 150
    assert_same(entries, tmp_path, monkeypatch, start=start)
