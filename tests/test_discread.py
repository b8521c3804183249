"""Reading sessions back, from images made by genisoimage, xorriso and cdfs.

Every image is compared with the tree it was made from: names (Rock Ridge,
Joliet or ISO 9660), kinds, sizes, the bytes behind each file's extents,
modes, owners and times where the image records them.  Multisession images
are made with ``-C/-M`` and read at their start sector.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from cdfs.errors import InvalidImageError
from cdfs.iso import disccontents, discread
from cdfs.iso.disccontents import read_tree
from cdfs.iso.discread import DiscEntry, read_session, walk
from cdfs.iso.mastering import MAX_EXTENT, Kind, MasterEntry, master_session
from cdfs.recorders.media import DiscInfo, DiscState, Session, media_type
from cdfs.units import SECTOR_SIZE, Lba, Sectors

TIMEOUT = 120
MTIME = 1_234_567_890
ATIME = 1_300_000_000
TYPE_BITS = {Kind.DIR: stat.S_IFDIR, Kind.FILE: stat.S_IFREG, Kind.SYMLINK: stat.S_IFLNK}
NAMES = ["日本語.txt", "Ελληνικά", "Ünïcode name.TXT", "plain.txt", "noext", "Mixed Case.Doc"]


def run(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, check=False)
    assert res.returncode == 0, f"{cmd}: {res.stderr[-2000:]!r}"
    return res


def make_source(root: Path, *, deep: bool = True, symlinks: bool = True) -> None:
    (root / "sub" / "inner").mkdir(parents=True)
    (root / "empty dir").mkdir()
    for i, name in enumerate(NAMES):
        (root / "sub" / name).write_bytes(os.urandom(1 + 1500 * i))
    (root / "sub" / "inner" / "big.bin").write_bytes(os.urandom(200_000))
    (root / "empty").write_bytes(b"")
    (root / "sub" / "private.txt").write_bytes(b"p")
    (root / "sub" / "private.txt").chmod(0o600)
    if symlinks:
        os.symlink("sub/plain.txt", root / "link")
        os.symlink("/an/absolute/target", root / "sub" / "abs")
    if deep:
        d = root.joinpath(*(f"d{i}" for i in range(10)))
        d.mkdir(parents=True)
        (d / "deep.txt").write_bytes(b"deep\n")
    for p in [*root.rglob("*"), root]:
        os.utime(p, ns=(ATIME * 10**9, MTIME * 10**9), follow_symlinks=False)


def source_tree(root: Path) -> dict[tuple[bytes, ...], os.stat_result]:
    return {
        tuple(os.fsencode(x) for x in p.relative_to(root).parts): p.lstat() for p in root.rglob("*")
    }


def read_extents(fp: BinaryIO, e: DiscEntry) -> bytes:
    out = b""
    for lba, length in e.extents:
        fp.seek(lba * SECTOR_SIZE)
        out += fp.read(length)
    return out


def check_against(
    root: Path, image: Path, start: int = 0, *, rr: bool = True, names: bool = True
) -> DiscEntry:
    """Read the session at ``start`` and compare it with the source tree."""
    want = source_tree(root)
    with image.open("rb") as fp:
        tree = read_session(fp, Lba(start))
        got = dict(walk(tree))
        if names:
            assert set(got) == set(want)
        for path, e in got.items():
            st = want[path] if names else None
            assert stat.S_IFMT(e.mode) == TYPE_BITS[e.kind], path
            if e.kind is Kind.FILE:
                data = read_extents(fp, e)
                assert len(data) == e.size
                if st is not None:
                    assert data == root.joinpath(*map(os.fsdecode, path)).read_bytes(), path
            if st is None:
                continue
            assert stat.S_IFMT(st.st_mode) == stat.S_IFMT(e.mode), path
            if rr:
                assert stat.S_IMODE(e.mode) == stat.S_IMODE(st.st_mode), path
                assert e.mtime_ns // 10**9 == MTIME, path
            else:
                assert stat.S_IMODE(e.mode) == (0o555 if e.kind is Kind.DIR else 0o444)
                assert e.mtime_ns == e.atime_ns == e.ctime_ns
            if e.kind is Kind.SYMLINK:
                assert e.target == os.fsencode(os.readlink(root.joinpath(*map(os.fsdecode, path))))
                assert e.size == len(e.target)
    return tree


# -- images made by other tools ----------------------------------------------------


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    make_source(root)
    return root


def test_genisoimage_rock_ridge_and_joliet(src: Path, tmp_path: Path) -> None:
    image = tmp_path / "rj.iso"
    run(["genisoimage", "-quiet", "-J", "-R", "-o", str(image), str(src)])
    tree = check_against(src, image)
    assert tree.mode == stat.S_IFDIR | stat.S_IMODE(src.stat().st_mode)  # from the root's "."
    assert tree.mtime_ns // 10**9 == MTIME
    assert tree.children[b"sub"].children[b"private.txt"].mode == stat.S_IFREG | 0o600
    deep = tree
    for i in range(10):
        deep = deep.children[f"d{i}".encode()]
    assert set(deep.children) == {b"deep.txt"}  # relocation undone, rr_moved hidden
    with image.open("rb") as fp:
        genisoimage_atime = read_session(fp, Lba(0)).children[b"empty"].atime_ns
    assert genisoimage_atime // 10**9 == ATIME  # TF ACCESS is not MODIFY


def test_xorriso_rock_ridge_and_joliet(src: Path, tmp_path: Path) -> None:
    image = tmp_path / "x.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-J", "-R", "-o", str(image), str(src)])
    tree = check_against(src, image)
    assert tree.children[b"link"].target == b"sub/plain.txt"
    assert tree.children[b"sub"].children[b"abs"].target == b"/an/absolute/target"


def test_joliet_only_as_windows_wrote_it(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    make_source(root, deep=False, symlinks=False)
    image = tmp_path / "j.iso"
    run(["genisoimage", "-quiet", "-J", "-o", str(image), str(root)])
    tree = check_against(root, image, rr=False)
    sub = tree.children[b"sub"]
    assert "日本語.txt".encode() in sub.children
    assert sub.children[b"Mixed Case.Doc"].mtime_ns // 10**9 == MTIME
    assert sub.children[b"private.txt"].mode == stat.S_IFREG | 0o444
    assert sub.nlink == 3  # "." + entry in parent + "inner"


def test_plain_iso9660(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    make_source(root, deep=False, symlinks=False)
    image = tmp_path / "p.iso"
    run(["genisoimage", "-quiet", "-o", str(image), str(root)])
    tree = check_against(root, image, rr=False, names=False)
    listing = run(["isoinfo", "-i", str(image), "-f"]).stdout.decode().split()
    want = {p.split(";")[0].rstrip(".").lstrip("/") for p in listing}
    assert {b"/".join(p).decode() for p, _e in walk(tree)} == want
    assert b"NOEXT" in tree.children[b"SUB"].children  # "NOEXT.;1": version and dot gone
    assert tree.children[b"SUB"].children[b"PLAIN.TXT"].size == 1 + 1500 * 3


def _fields(e: DiscEntry) -> tuple[object, ...]:
    return (e.name, e.kind, e.mode, e.uid, e.gid, e.nlink, e.size, e.mtime_ns, e.atime_ns,
            e.ctime_ns, e.extents, e.target, sorted(e.children), e.serial)  # fmt: skip


def _cdfs_image(tmp_path: Path) -> Path:
    """A cdfs session with what plain files are not: hard links, names
    that go on into continuation areas, symlinks, a kept file of several
    extents, deep (relocated) directories, an empty file."""
    data = tmp_path / "data"
    data.write_bytes(os.urandom(5000))
    long = "é" * 120
    deep = tuple(f"d{i}".encode() for i in range(10))
    entries = [MasterEntry(deep[: i + 1], Kind.DIR, 0o755, 1, 2, MTIME * 10**9, 0)
               for i in range(len(deep))]  # fmt: skip
    for name, link in ((b"a", 1), (b"b", 1), (long.encode(), 0), (b"plain", 0)):
        entries.append(MasterEntry((name,), Kind.FILE, 0o640, 3, 4, MTIME * 10**9,
                                   ATIME * 10**9, 5000, data, link=link))  # fmt: skip
    big = 2 * MAX_EXTENT + 10
    extents = ((100_000, MAX_EXTENT), (200_000 + MAX_EXTENT // SECTOR_SIZE, MAX_EXTENT),
               (900_000_000 // SECTOR_SIZE, 10))  # fmt: skip
    entries += [
        MasterEntry((b"kept",), Kind.FILE, 0o644, 0, 0, 0, 0, big, extents=extents),
        MasterEntry((b"empty",), Kind.FILE, 0o600, 0, 0, 0, 0),
        MasterEntry((b"sym",), Kind.SYMLINK, 0o777, 0, 0, 0, 0, target=b"a/" * 100),
        MasterEntry((*deep, b"deep.txt"), Kind.FILE, 0o644, 0, 0, 0, 0, 5000, data),
    ]
    image = tmp_path / "c.iso"
    master_session(entries, image, start=Lba(0), label="quick")
    return image


@pytest.mark.parametrize("maker", ["genisoimage", "xorriso", "cdfs"])
def test_plain_files_made_at_once_are_those_of_the_general_path(
    maker: str, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader makes most files' entries straight from their records
    (``discread.QUICK``); every field of every entry is what the general
    path makes of the same records."""
    if maker == "cdfs":
        image = _cdfs_image(tmp_path)
    else:
        image = tmp_path / "i.iso"
        tool = [maker, *(["-as", "mkisofs"] if maker == "xorriso" else [])]
        run([*tool, "-quiet", "-J", "-R", "-o", str(image), str(src)])
    trees = []
    for quick in (True, False):
        monkeypatch.setattr(discread, "QUICK", quick)
        with image.open("rb") as fp:
            trees.append({p: _fields(e) for p, e in walk(read_session(fp, Lba(0)))})
    assert trees[0] == trees[1]
    assert len(trees[0]) > 10


