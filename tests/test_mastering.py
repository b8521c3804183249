"""Mastering sessions, checked by independent readers.

Images made by :func:`cdfs.iso.mastering.master_session` are listed and extracted
with xorriso, isoinfo, bsdtar and 7z and compared with the source tree; later
sessions are placed into a sparse disc image at their start sector and read
with ``-load sbsector`` / ``-T``.  The naming rules and the size bound are
checked over random trees with hypothesis.
"""

from __future__ import annotations

import gc
import os
import re
import stat
import struct
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdfs.errors import CdfsError, UsageError
from cdfs.iso import discread, isonames
from cdfs.iso.mastering import (
    MAX_EXTENT,
    Kind,
    MasterEntry,
    estimate_sectors,
    master_session,
    volume_ids,
)
from cdfs.units import SECTOR_SIZE, Lba, sectors_for

TIMEOUT = 120
RR_MOVED = ".rr_moved"

# Names in several scripts, one outside the BMP, one of 120 characters.
NAMES = [
    "日本語の写真.jpg",
    "Ελληνικά.txt",
    "Русский текст.doc",
    "عربي.pdf",
    "한국어 문서",
    "emoji 😀 party.png",
    "café crème.txt",
    "n" * 116 + ".txt",
    "What? *Really*: yes; no\\.txt",
]
ODD_TIMES = [315_532_800, 2**31 + 7, 4_102_444_800, 123_456_789]  # 1980, 2038+, 2100, 1973


def run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}): {res.stderr[-2000:]!r}")
    return res


# -- a source tree on disk and its entries -------------------------------------