def _append_session(tool: str, first: Path, extra: Path, out: Path, nwa: int) -> None:
    cmd = [tool] + (["-as", "mkisofs"] if tool == "xorriso" else [])
    run([*cmd, "-quiet", "-R", "-J", "-C", f"0,{nwa}", "-M", str(first), "-o", str(out),
         str(extra)])  # fmt: skip


@pytest.mark.parametrize("tool", ["xorriso", "genisoimage"])
def test_multisession_made_with_C_and_M(tool: str, src: Path, tmp_path: Path) -> None:
    disc = tmp_path / "disc.img"
    run([tool, *(["-as", "mkisofs"] if tool == "xorriso" else []), "-quiet", "-R", "-J",
         "-o", str(disc), str(src)])  # fmt: skip
    n1 = disc.stat().st_size // SECTOR_SIZE
    nwa = n1 + 11_400
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "second.txt").write_bytes(b"from session two\n")
    os.utime(extra / "second.txt", ns=(ATIME * 10**9, MTIME * 10**9))
    session2 = tmp_path / "s2.iso"
    _append_session(tool, disc, extra, session2, nwa)
    with disc.open("r+b") as f:
        f.seek(nwa * SECTOR_SIZE)
        f.write(session2.read_bytes())

    with disc.open("rb") as fp:
        last = read_session(fp, Lba(nwa))
        first = read_session(fp, Lba(0))
        assert b"second.txt" in last.children and b"second.txt" not in first.children
        new = last.children[b"second.txt"]
        assert new.extents[0][0] >= nwa + 16
        assert read_extents(fp, new) == b"from session two\n"
        old = last.children[b"sub"].children[b"inner"].children[b"big.bin"]
        assert old.extents[0][0] < n1
        assert read_extents(fp, old) == (src / "sub" / "inner" / "big.bin").read_bytes()
        info = DiscInfo(
            media_type("cd-r80"),
            DiscState.APPENDABLE,
            (Session(Lba(0), Sectors(n1)), Session(Lba(nwa), Sectors(100))),
        )
        via_tree = read_tree(fp, info)
    assert via_tree is not None and b"second.txt" in via_tree.children
    (src / "second.txt").write_bytes(b"from session two\n")
    os.utime(src / "second.txt", ns=(ATIME * 10**9, MTIME * 10**9))
    check_against(src, disc, nwa)


# -- what cdfs masters reads back exactly ------------------------------------------


def test_round_trip_of_cdfs_sessions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(os.urandom(10_000))
    long = "ü" * 127  # 254 bytes
    deep: tuple[bytes, ...] = ()
    entries = []
    for i in range(12):
        deep = (*deep, f"level {i}".encode())
        entries.append(MasterEntry(deep, Kind.DIR, 0o750, 10, 20, (MTIME + i) * 10**9, 0))
    entries += [
        MasterEntry((*deep, long.encode()), Kind.FILE, 0o640, 1234, 5678, 315_532_800 * 10**9,
                    2_200_000_000 * 10**9, 10_000, data),
        MasterEntry((b"empty",), Kind.FILE, 0o600, 1, 2, 3 * 10**9, 4 * 10**9),
        MasterEntry((b"rr_moved",), Kind.DIR, 0o700, 0, 0, 0, 0),  # a user's, stays visible
        MasterEntry((b"sym",), Kind.SYMLINK, 0o777, 7, 8, 2**31 * 10**9, 2**31 * 10**9,
                    target=b"../x/./y"),
    ]  # fmt: skip
    image = tmp_path / "s.iso"
    master_session(entries, image, start=Lba(0), label="round trip")
    with image.open("rb") as fp:
        got = dict(walk(read_session(fp, Lba(0))))
        assert read_extents(fp, got[(*deep, long.encode())]) == data.read_bytes()
    assert list(got) == sorted(got)  # parents first, siblings sorted
    assert set(got) == {e.path for e in entries}
    for e in entries:
        d = got[e.path]
        assert (d.kind, d.mode, d.uid, d.gid) == (e.kind, e.st_mode, e.uid, e.gid), e.path
        assert d.mtime_ns == e.mtime_ns // 10**9 * 10**9, e.path
        if e.kind is not Kind.DIR:
            assert d.atime_ns == e.atime_ns // 10**9 * 10**9, e.path
        assert d.target == e.target
        if e.kind is Kind.FILE:
            assert d.size == e.size
    assert got[deep[:1]].nlink == 3