def build_source(root: Path) -> None:
    """Nested directories, Unicode and long names, symlinks, empty files and
    directories, odd times and modes, a directory tree 11 levels deep."""
    root.mkdir()
    (root / "photos" / "2024").mkdir(parents=True)
    (root / "empty dir").mkdir()
    (root / "private").mkdir(mode=0o700)
    for i, name in enumerate(NAMES):
        (root / "photos" / name).write_bytes(os.urandom(100 + i * 3000))
    (root / "photos" / "2024" / "big.bin").write_bytes(os.urandom(300_000))
    (root / "empty").write_bytes(b"")
    secret = root / "private" / "secret.txt"
    secret.write_bytes(b"secret\n")
    secret.chmod(0o600)
    tool = root / "tool.sh"
    tool.write_bytes(b"#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    os.symlink("photos/2024/big.bin", root / "link")
    os.symlink("/etc/passwd", root / "absolute link")
    os.symlink("../" + NAMES[0], root / "photos" / "2024" / "up")
    deep = root
    for i in range(11):
        deep = deep / f"level{i}"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_bytes(b"at the bottom\n")
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        t = ODD_TIMES[i % len(ODD_TIMES)]
        os.utime(path, ns=(t * 10**9 + 5 * 10**9, t * 10**9), follow_symlinks=False)


def entries_from(root: Path) -> list[MasterEntry]:
    """The tree below ``root`` as new entries, as the burn job makes them."""
    out = []
    for path in sorted(root.rglob("*")):
        st_ = path.lstat()
        rel = tuple(os.fsencode(p) for p in path.relative_to(root).parts)
        kind = (
            Kind.DIR
            if stat.S_ISDIR(st_.st_mode)
            else Kind.SYMLINK
            if stat.S_ISLNK(st_.st_mode)
            else Kind.FILE
        )
        out.append(
            MasterEntry(
                rel,
                kind,
                stat.S_IMODE(st_.st_mode),
                1000 + len(rel),
                2000,
                st_.st_mtime_ns,
                st_.st_atime_ns,
                st_.st_size if kind is Kind.FILE else 0,
                path if kind is Kind.FILE else None,
                target=os.fsencode(os.readlink(path)) if kind is Kind.SYMLINK else b"",
            )
        )
    return out


@dataclass
class Mastered:
    src: Path
    entries: list[MasterEntry]
    image: Path
    sectors: int
    progress: list[tuple[int, int]]


@pytest.fixture(scope="module")
def mastered(tmp_path_factory: pytest.TempPathFactory) -> Mastered:
    base = tmp_path_factory.mktemp("mastered")
    src = base / "src"
    build_source(src)
    entries = entries_from(src)
    calls: list[tuple[int, int]] = []
    image = base / "session.iso"
    n = master_session(
        entries,
        image,
        start=Lba(0),
        label="Holiday Photos",
        progress=lambda d, t: calls.append((d, t)),
    )
    return Mastered(src, entries, image, n, calls)


def expected_paths(m: Mastered) -> dict[str, MasterEntry]:
    return {"/" + b"/".join(e.path).decode(): e for e in m.entries}


# -- start = 0: an ordinary image ----------------------------------------------

LSDL = re.compile(r"^(\S{10})\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+.*? '(.*?)'(?: -> '(.*)')?$")


def lsdl(image: Path, *options: str) -> dict[str, tuple[str, int, int, int, str | None]]:
    """``xorriso [options] -indev IMAGE -find / -exec lsdl``:
    path -> (mode string, uid, gid, size, symlink target)."""
    res = run(["xorriso", *options, "-indev", f"stdio:{image}", "-find", "/", "-exec", "lsdl"])
    out = {}
    for line in res.stdout.decode().splitlines():
        m = LSDL.match(line)
        assert m, line
        out[m[5]] = (m[1], int(m[2]), int(m[3]), int(m[4]), m[6])
    return out


def test_xorriso_lists_names_modes_owners_and_symlinks(mastered: Mastered) -> None:
    listed = lsdl(mastered.image)
    want = expected_paths(mastered)
    assert set(listed) - {"/", "/" + RR_MOVED} == set(want)
    for path, e in want.items():
        mode, uid, gid, size, target = listed[path]
        assert mode == stat.filemode(e.st_mode), path
        assert (uid, gid) == (e.uid, e.gid), path
        if e.kind is Kind.FILE:
            assert size == e.size, path
        assert (target or "").encode() == e.target, path


def test_volume_descriptor_records_own_size(mastered: Mastered) -> None:
    info = run(["isoinfo", "-d", "-i", str(mastered.image)]).stdout.decode()
    assert f"Volume size is: {mastered.sectors}" in info
    assert "Volume id: HOLIDAY_PHOTOS" in info
    assert "Joliet with UCS level 3 found" in info
    assert "Rock Ridge signatures version 1 found" in info
    assert mastered.image.stat().st_size == mastered.sectors * SECTOR_SIZE
    with mastered.image.open("rb") as f:
        f.seek(16 * SECTOR_SIZE + 40)
        assert f.read(32).rstrip() == b"HOLIDAY_PHOTOS"
        f.seek(17 * SECTOR_SIZE + 40)
        assert f.read(32).decode("utf-16-be").rstrip() == "Holiday Photos"
    # padding: the last 150 sectors are zeros
    with mastered.image.open("rb") as f:
        f.seek(-150 * SECTOR_SIZE, 2)
        assert f.read() == bytes(150 * SECTOR_SIZE)


ISOINFO_LINE = re.compile(
    rb"^(\S{10})\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+"  # mode, links, uid, gid, size
    rb"\w{3}\s+\d+\s+\d{4}\s+\[\s*(\d+)\s+\d+\]\s\s(.*?) ?$"  # date, [lba flags], name
)


def isoinfo_listing(*args: str) -> dict[str, dict[bytes, tuple[bytes, int, int, int, int]]]:
    """``isoinfo -l``: directory -> {name: (mode, uid, gid, size, lba)}."""
    res = run(["isoinfo", *args, "-l"])
    dirs: dict[str, dict[bytes, tuple[bytes, int, int, int, int]]] = {}
    current: dict[bytes, tuple[bytes, int, int, int, int]] = {}
    for line in res.stdout.splitlines():
        if line.startswith(b"Directory listing of "):
            current = dirs.setdefault(line[21:].decode(errors="replace"), {})
            continue
        m = ISOINFO_LINE.match(line)
        if m and m[6] not in (b".", b".."):
            # isoinfo prints the owner in octal
            current[m[6]] = (m[1], int(m[2], 8), int(m[3], 8), int(m[4]), int(m[5]))
    return dirs


def test_isoinfo_rock_ridge_tree(mastered: Mastered) -> None:
    listing = isoinfo_listing("-i", str(mastered.image), "-R")
    seen = set()
    for d, children in listing.items():
        for name, (mode, uid, gid, size, _lba) in children.items():
            if name.startswith((b"level", RR_MOVED.encode())) or d.startswith("/" + RR_MOVED):
                continue  # relocated directories are checked by xorriso above
            path = (d + name.decode()).split(" -> ")[0]
            seen.add(path)
            e = expected_paths(mastered)[path]
            assert mode.decode() == stat.filemode(e.st_mode), path
            assert (uid, gid) == (e.uid, e.gid)
            if e.kind is Kind.FILE:
                assert size == e.size
    assert "/photos/" + NAMES[0] in seen
    assert "/photos/" + "n" * 116 + ".txt" in seen
    assert "/absolute link" in seen


def test_iso9660_names_are_level3_and_unique(mastered: Mastered) -> None:
    listing = isoinfo_listing("-i", str(mastered.image))
    file_re = re.compile(rb"^[A-Z0-9_]+(\.[A-Z0-9_]*)?;1$")
    dir_re = re.compile(rb"^[A-Z0-9_]{1,31}$")
    total = 0
    for children in listing.values():
        shown = set()
        for name, (mode, *_rest) in children.items():
            total += 1
            if mode.startswith(b"d") or name == b"LEVEL7":  # LEVEL7: the RRIP CL placeholder
                assert dir_re.match(name), name
            else:
                assert file_re.match(name), name
                assert len(name) - 2 <= 30, name
            shown.add(name.split(b";")[0].rstrip(b"."))
        assert len(shown) == len(children)
    assert total == len(mastered.entries) + 2  # RR_MOVED, and LEVEL7 in it as well


def test_joliet_tree(mastered: Mastered) -> None:
    """What Windows sees: xorriso reading the Joliet tree, and isoinfo -J."""
    listed = lsdl(mastered.image, "-read_fs", "norock")
    want = expected_paths(mastered)
    shown = {p for p, e in want.items() if e.kind is not Kind.SYMLINK}
    assert len(listed) - 1 == len(shown)  # no symlinks in Joliet
    for path in listed:
        name = path.rsplit("/", 1)[-1]
        assert len(name) <= isonames.JOLIET_NAME_MAX
        assert not set(name) & set("*/:;?\\"), name
        assert all(ord(c) <= 0xFFFF for c in name)
    assert "/photos/日本語の写真.jpg" in listed
    assert "/photos/emoji _ party.png" in listed
    assert "/photos/What_ _Really__ yes_ no_.txt" in listed
    assert "/photos/" + "n" * 60 + ".txt" in listed
    assert listed["/photos/2024/big.bin"][3] == 300_000
    joliet = isoinfo_listing("-i", str(mastered.image), "-J")
    assert joliet["/photos/2024/"][b"big.bin"][3] == 300_000
    assert len(joliet) == sum(e.kind is Kind.DIR for e in want.values()) + 1


def test_bsdtar_and_7z_list_everything(mastered: Mastered) -> None:
    want = {p.lstrip("/") for p in expected_paths(mastered)}
    tar = run(["bsdtar", "tf", str(mastered.image)]).stdout.decode().splitlines()
    tar = [p.replace("\\\\", "\\") for p in tar]  # bsdtar escapes backslashes
    assert {p.rstrip("/") for p in tar} - {".", RR_MOVED} == want
    verbose = run(["bsdtar", "tvf", str(mastered.image)]).stdout.decode()
    line = next(s for s in verbose.splitlines() if s.endswith(" private/secret.txt"))
    assert re.match(r"-rw-------\s+1\s+1002\s+2000\s+7\s", line), line
    seven = run(["7z", "l", "-slt", str(mastered.image)]).stdout.decode()
    paths = re.findall(r"^Path = (.*)$", seven, re.M)[1:]
    assert len(paths) == len([e for e in mastered.entries if e.kind is not Kind.SYMLINK])
    assert "photos/2024/big.bin" in paths


def test_extract_compares_bytes_names_times(mastered: Mastered, tmp_path: Path) -> None:
    out = tmp_path / "x"
    run(["xorriso", "-osirrox", "on", "-indev", f"stdio:{mastered.image}", "-extract", "/",
         str(out)])  # fmt: skip
    got = {p.relative_to(out) for p in out.rglob("*")} - {Path(RR_MOVED)}
    assert got == {p.relative_to(mastered.src) for p in mastered.src.rglob("*")}
    for e in mastered.entries:
        src = mastered.src.joinpath(*map(os.fsdecode, e.path))
        dst = out.joinpath(*map(os.fsdecode, e.path))
        st_ = dst.lstat()
        assert stat.S_IMODE(st_.st_mode) == e.mode, dst
        if e.kind is Kind.SYMLINK:
            assert os.readlink(dst) == os.readlink(src)
            continue
        assert st_.st_mtime_ns == e.mtime_ns // 10**9 * 10**9, dst
        if e.kind is Kind.FILE:
            assert dst.read_bytes() == src.read_bytes(), dst
            assert st_.st_atime_ns == e.atime_ns // 10**9 * 10**9, dst


def test_progress_reaches_total(mastered: Mastered) -> None:
    total = mastered.sectors * SECTOR_SIZE
    assert mastered.progress[-1] == (total, total)
    assert all(t == total for _d, t in mastered.progress)
    done = [d for d, _t in mastered.progress]
    assert done == sorted(done) and len(done) > 1


# -- later sessions ---------------------------------------------------------------


def kept(path: tuple[bytes, ...], e: discread.DiscEntry) -> MasterEntry:
    """A disc entry listed again in the next session (what the burn job does)."""
    kind = e.kind
    return MasterEntry(path, kind, stat.S_IMODE(e.mode), e.uid, e.gid, e.mtime_ns, e.atime_ns,
                       e.size if kind is Kind.FILE else 0,
                       extents=e.extents if kind is Kind.FILE else (), target=e.target)  # fmt: skip


def place(disc: Path, session: Path, start: int) -> None:
    with disc.open("r+b") as f, session.open("rb") as s:
        f.seek(start * SECTOR_SIZE)
        while chunk := s.read(1 << 20):
            f.write(chunk)


def test_second_session_keeps_files_at_their_extents(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.bin").write_bytes(os.urandom(1_000_000))
    (src / "drop.txt").write_bytes(b"dropped in session 2\n")
    (src / "dir").mkdir()
    (src / "dir" / "old.txt").write_bytes(b"old\n")
    disc = tmp_path / "disc.img"
    n1 = master_session(entries_from(src), disc, start=Lba(0), label="one")

    with disc.open("rb") as f:
        first = discread.read_session(f, Lba(0))
    carried = [kept(p, e) for p, e in discread.walk(first) if p != (b"drop.txt",)]
    new = tmp_path / "new"
    new.mkdir()
    (new / "fresh.txt").write_bytes(b"new in session 2\n" * 100)
    fresh = [replace(e, path=(b"dir", *e.path)) for e in entries_from(new)]  # dir/fresh.txt
    start = n1 + 11_400
    s2 = tmp_path / "s2.iso"
    n2 = master_session(carried + fresh, s2, start=Lba(start), label="two")

    # the second session holds the new data and a new tree, not the kept data
    assert s2.stat().st_size == n2 * SECTOR_SIZE
    assert n2 <= 150 + sectors_for(1700) + 40
    place(disc, s2, start)

    info = run(["isoinfo", "-d", "-i", str(disc), "-T", str(start)]).stdout.decode()
    assert f"Volume size is: {n2}" in info
    listed = lsdl(disc, "-load", "sbsector", str(start))
    assert set(listed) == {"/", "/keep.bin", "/dir", "/dir/old.txt", "/dir/fresh.txt"}
    rr = isoinfo_listing("-i", str(disc), "-T", str(start), "-R")
    assert rr["/"][b"keep.bin"][4] < n1  # still in session 1
    assert rr["/dir/"][b"fresh.txt"][4] >= start + 16
    joliet = isoinfo_listing("-i", str(disc), "-T", str(start), "-J")
    assert joliet["/"][b"keep.bin"][4] == rr["/"][b"keep.bin"][4]

    out = tmp_path / "x"
    run(["xorriso", "-osirrox", "on", "-indev", f"stdio:{disc}", "-load", "sbsector", str(start),
         "-extract", "/", str(out)])  # fmt: skip
    assert (out / "keep.bin").read_bytes() == (src / "keep.bin").read_bytes()
    assert (out / "dir" / "old.txt").read_bytes() == b"old\n"
    assert (out / "dir" / "fresh.txt").read_bytes() == (new / "fresh.txt").read_bytes()
    assert not (out / "drop.txt").exists()
    # plain readers still see session 1
    assert set(lsdl(disc)) == {"/", "/keep.bin", "/drop.txt", "/dir", "/dir/old.txt"}


def test_kept_file_over_4gib_is_multi_extent(tmp_path: Path) -> None:
    size = 5 * 2**30 + 12345
    first = MAX_EXTENT
    extents = ((1000, first), (1000 + first // SECTOR_SIZE, size - first))
    big = MasterEntry((b"big.iso",), Kind.FILE, 0o644, 0, 0, 10**18, 10**18, size,
                      extents=extents)  # fmt: skip
    start = 1000 + sectors_for(size) + 100
    s = tmp_path / "s.iso"
    n = master_session([big], s, start=Lba(start), label="big")
    assert n < 200
    disc = tmp_path / "disc.img"
    assert master_session([], disc, start=Lba(0), label="first") < 1000  # xorriso wants one
    place(disc, s, start)
    listed = lsdl(disc, "-load", "sbsector", str(start))
    assert listed["/big.iso"][3] == size
    with disc.open("rb") as f:
        root = discread.read_session(f, Lba(start))
    assert root.children[b"big.iso"].extents == extents
    assert root.children[b"big.iso"].size == size


# -- refusals -----------------------------------------------------------------------


def _file(path: tuple[bytes, ...], **kw: object) -> MasterEntry:
    return MasterEntry(path, Kind.FILE, 0o644, 0, 0, 0, 0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([_file((b"bad\xff.txt",))], "not valid UTF-8"),
        ([_file((b"x" * 256,))], "longer than 255"),
        ([_file((b"a/b",))], "invalid file name"),
        ([_file((b"nodir", b"f"))], "is not in the tree"),
        ([_file((b"f",)), _file((b"f",))], "listed twice"),
        ([_file((b"f",), size=10)], "neither a source nor extents"),
        ([_file((b"f",), size=10, extents=((100, 5),))], "do not add up"),
        ([MasterEntry((b"l",), Kind.SYMLINK, 0o777, 0, 0, 0, 0, target=b"\xff")], "not valid"),
    ],
)
def test_refuses_what_cannot_be_recorded(
    entries: list[MasterEntry], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "s.iso"
    with pytest.raises(UsageError, match=message):
        master_session(entries, out, start=Lba(0), label="x")
    assert not out.exists()


def test_source_that_shrank_fails_cleanly(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x" * 5000)
    entry = _file((b"f",), size=5000, source=src)
    src.write_bytes(b"x" * 10)
    out = tmp_path / "s.iso"
    with pytest.raises(CdfsError, match="shrank"):
        master_session([entry], out, start=Lba(0), label="x")
    assert not out.exists()


def test_volume_ids() -> None:
    assert volume_ids("My Photos 2024") == ("MY_PHOTOS_2024", "My Photos 2024")
    assert volume_ids("a" * 40) == ("A" * 32, "a" * 16)
    assert volume_ids("日本語") == ("CDROM", "日本語")
    assert volume_ids("x: y?") == ("X__Y", "x_ y_")
    for bad in ("", "   ", "tab\there", "new\nline"):
        with pytest.raises(UsageError):
            volume_ids(bad)


# -- names and the size bound over random trees -------------------------------------

name_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1,
    max_size=90,
).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)  # fmt: skip


@given(st.lists(st.tuples(name_text, st.booleans()), max_size=40, unique_by=lambda t: t[0]))
def test_names_are_valid_unique_and_deterministic(children: list[tuple[str, bool]]) -> None:
    iso = isonames.iso_names(children, reserved=("RR_MOVED",))
    joliet = isonames.joliet_names(children)
    assert iso == isonames.iso_names(list(reversed(children)), reserved=("RR_MOVED",))
    assert joliet == isonames.joliet_names(list(reversed(children)))
    shown = {i.split(b";")[0].rstrip(b".") for i in iso.values()}
    assert len(shown) == len(children) and b"RR_MOVED" not in shown
    for (name, is_dir), ident in ((c, iso[c[0]]) for c in children):
        if is_dir:
            assert re.fullmatch(rb"[A-Z0-9_]{1,28}", ident), (name, ident)
        else:
            assert re.fullmatch(rb"[A-Z0-9_]+(\.[A-Z0-9_]+)?\.?;1", ident), (name, ident)
            assert len(ident.split(b";")[0].rstrip(b".")) <= 30
    assert len({isonames._joliet_key(j) for j in joliet.values()}) == len(children)
    for name, j in joliet.items():
        assert 1 <= len(j) <= 64 and not set(j) & set("*/:;?\\")
        assert all(0x20 <= ord(c) <= 0xFFFF for c in j)
        if len(name) <= 60 and j == name:
            assert not set(name) & set("*/:;?\\")


@st.composite
def trees(draw: st.DrawFn) -> list[MasterEntry]:
    """Random trees: up to 12 levels, long names, symlinks with long targets,
    new files (data from one shared source) and kept files up to 9 GiB."""
    dirs: list[tuple[bytes, ...]] = [()]
    names: set[tuple[bytes, ...]] = set()
    out = []
    for _ in range(draw(st.integers(0, 60))):
        parent = draw(st.sampled_from(dirs))
        name = draw(name_text).encode()
        if (*parent, name) in names:
            continue
        path = (*parent, name)
        names.add(path)
        kind = draw(st.sampled_from([Kind.DIR, Kind.FILE, Kind.FILE, Kind.SYMLINK]))
        if kind is Kind.DIR and len(path) < 12:
            dirs.append(path)
            out.append(MasterEntry(path, Kind.DIR, 0o755, 0, 0, 0, 0))
        elif kind is Kind.SYMLINK:
            target = draw(st.text(min_size=1, max_size=400).filter(lambda t: "\0" not in t))
            out.append(MasterEntry(path, kind, 0o777, 0, 0, 0, 0, target=target.encode()))
        elif draw(st.booleans()):
            size = draw(st.integers(0, SOURCE_SIZE))
            out.append(_file(path, size=size, source=SOURCE))
        else:
            size = draw(st.integers(1, 9 * 2**30))
            extents = tuple(
                (10**6 + i * (MAX_EXTENT // SECTOR_SIZE), min(MAX_EXTENT, size - i * MAX_EXTENT))
                for i in range(-(-size // MAX_EXTENT))
            )
            out.append(_file(path, size=size, extents=extents))
    return out


SOURCE_SIZE = 40_000
SOURCE = Path("/nonexistent")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("source") / "data"
    path.write_bytes(os.urandom(SOURCE_SIZE))
    return path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=trees(), start=st.sampled_from([0, 0, 12_345]))
def test_estimate_is_an_upper_bound(
    tree: list[MasterEntry], start: int, source: Path, tmp_path: Path
) -> None:
    tree = [replace(e, source=source) if e.source is not None else e for e in tree]
    out = tmp_path / "s.iso"
    n = master_session(tree, out, start=Lba(start), label="bound")
    estimate = estimate_sectors(tree)
    assert estimate >= n
    assert out.stat().st_size == n * SECTOR_SIZE


def test_estimate_is_not_wildly_pessimistic(tmp_path: Path) -> None:
    """5,000 files with 40-character names in 50 directories: the bound
    stays within 2x of the real metadata."""
    src = tmp_path / "one"
    src.write_bytes(b"x")
    tree = [MasterEntry((f"dir{d:02}".encode(),), Kind.DIR, 0o755, 0, 0, 0, 0) for d in range(50)]
    tree += [
        _file((f"dir{i % 50:02}".encode(), f"a file with a longish name {i:08}.txt".encode()),
              size=1, source=src)
        for i in range(5000)
    ]  # fmt: skip
    n = master_session(tree, tmp_path / "s.iso", start=Lba(0), label="many")
    data = 5000
    assert n - data <= estimate_sectors(tree) - data <= 2 * (n - data)


def test_session_volume_size_field(tmp_path: Path) -> None:
    """The PVD and SVD at start + 16 carry the session's own size."""
    src = tmp_path / "f"
    src.write_bytes(b"data")
    out = tmp_path / "s.iso"
    n = master_session([_file((b"f",), size=4, source=src)], out, start=Lba(5000), label="x")
    with out.open("rb") as f:
        for sector in (16, 17):
            f.seek(sector * SECTOR_SIZE)
            vd = f.read(SECTOR_SIZE)
            assert vd[1:6] == b"CD001"
            assert struct.unpack_from("<I", vd, 80)[0] == n
            assert struct.unpack_from(">I", vd, 84)[0] == n
            root_lba = struct.unpack_from("<I", vd, 156 + 2)[0]
            assert 5000 + 16 < root_lba < 5000 + n


def test_colliding_names_stay_fast() -> None:
    """Thousands of names that all shorten to the same ISO name."""
    children = [
        (f"a very long common prefix for all of these {i:05}.txt", False) for i in range(5000)
    ]
    t0 = time.perf_counter()
    iso = isonames.iso_names(children)
    joliet = isonames.joliet_names([(n + "x" * 40, d) for n, d in children])
    assert time.perf_counter() - t0 < 5
    assert len(set(iso.values())) == len(set(joliet.values())) == 5000


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled: bool, tmp_path: Path) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        master_session([_file((b"f",))], tmp_path / "s.iso", start=Lba(0), label="gc")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.soak
def test_new_file_over_4gib_is_multi_extent(tmp_path: Path) -> None:
    size = 4 * 2**30 + 3 * SECTOR_SIZE + 5
    src = tmp_path / "big"
    with src.open("wb") as f:
        f.truncate(size - 3)
        f.seek(size - 3)
        f.write(b"END")
    image = tmp_path / "big.iso"
    n = master_session([_file((b"big",), size=size, source=src)], image, start=Lba(0), label="b")
    assert image.stat().st_size == n * SECTOR_SIZE
    assert lsdl(image)["/big"][3] == size
    with image.open("rb") as f:
        big = discread.read_session(f, Lba(0)).children[b"big"]
        assert [n for _lba, n in big.extents] == [MAX_EXTENT, size - MAX_EXTENT]
        lba, length = big.extents[-1]
        f.seek(lba * SECTOR_SIZE + length - 3)
        assert f.read(3) == b"END"


# -- Rock Ridge layout as libarchive reads it ---------------------------------------
#
# libarchive (bsdtar) reads a disc in one pass, in sector order: it takes a
# continuation area (SUSP CE) only at or after the end of the directory that
# refers to it, acts on CL and RE when it parses the directory record, and
# links a relocated directory found inside another relocated one only while
# the outer one is not yet linked.  xorriso, isoinfo and 7z are more lenient.


def _dir(path: tuple[bytes, ...]) -> MasterEntry:
    return MasterEntry(path, Kind.DIR, 0o755, 0, 0, 10**18, 10**18)


def bsdtar_paths(image: Path) -> set[str]:
    out = run(["bsdtar", "tf", str(image)]).stdout.decode().splitlines()
    return {p.rstrip("/") for p in out} - {"."}


@dataclass
class IsoDir:
    """An ISO 9660 directory as recorded: its ISO path, extent, and for each
    record (dot and dotdot left out) its identifier, flags and SUSP entries
    in the record itself (signature -> body)."""

    path: str
    lba: int
    sectors: int
    records: list[tuple[bytes, int, dict[bytes, bytes]]]


def iso_directories(image: Path, start: int = 0) -> list[IsoDir]:
    """The ISO 9660 directories of the session at ``start``, breadth first
    in record order (the order of the path table)."""
    with image.open("rb") as f:

        def read(lba: int, n: int) -> bytes:
            f.seek(lba * SECTOR_SIZE)
            return f.read(n)

        pvd = read(start + 16, SECTOR_SIZE)
        todo = [("", struct.unpack_from("<I", pvd, 158)[0], struct.unpack_from("<I", pvd, 166)[0])]
        out = []
        while todo:
            path, lba, size = todo.pop(0)
            data, pos, records = read(lba, size), 0, []
            while pos < size:
                n = data[pos]
                if n == 0:
                    pos = (pos // SECTOR_SIZE + 1) * SECTOR_SIZE
                    continue
                rec, pos = data[pos : pos + n], pos + n
                ident = rec[33 : 33 + rec[32]]
                if ident in (b"\0", b"\1"):
                    continue
                su, susp = rec[33 + rec[32] + (1 - rec[32] % 2) :], {}
                while len(su) >= 4 and su[2] >= 4:
                    susp[su[:2]], su = su[4 : su[2]], su[su[2] :]
                records.append((ident, rec[25], susp))
                if rec[25] & 2:
                    sub = struct.unpack_from("<I", rec, 2)[0], struct.unpack_from("<I", rec, 10)[0]
                    todo.append((f"{path}/{ident.decode()}", *sub))
            out.append(IsoDir(path or "/", lba, sectors_for(size), records))
    return out


def path_table(image: Path, start: int = 0) -> list[tuple[bytes, int, int]]:
    """The type L path table: (identifier, extent, parent number) in order."""
    with image.open("rb") as f:
        f.seek((start + 16) * SECTOR_SIZE)
        pvd = f.read(SECTOR_SIZE)
        size, where = struct.unpack_from("<I", pvd, 132)[0], struct.unpack_from("<I", pvd, 140)[0]
        f.seek(where * SECTOR_SIZE)
        table = f.read(size)
    out, pos = [], 0
    while pos < len(table):
        n = table[pos]
        lba, parent = struct.unpack_from("<IH", table, pos + 2)
        out.append((table[pos + 8 : pos + 8 + n], lba, parent))
        pos += 8 + n + n % 2
    return out


def check_rock_ridge_layout(image: Path, start: int = 0) -> list[IsoDir]:
    """What libarchive needs, and what ECMA-119 asks of the path table."""
    dirs = iso_directories(image, start)
    index = {d.path: i for i, d in enumerate(dirs)}
    for d in dirs:
        # at most 8 levels, the root included (ECMA-119 6.8.2.1)
        assert d.path.count("/") <= isonames.ISO_DIR_DEPTH, d.path
        # its continuation blocks follow it directly
        blocks = {struct.unpack_from("<I", s[b"CE"])[0] for _i, _f, s in d.records if b"CE" in s}
        assert blocks == set(range(d.lba + d.sectors, d.lba + d.sectors + len(blocks))), d.path
        for ident, flags, susp in d.records:
            if b"CL" in susp or b"RE" in susp:  # in the record, not its continuation
                assert b"PX" in susp and b"TF" in susp, (d.path, ident)
            if b"CL" in susp:
                assert not flags & 2, (d.path, ident)
    # the path table lists the directories breadth first, each with its parent
    want = [(b"\0", dirs[0].lba, 1)] + [
        (d.path.rsplit("/", 1)[1].encode(), d.lba, index[d.path.rsplit("/", 1)[0] or "/"] + 1)
        for d in dirs[1:]
    ]
    assert path_table(image, start) == want
    return dirs


def test_long_names_in_several_directories_are_read_by_bsdtar(tmp_path: Path) -> None:
    """pycdlib shared continuation blocks between directories and could put
    one before a directory that uses it ('Invalid parameter in SUSP "CE"
    extension'); here every directory has blocks of its own after it."""
    entries = [_dir((b"c",)), _file((b"b" * 200,)), _file((b"c", b"y" * 200))]
    for d in (b"A", b"m" * 180, b"z"):
        entries.append(_dir((d,)))
        entries += [_file((d, f"{i:03} {'n' * 230}".encode())) for i in range(12)]
        entries.append(MasterEntry((d, b"l" * 200), Kind.SYMLINK, 0o777, 0, 0, 0, 0,
                                   target=b"/".join([b"t" * 200] * 4)))  # fmt: skip
    image = tmp_path / "s.iso"
    assert master_session(entries, image, start=Lba(0), label="ce") <= estimate_sectors(entries)
    want = {b"/".join(e.path).decode() for e in entries}
    assert bsdtar_paths(image) == want
    assert {p.lstrip("/") for p in lsdl(image)} - {""} == want
    dirs = check_rock_ridge_layout(image)
    # several blocks in one directory, and directories without any
    assert max(sum(b"CE" in s for _i, _f, s in d.records) for d in dirs) > 2


def test_many_long_names_stay_fast(tmp_path: Path) -> None:
    """20,000 names that need continuation areas: pycdlib tried every block
    of the volume for each (65 s); a directory's last block is tried (3 s)."""
    entries = [_file((f"{i:05} {'n' * 200}".encode(),)) for i in range(20_000)]
    t0 = time.perf_counter()
    master_session(entries, tmp_path / "s.iso", start=Lba(0), label="many")
    assert time.perf_counter() - t0 < 20


def deep_tree(levels: int, name: str) -> list[MasterEntry]:
    out, path = [], ()
    for i in range(1, levels + 1):
        path = (*path, f"{i:02}{name}".encode())
        out += [_dir(path), _file((*path, f"file at {i}{name}".encode()))]
    return out


@pytest.mark.parametrize(
    ("levels", "name"), [(8, ""), (13, ""), (14, ""), (30, ""), (15, " long name" * 20)]
)
def test_deep_directories_are_relocated_within_eight_iso_levels(
    tmp_path: Path, levels: int, name: str
) -> None:
    """Relocated at Rock Ridge levels 8, 14, 20... into /RR_MOVED (ISO depth
    2), so that no ISO path is deeper than 8 levels, as genisoimage does;
    pycdlib relocated every 8th Rock Ridge level, which left RR_MOVED/08/../15
    and libarchive unable to link level 16 ('Failed to connect CL')."""
    entries = deep_tree(levels, name)
    image = tmp_path / "s.iso"
    assert master_session(entries, image, start=Lba(0), label="deep") <= estimate_sectors(entries)
    want = {b"/".join(e.path).decode() for e in entries}
    listing = isoinfo_listing("-i", str(image))
    assert max(d.count("/") - 1 for d in listing) <= isonames.ISO_DIR_DEPTH
    moved = listing["/RR_MOVED/"]
    relocated = sorted(n[:2] for n, (mode, *_r) in moved.items() if mode.startswith(b"d"))
    assert relocated == [f"{i:02}".encode() for i in range(8, levels + 1, 6)]
    check_rock_ridge_layout(image)
    assert bsdtar_paths(image) == want
    assert {p.lstrip("/") for p in lsdl(image)} - {"", RR_MOVED} == want
    with image.open("rb") as f:
        got = {b"/".join(p).decode() for p, _e in discread.walk(discread.read_session(f, Lba(0)))}
    assert got == want


def test_deep_directories_with_long_names_in_a_later_session(tmp_path: Path) -> None:
    """A relocated directory's placeholder with a long name had no
    continuation area of its own: pycdlib wrote it at sector 0, so a later
    session could not be mastered at all."""
    first = deep_tree(9, " long name" * 20)
    disc = tmp_path / "disc.img"
    n1 = master_session(first, disc, start=Lba(0), label="one")
    with disc.open("rb") as f:
        carried = [kept(p, e) for p, e in discread.walk(discread.read_session(f, Lba(0)))]
    added = [_dir((*first[-2].path, b"x" * 200)), _dir((*first[-2].path, b"x" * 200, b"y" * 200))]
    start = n1 + 1000
    s2 = tmp_path / "s2.iso"
    master_session(carried + added, s2, start=Lba(start), label="two")
    place(disc, s2, start)
    want = {b"/".join(e.path).decode() for e in first + added}
    listing = isoinfo_listing("-i", str(disc), "-T", str(start))
    assert max(d.count("/") - 1 for d in listing) <= isonames.ISO_DIR_DEPTH
    check_rock_ridge_layout(disc, start)
    listed = lsdl(disc, "-load", "sbsector", str(start))
    assert {p.lstrip("/") for p in listed} - {"", RR_MOVED} == want
    with disc.open("rb") as f:
        got = {b"/".join(p).decode() for p, _e in discread.walk(discread.read_session(f, start))}
    assert got == want


@pytest.mark.parametrize(
    ("taken", "name"),
    [((), ".rr_moved"), ((".rr_moved",), "rr_moved"), (("rr_moved",), ".rr_moved")],
    ids=["free", "hidden-taken", "plain-taken"],
)
def test_relocation_directory_has_a_name_libarchive_knows(
    tmp_path: Path, taken: tuple[str, ...], name: str
) -> None:
    """libarchive knows the relocation directory by its Rock Ridge name,
    rr_moved or .rr_moved, and refuses a relocated directory anywhere else
    ('Invalid Rockridge RE'): the hidden name, else the other.  A user's
    directory of that name stays as it is, after RR_MOVED in the root."""
    entries = deep_tree(8, "")
    for t in taken:
        entries += [_dir((t.encode(),)), _file((t.encode(), b"mine.txt"))]
    image = tmp_path / "s.iso"
    master_session(entries, image, start=Lba(0), label="moved")
    want = {b"/".join(e.path).decode() for e in entries}
    assert bsdtar_paths(image) == want
    assert {p.lstrip("/") for p in lsdl(image)} - {""} == want | {name}
    with image.open("rb") as f:
        got = {b"/".join(p).decode() for p, _e in discread.walk(discread.read_session(f, Lba(0)))}
    assert got == want
    check_rock_ridge_layout(image)


def test_relocation_directory_names_both_taken_is_refused(tmp_path: Path) -> None:
    """As genisoimage refuses it; without deep directories there is nothing
    to relocate and both names are the user's."""
    mine = [_dir((b".rr_moved",)), _dir((b"rr_moved",))]
    out = tmp_path / "s.iso"
    with pytest.raises(UsageError, match="rename one"):
        master_session(mine + deep_tree(8, ""), out, start=Lba(0), label="x")
    assert not out.exists()
    master_session(mine + deep_tree(7, ""), out, start=Lba(0), label="x")
    assert {"/.rr_moved", "/rr_moved"} <= set(lsdl(out))


# -- records made by cdfs.iso.sessioniso ------------------------------------------------


def test_records_made_directly_are_the_ones_pycdlib_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SessionIso makes file records without the dates pycdlib computes from
    "now", with Rock Ridge PX, TF and RR entries shared between records, and
    appends them without pycdlib's search for their place: the image is byte
    for byte the one pycdlib's own records, entries and add_child give
    (directories of several blocks with subdirectories before and after the
    files, long names in continuation areas, a multi-extent file, symlinks,
    relocated directories, a session not at sector 0)."""
    import pycdlib.dr

    from cdfs.iso import sessioniso

    def entry(path: tuple[bytes, ...], i: int, **kw: object) -> MasterEntry:
        t = (i * 7919 % 5000) * 10**9 * 3600
        return MasterEntry(path, Kind.FILE, 0o600 + i % 64, i, 2 * i, t, t + i * 10**9, **kw)  # type: ignore[arg-type]

    big = MAX_EXTENT + 3 * SECTOR_SIZE
    entries = [_dir((b"a",)), _dir((b"a", b"sub")), _dir((b"z",)), *deep_tree(9, "")]
    entries += [entry((f"f{i:04} {'n' * (i % 3) * 100}".encode(),), i) for i in range(700)]
    entries += [entry((b"a", f"{i:04}.txt".encode()), i) for i in range(300)]
    entries += [entry((b"z", b"big"), 1, size=big, extents=((100, MAX_EXTENT), (10**6, 3 * 2048)))]
    entries += [MasterEntry((b"z", f"l{i}".encode()), Kind.SYMLINK, 0o777, 0, 0, 0, 0,
                            target=b"../" * i + b"t" * 150) for i in range(40)]  # fmt: skip
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    fast, plain = tmp_path / "fast.iso", tmp_path / "plain.iso"
    master_session(entries, fast, start=Lba(10**6 + 10), label="same")
    monkeypatch.setattr(sessioniso, "_Record", pycdlib.dr.DirectoryRecord)
    monkeypatch.setattr(sessioniso, "_compact", lambda rec: None)
    monkeypatch.setattr(
        sessioniso.SessionIso,
        "_stamp_file",
        lambda self, rec, st, px: self._stamp(rec, st, px.posix_serial_number),
    )
    monkeypatch.setattr(
        sessioniso.SessionIso,
        "_append_child",
        lambda self, parent, rec, more: parent.add_child(rec, SECTOR_SIZE, more),
    )
    master_session(entries, plain, start=Lba(10**6 + 10), label="same")
    assert fast.read_bytes() == plain.read_bytes()


def test_the_session_is_freed_when_mastered(tmp_path: Path) -> None:
    """pycdlib's close() kept every record of a session; the collection after
    mastering freed nothing, and a daemon held the graph until the next full
    collection."""
    import pycdlib.dr

    def records() -> int:
        return sum(isinstance(o, pycdlib.dr.DirectoryRecord) for o in gc.get_objects())

    was = gc.isenabled()
    gc.enable()
    try:
        gc.collect()
        before = records()
        entries = [_dir((b"d",)), *(_file((b"d", f"{i}".encode())) for i in range(500))]
        master_session(entries, tmp_path / "s.iso", start=Lba(0), label="freed")
        assert records() - before < 50
    finally:
        (gc.enable if was else gc.disable)()