# -- refusals ------------------------------------------------------------------------


def _garbage(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_garbage_is_an_invalid_image(tmp_path: Path) -> None:
    good = tmp_path / "good.iso"
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    master_session(
        [MasterEntry((b"d",), Kind.DIR, 0o755, 0, 0, 0, 0),
         MasterEntry((b"d", b"f"), Kind.FILE, 0o644, 0, 0, 0, 0, 5, src)],
        good, start=Lba(0), label="good",
    )  # fmt: skip
    image = good.read_bytes()
    root_lba = int.from_bytes(image[16 * SECTOR_SIZE + 158 : 16 * SECTOR_SIZE + 162], "little")
    root = root_lba * SECTOR_SIZE
    broken_dir = bytearray(image)
    broken_dir[root] = 5  # a directory record shorter than its fixed part
    loop = bytearray(image)
    pos = root + loop[root] + loop[root + loop[root]]  # skip "." and ".."
    assert loop[pos + 33 : pos + 34] == b"D"
    loop[pos + 2 : pos + 6] = root_lba.to_bytes(4, "little")  # "d" is the root again
    cases = {
        "random": (os.urandom(100 * SECTOR_SIZE), "no ISO 9660 volume descriptor"),
        "zeros": (bytes(100 * SECTOR_SIZE), "no ISO 9660 volume descriptor"),
        "short": (image[: 16 * SECTOR_SIZE + 10], "no ISO 9660 volume descriptor"),
        "truncated": (image[: 20 * SECTOR_SIZE], "beyond the disc"),
        "broken dir": (bytes(broken_dir), "damaged"),
        "loop": (bytes(loop), "loop"),
    }
    for name, (data, message) in cases.items():
        with (
            _garbage(tmp_path, name, data).open("rb") as fp,
            pytest.raises(InvalidImageError, match=message),
        ):
            read_session(fp, Lba(0))
    with good.open("rb") as fp:
        with pytest.raises(InvalidImageError, match="sector 5016"):
            read_session(fp, Lba(5000))  # beyond the end
        assert read_session(fp, Lba(0)).children[b"d"].children[b"f"].size == 5


def test_read_tree_of_a_blank_disc_is_none(tmp_path: Path) -> None:
    info = DiscInfo(media_type("cd-r80"), DiscState.BLANK)
    with (tmp_path / "blank").open("w+b") as fp:
        assert read_tree(fp, info) is None


def test_walk_yields_parents_before_children() -> None:
    def leaf(name: bytes) -> DiscEntry:
        return DiscEntry(name, Kind.FILE, stat.S_IFREG | 0o444, 0, 0, 1, 0, 0, 0, 0, ())

    inner = DiscEntry(b"b", Kind.DIR, stat.S_IFDIR | 0o555, 0, 0, 2, 2048, 0, 0, 0, (),
                      children={b"z": leaf(b"z"), b"c": leaf(b"c")})  # fmt: skip
    root = DiscEntry(b"", Kind.DIR, stat.S_IFDIR | 0o555, 0, 0, 3, 2048, 0, 0, 0, (),
                     children={b"b": inner, b"a": leaf(b"a")})  # fmt: skip
    assert [p for p, _e in walk(root)] == [(b"a",), (b"b",), (b"b", b"c"), (b"b", b"z")]
    assert discread.Kind is Kind


# -- scale ---------------------------------------------------------------------------


@pytest.mark.soak
def test_50k_files_made_by_xorriso(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for d in range(50):
        (root / f"dir{d:02}").mkdir(parents=True)
        for i in range(1000):
            (root / f"dir{d:02}" / f"file with a longer name {i:05}.txt").write_bytes(b"x")
    image = tmp_path / "many.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-J", "-R", "-o", str(image), str(root)])
    t0 = time.perf_counter()
    with image.open("rb") as fp:
        tree = read_session(fp, Lba(0))
    elapsed = time.perf_counter() - t0
    assert sum(1 for _ in walk(tree)) == 50_050
    assert elapsed < 30, elapsed


def test_a_session_cut_short_is_passed_over_for_the_one_before(tmp_path: Path) -> None:
    """A recording that failed at a sector leaves a session (libburn closes
    it) whose tree points beyond what was written: the disc shows the newest
    session that reads whole, and names the damaged one (issue 14)."""
    src = tmp_path / "f"
    src.write_bytes(b"hello")
    images = []
    for n, start in enumerate((0, 1000)):
        image = tmp_path / f"s{n}.iso"
        entries = [MasterEntry((f"f{n}".encode(),), Kind.FILE, 0o644, 0, 0, 0, 0, 5, src)]
        master_session(entries, image, start=Lba(start), label=f"s{n}")
        images.append(image.read_bytes())
    cut = 17  # the volume descriptors, not the tree after them
    disc = tmp_path / "disc.img"
    disc.write_bytes(images[0].ljust(1000 * SECTOR_SIZE, b"\0") + images[1][: cut * SECTOR_SIZE])
    first = Session(Lba(0), Sectors(len(images[0]) // SECTOR_SIZE))
    info = DiscInfo(
        media_type("cd-r80"), DiscState.APPENDABLE, (first, Session(Lba(1000), Sectors(cut)))
    )
    with disc.open("rb") as fp:
        shown = disccontents.read_contents(fp, info)
        assert shown.root is not None and set(shown.root.children) == {b"f0"}
        assert shown.session == first and [s.start for s, _ in shown.damaged] == [1000]
        assert "the disc has a damaged session" in shown.problem
        assert "beyond the written area" in shown.problem
        assert read_tree(fp, info) is not None
        none = disccontents.read_contents(fp, DiscInfo(info.media, info.state, info.sessions[1:]))
        assert none.root is None and none.session is None and len(none.damaged) == 1
        assert "no session of it reads whole" in none.problem
    disc.write_bytes(images[0].ljust(1000 * SECTOR_SIZE, b"\0") + images[1])
    with disc.open("rb") as fp:
        # A tree that reaches past the end of the last session is damaged
        # even where the image (or a drive) has data there.
        assert disccontents.read_contents(fp, info).damaged
        full = Session(Lba(1000), Sectors(len(images[1]) // SECTOR_SIZE))
        ok = disccontents.read_contents(fp, DiscInfo(info.media, info.state, (first, full)))
        assert ok.root is not None and set(ok.root.children) == {b"f1"}
        assert ok.session == full and not ok.damaged and ok.problem == ""
        # Cut after its tree, before its file's data: damaged all the same.
        data_at = ok.root.children[b"f1"].extents[0][0]
        assert data_at < full.end
        tree_only = Session(Lba(1000), Sectors(data_at - 1000))
        cut_data = disccontents.read_contents(
            fp, DiscInfo(info.media, info.state, (first, tree_only))
        )
        assert cut_data.session == first and "puts the data of 'f1'" in cut_data.problem
