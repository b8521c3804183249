"""Multisession discs end to end, every session read back by three readers.

Sessions are burned through real mounts on emulated CD-R, DVD+R and BD-R;
after each burn every session of the disc is read by xorriso (``-load
sbsector``), by isoinfo (``-T``) and by cdfs itself (the mount's view and
:func:`cdfs.iso.discread.read_session`), and must hold exactly the tree that was
live when it was burned.  Later sessions must hold new data and metadata
only.  Discs begun by genisoimage and xorriso (also Joliet-only ones, as
Windows XP wrote them) are appended to by cdfs, and cdfs discs by them.
The rewrite of a whole disc into one session (``master_session(copy_from=)``)
and the pycdlib pin are checked here too.
"""

from __future__ import annotations

import errno
import importlib.metadata
import io
import itertools
import json
import os
import random
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pycdlib
import pytest

from cdfs.errors import CdfsError
from cdfs.iso import discread
from cdfs.iso.mastering import Kind, MasterEntry, estimate_sectors, master_session
from cdfs.recorders.emulated import EmulatedRecorder
from cdfs.recorders.knobs import Faults
from cdfs.recorders.media import RECORDER_PADDING, SESSION_PADDING, media_type
from cdfs.units import SECTOR_SIZE, Lba, sectors_for

from conftest import cdfs

TIMEOUT = 120

Tree = dict[str, tuple[str, bytes]]
"""Relative path -> ("file", data) | ("link", target) | ("dir", b"")."""
Meta = dict[str, tuple[int, int]]
"""Relative path of a regular file -> (permission bits, mtime in seconds)."""


def run(cmd: list[str] | list[bytes], *, timeout: float = TIMEOUT) -> bytes:
    """Run a command, fail the test unless it succeeds; its stdout."""
    res = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}): {res.stderr[-2000:]!r}")
    return res.stdout


# -- trees as the readers see them ----------------------------------------------------


def local_tree(root: Path) -> Tree:
    """A directory tree (a mount, an extraction) with contents and targets."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                out[rel] = ("link", os.fsencode(os.readlink(p)))
            elif stat.S_ISDIR(mode):
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("file", p.read_bytes())
    return out


def local_meta(root: Path) -> Meta:
    out: Meta = {}
    for p in root.rglob("*"):
        st = p.lstat()
        if stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = (stat.S_IMODE(st.st_mode), int(st.st_mtime))
    return out


def shape(tree: Tree) -> dict[str, tuple[str, int | bytes]]:
    """A tree without file contents: kinds, sizes and symlink targets."""
    return {p: (k, len(v) if k == "file" else v) for p, (k, v) in tree.items()}


def xorriso_extract(disc: Path, start: int, dest: Path) -> tuple[Tree, Meta]:
    """The session at ``start`` as ``xorriso -extract`` restores it."""
    run(["xorriso", "-osirrox", "on", "-load", "sbsector", str(start),
         "-indev", f"stdio:{disc}", "-extract", "/", str(dest)])  # fmt: skip
    try:
        return local_tree(dest), local_meta(dest)
    finally:
        shutil.rmtree(dest)


def xorriso_tree(disc: Path, start: int, dest: Path) -> Tree:
    return xorriso_extract(disc, start, dest)[0]


ISOINFO_LINE = re.compile(
    rb"^(\S)\S{9}\s+\d+\s+\d+\s+\d+\s+(\d+)\s+"  # type, links, uid, gid, size
    rb"\w{3}\s+\d+\s+\d{4}\s+\[\s*(\d+)\s+\d+\]\s\s(.*?) ?$"  # date, [lba flags], name
)


@dataclass(frozen=True)
class Listed:
    kind: str
    size: int
    lba: int
    target: bytes


def _isoinfo_name(name: str, tree: str) -> bytes:
    # isoinfo shows Joliet names in ISO 8859-1 (it knows no UTF-8 for -j).
    return name.encode("latin-1") if tree == "-J" else os.fsencode(name)


def isoinfo_listing(disc: Path, start: int, tree: str = "-R") -> dict[str, Listed]:
    """``isoinfo -i DISC -T START -R -l`` (or ``-J``): path -> what it says."""
    text = run(["isoinfo", "-i", str(disc), "-T", str(start), tree, "-l"])
    out: dict[str, Listed] = {}
    where = b""
    for line in text.splitlines():
        if line.startswith(b"Directory listing of /"):
            where = line[len(b"Directory listing of /") :]
            continue
        m = ISOINFO_LINE.match(line)
        if not m or m[4] in (b".", b".."):
            continue
        name, _arrow, target = m[4].partition(b" -> ")
        kind = {b"d": "dir", b"l": "link"}.get(m[1], "file")
        path = (where + name).decode("latin-1") if tree == "-J" else os.fsdecode(where + name)
        out[path] = Listed(kind, int(m[2]), int(m[3]), target)
    return out


def isoinfo_shape(listing: dict[str, Listed]) -> dict[str, tuple[str, int | bytes]]:
    return {
        p: (e.kind, e.size if e.kind == "file" else e.target if e.kind == "link" else b"")
        for p, e in listing.items()
    }


def isoinfo_read(disc: Path, start: int, path: str, tree: str = "-R") -> bytes:
    where = b"/" + _isoinfo_name(path, tree)
    return run([b"isoinfo", b"-i", bytes(disc), b"-T", b"%d" % start, tree.encode(), b"-x", where])


def read_extents(fp: BinaryIO, e: discread.DiscEntry) -> bytes:
    parts = []
    for lba, length in e.extents:
        fp.seek(lba * SECTOR_SIZE)
        parts.append(fp.read(length))
    return b"".join(parts)


def cdfs_read(disc: Path, start: int) -> tuple[Tree, Meta]:
    """The session at ``start`` as cdfs's own reader sees it."""
    out: Tree = {}
    meta: Meta = {}
    with disc.open("rb") as fp:
        for path, e in discread.walk(discread.read_session(fp, Lba(start))):
            rel = os.fsdecode(b"/".join(path))
            if e.kind is Kind.FILE:
                out[rel] = ("file", read_extents(fp, e))
                meta[rel] = (stat.S_IMODE(e.mode), e.mtime_ns // 10**9)
            else:
                out[rel] = ("link", e.target) if e.kind is Kind.SYMLINK else ("dir", b"")
    return out, meta


def cdfs_tree(disc: Path, start: int) -> Tree:
    return cdfs_read(disc, start)[0]


def sessions_of(disc: Path, env: dict[str, str]) -> list[tuple[int, int]]:
    """(start, length) of every session, from ``cdfs media info --json``."""
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return [(s["start"], s["length"]) for s in info["sessions"]]


def media_info(disc: Path, env: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return data


def new_data_sectors(before: Tree, after: Tree) -> int:
    """Sectors of file data that a session with ``after`` must hold anew."""
    return sum(
        sectors_for(len(v))
        for p, (k, v) in after.items()
        if k == "file" and before.get(p) != (k, v)
    )


def metadata_allowance(tree: Tree) -> int:
    """Generous room for a session's metadata: system area and descriptors,
    two sectors per entry (ISO + Joliet records, Rock Ridge continuation),
    path tables.  Far below any re-recording of the data."""
    return 32 + 2 * len(tree)


# -- a disc and the trees its sessions should hold ---------------------------------------


@dataclass
class History:
    """A disc and, per session, the tree that was live when it was burned."""

    disc: Path
    env: dict[str, str]
    work: Path
    states: list[Tree] = field(default_factory=list)
    metas: list[Meta] = field(default_factory=list)
    """Per session, if known: modes and mtimes of its files."""
    lbas: list[dict[str, int]] = field(default_factory=list)
    """Per session: where isoinfo saw each file when it was new (must not move)."""

    def check(self, *, deep: bool = True) -> list[tuple[int, int]]:
        """Read every session with xorriso, isoinfo and cdfs; ``deep``: also
        extract every file of the newest session with ``isoinfo -x``."""
        sessions = sessions_of(self.disc, self.env)
        assert len(sessions) == len(self.states)
        for j, ((start, _length), want) in enumerate(zip(sessions, self.states, strict=True)):
            where = f"session {j + 1} at {start}"
            dest = self.work / f"x-{len(sessions)}-{j}"
            extracted, meta = xorriso_extract(self.disc, start, dest)
            assert extracted == want, where
            ours, our_meta = cdfs_read(self.disc, start)
            assert ours == want, where
            if j < len(self.metas):
                assert meta == our_meta == self.metas[j], where
            listing = isoinfo_listing(self.disc, start)
            assert isoinfo_shape(listing) == shape(want), where
            lbas = {p: e.lba for p, e in listing.items() if e.kind == "file" and e.size}
            if j == len(self.lbas):
                self.lbas.append(lbas)
                if deep:
                    for p, (kind, data) in want.items():
                        if kind == "file":
                            assert isoinfo_read(self.disc, start, p) == data, (where, p)
            assert lbas == self.lbas[j], f"{where}: files moved"
        for (s0, n0), (s1, _n1) in itertools.pairwise(sessions):
            assert s1 >= s0 + n0, f"session at {s1} overlaps the one at {s0}"
        return sessions

    def check_sizes(self) -> None:
        """Each later session holds its new data and metadata only, and kept
        files point into earlier sessions."""
        sessions = sessions_of(self.disc, self.env)
        for j in range(1, len(sessions)):
            (start, length), before, after = sessions[j], self.states[j - 1], self.states[j]
            fresh = new_data_sectors(before, after)
            # The recorder's padding after the image is part of the session.
            bound = fresh + SESSION_PADDING + RECORDER_PADDING + metadata_allowance(after)
            assert length <= bound, f"session {j + 1}: {length} sectors > {bound}"
            kept = [p for p, v in after.items() if v[0] == "file" and before.get(p) == v]
            for p in kept:
                if p in self.lbas[j]:
                    assert self.lbas[j][p] < start, f"{p} was recorded again in session {j + 1}"


def stage_session(root: Path, k: int) -> None:
    """What burn ``k`` (1-based) adds: in session 1 a large file, a
    directory, an empty file and a symlink; in every session a new
    directory with a file, and a new file inside the burned ``docs``.
    Every file gets a fixed mtime and one of a few modes."""
    rng = random.Random(k)
    files: dict[Path, bytes] = {}
    if k == 1:
        (root / "docs").mkdir()
        files[root / "docs" / "readme.txt"] = b"read me\n"
        files[root / "big.bin"] = rng.randbytes(1_500_000)
        files[root / "empty"] = b""
        os.symlink("docs/readme.txt", root / "link")
    (root / f"s{k:02d}").mkdir()
    files[root / f"s{k:02d}" / f"data {k}.bin"] = rng.randbytes(1000 * k + 17)
    files[root / "docs" / f"Ünïcödé note {k}.txt"] = f"note {k}\n".encode() * k
    for i, (path, data) in enumerate(files.items()):
        path.write_bytes(data)
        path.chmod((0o644, 0o600, 0o640, 0o755)[(k + i) % 4])
        os.utime(path, (1_500_000_000, 1_000_000_000 + k * 86_400 + i))


# -- sessions burned through the mount -----------------------------------------------


def touch_burn(m: Any, timeout: float = 120) -> dict[str, Any]:
    """Start a burn by touching ``.burn`` and wait for its result, polling
    the status attribute (what ``cdfs burn --wait`` does, without a process
    and its 0.2 s poll per burn)."""
    ticket = m.request((m.path / ".burn").write_bytes, b"")
    result: dict[str, Any] = m.wait_for_burn(ticket, timeout)
    return result


@pytest.mark.parametrize("media", ["cd-r80", "dvd+r", "bd-r"])
def test_ten_sessions_each_read_back_after_every_burn(
    media: str, tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    """After the 1st, 2nd ... 10th burn, every session so far holds the tree
    that was live when it was burned, for xorriso, isoinfo and cdfs."""
    disc = make_disc(media)
    m = mount(disc, "--no-burn-on-unmount")
    ref = tmp_path / "ref"
    ref.mkdir()
    h = History(disc, home, tmp_path)
    for k in range(1, 11):
        stage_session(m.path, k)
        stage_session(ref, k)
        m.burn()
        want = local_tree(ref)
        assert local_tree(m.path) == want, f"mount after burn {k}"
        # Burned files of write-once media show no write bits; the disc
        # keeps their modes (h.check reads them back).
        shown = {p: (mode & ~0o222, t) for p, (mode, t) in local_meta(ref).items()}
        assert local_meta(m.path) == shown, f"mount after burn {k}"
        assert os.getxattr(m.path / f"s{k:02d}", "user.cdfs.state") == b"disc"
        h.states.append(want)
        h.metas.append(local_meta(ref))
        sessions = h.check()
        h.check_sizes()
        assert len(sessions) == k
        if k > 1:  # far from holding big.bin (733 sectors) again
            assert sessions[-1][1] < SESSION_PADDING + RECORDER_PADDING + 100
    # The geometry of the medium: where each later session starts.
    kind = media_type(media)
    for j, ((s0, n0), (s1, _)) in enumerate(itertools.pairwise(sessions)):
        gap = kind.first_gap if j == 0 else kind.later_gap
        assert s1 >= s0 + n0 + kind.run_out + gap
    assert list(m.staged().iterdir()) == []


# A BD-R now takes 300 sessions (issue 13): its limit is tested on the emulated
# recorder in test_emulated.py, without 300 burns through a mount.
@pytest.mark.parametrize("media", ["dvd+r"])
def test_99_sessions_then_the_100th_is_refused(
    media: str, tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc(media)
    m = mount(disc, "--no-burn-on-unmount")
    h = History(disc, home, tmp_path)
    tree: Tree = {}
    for k in range(1, 100):
        name, data = f"n{k:03d}.txt", f"session {k}\n".encode()
        (m.path / name).write_bytes(data)
        assert touch_burn(m)["ok"], k
        tree = {**tree, name: ("file", data)}
        h.states.append(tree)
        assert os.getxattr(m.path / name, "user.cdfs.state") == b"disc"
    assert local_tree(m.path) == tree
    assert len(h.check(deep=False)) == 99
    h.check_sizes()
    last_start = sessions_of(disc, home)[-1][0]
    for name, (_kind, data) in tree.items():  # every byte of the last session
        assert isoinfo_read(disc, last_start, name) == data

    # No 100th session: nothing free, and staging takes nothing more (it
    # took the file until issue 11; the burn then refused it).
    assert m.status()["free_bytes"] == m.status()["available_bytes"] == 0
    assert os.statvfs(m.path).f_bavail == 0
    with pytest.raises(OSError) as exc:
        (m.path / "one too many.txt").write_bytes(b"keep me\n")
    assert exc.value.errno == errno.ENOSPC
    assert not (m.path / "one too many.txt").exists()
    assert list(m.staged().iterdir()) == []
    info = media_info(disc, home)
    assert len(info["sessions"]) == 99 and info["free_bytes"] == 0


def fill_until_enospc(path: Path, rng: random.Random) -> bytes:
    """Write ``path`` in 64 KiB pieces until the mount says ENOSPC; what
    was written (and stays staged)."""
    written = bytearray()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        while True:
            piece = rng.randbytes(1 << 16)
            try:
                assert os.write(fd, piece) == len(piece)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
            written += piece
    finally:
        os.close(fd)
    return bytes(written)


def test_cd_r_fills_up_then_refuses(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    """On a CD-R every session costs 11,400 then 6,900 sectors of lead-in,
    lead-out and pre-gap: the disc is full long before 99 sessions.  The
    last session that fits is filled up to what ``df`` allows, and burns;
    then staging takes nothing more (until issue 11 it took a file that the
    burn then refused)."""
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    want: Tree = {}
    h = History(disc, home, tmp_path)
    filled = b""
    for k in range(1, 100):
        st = os.statvfs(m.path)
        avail = st.f_bavail * st.f_frsize
        if not filled and avail < 8 << 20:
            filled = fill_until_enospc(m.path / "fill.bin", random.Random(k))
            assert avail - (1 << 16) - 2 * SECTOR_SIZE <= len(filled) <= avail, avail
            name, data = "fill.bin", filled
        else:
            name, data = f"n{k:03d}.txt", b"x" * k
            try:
                (m.path / name).write_bytes(data)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC and avail == 0, (exc, avail)
                break
        assert touch_burn(m)["ok"], f"{name}: what staging took did not burn"
        want = {**want, name: ("file", data)}
        h.states.append(want)
    assert filled and name != "fill.bin", "the disc never filled up"
    assert not (m.path / name).exists() and list(m.staged().iterdir()) == []
    assert m.status()["free_bytes"] == 0
    sessions = sessions_of(disc, home)
    assert 40 <= len(sessions) < 99
    # Orange Book layout, and the refusal is right: not even an empty
    # session (padding, descriptors, the recorder's padding and run-out)
    # fits after the last one.
    for j, ((s0, n0), (s1, _)) in enumerate(itertools.pairwise(sessions)):
        assert s1 == s0 + n0 + 2 + (11_400 if j == 0 else 6_900)
    end = sessions[-1][0] + sessions[-1][1]
    assert end + 2 <= 360_000
    assert end + 2 + 6_900 + SESSION_PADDING + 20 + RECORDER_PADDING + 2 > 360_000
    h.check(deep=False)
    assert isoinfo_read(disc, sessions[-1][0], "fill.bin") == filled


def test_a_file_of_the_size_df_shows_fits(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc("cd-r74"), "--no-burn-on-unmount")
    for n in range(4):
        st = os.statvfs(m.path)
        avail = st.f_bavail * st.f_frsize
        fd = os.open(m.path / "big.bin", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(fd, avail)
        finally:
            os.close(fd)
            os.unlink(m.path / "big.bin")
        (m.path / f"small {n}.txt").write_bytes(b"x")


# -- discs begun or continued by other tools ---------------------------------------------


def mkisofs(tool: str) -> list[str]:
    return ["xorriso", "-as", "mkisofs"] if tool == "xorriso" else ["genisoimage"]


def tool_session(
    tool: str, disc: Path, src: Path, out: Path, *, rock: bool = True
) -> EmulatedRecorder:
    """Master ``src`` with ``tool`` as the next session of ``disc`` (``-C
    last_start,nwa -M DISC`` when the disc is not blank) and record it."""
    rec = EmulatedRecorder(disc, faults=Faults())
    info = rec.disc_info()
    nwa = info.nwa
    assert nwa is not None
    more = ["-C", f"{info.sessions[-1].start},{nwa}", "-M", str(disc)] if info.sessions else []
    run([*mkisofs(tool), "-quiet", "-J", *(["-R"] if rock else []), *more,
         "-o", str(out), str(src)])  # fmt: skip
    rec.record(out, Lba(nwa))
    return rec


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def files_of(files: dict[str, bytes]) -> Tree:
    """The tree of ``files`` (with their directories)."""
    out: Tree = {}
    for rel, data in files.items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            out["/".join(parts[:i])] = ("dir", b"")
        out[rel] = ("file", data)
    return out


FIRST = {
    "Mixed Case Name.txt": b"first session\n",
    "Ünïcödé café.txt": "café\n".encode(),
    "photos/holiday photo 1.jpg": random.Random(1).randbytes(200_000),
}
SECOND = {"photos/holiday photo 2.jpg": random.Random(2).randbytes(50_000), "new.txt": b"two\n"}
THIRD = {"photos/from cdfs.txt": b"cdfs was here\n", "cdfs.bin": random.Random(3).randbytes(9000)}


@pytest.mark.parametrize(
    ("tool", "rock", "begun"),
    [
        ("genisoimage", True, (FIRST, SECOND)),
        ("xorriso", True, (FIRST, SECOND)),
        # genisoimage -M cannot carry Joliet names over from a session
        # without Rock Ridge (it falls back to ISO 9660 names); Windows XP
        # could, so the XP-like disc has one Joliet-only session.
        ("genisoimage", False, (FIRST,)),
    ],
    ids=["genisoimage", "xorriso", "joliet-only-like-windows-xp"],
)
def test_cdfs_appends_to_a_disc_begun_by(
    tool: str,
    rock: bool,
    begun: tuple[dict[str, bytes], ...],
    tmp_path: Path,
    mount: Any,
    make_disc: Any,
    home: dict[str, str],
) -> None:
    disc = make_disc("cd-r80")
    for n, files in enumerate(begun):
        src = tmp_path / f"src{n}"
        write_files(src, files)
        tool_session(tool, disc, src, tmp_path / f"s{n}.iso", rock=rock)
    old_files = {k: v for files in begun for k, v in files.items()}
    before = files_of(old_files)
    m = mount(disc, "--no-burn-on-unmount")
    assert local_tree(m.path) == before  # the last session's tree
    assert os.getxattr(m.path / "Mixed Case Name.txt", "user.cdfs.state") == b"disc"
    write_files(m.path, THIRD)
    m.burn()
    want = files_of({**old_files, **THIRD})
    assert local_tree(m.path) == want
    sessions = sessions_of(disc, home)
    assert len(sessions) == len(begun) + 1
    start = sessions[-1][0]
    assert xorriso_tree(disc, start, tmp_path / "x") == want
    assert cdfs_tree(disc, start) == want
    listing = isoinfo_listing(disc, start)
    assert isoinfo_shape(listing) == shape(want)
    for p, (kind, data) in want.items():
        if kind == "file":
            assert isoinfo_read(disc, start, p) == data, p
            assert isoinfo_read(disc, start, p, "-J") == data, p
    # Only the new files were recorded again; the tool's files stay put.
    old = isoinfo_listing(disc, sessions[-2][0], "-J")
    for p in old_files:
        assert listing[p].lba == old[p].lba < start, p
    fresh = new_data_sectors(before, want)
    bound = fresh + SESSION_PADDING + RECORDER_PADDING + metadata_allowance(want)
    assert sessions[-1][1] <= bound


@pytest.mark.parametrize("tool", ["xorriso", "genisoimage"])
def test_other_tools_append_to_a_cdfs_disc(
    tool: str, tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    for files in (FIRST, SECOND):
        write_files(m.path, files)
        m.burn()
    assert m.stop() == 0
    extra = tmp_path / "extra"
    write_files(extra, THIRD)
    tool_session(tool, disc, extra, tmp_path / "s3.iso")
    want = files_of({**FIRST, **SECOND, **THIRD})
    sessions = sessions_of(disc, home)
    assert len(sessions) == 3
    start = sessions[-1][0]
    assert xorriso_tree(disc, start, tmp_path / "x") == want
    assert cdfs_tree(disc, start) == want
    assert isoinfo_shape(isoinfo_listing(disc, start)) == shape(want)
    for p in FIRST:
        assert isoinfo_read(disc, start, p) == FIRST[p]
    # cdfs mounts the tool's session and can go on appending.
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    assert local_tree(m2.path) == want
    (m2.path / "photos" / "fourth.txt").write_bytes(b"four\n")
    m2.burn()
    want["photos/fourth.txt"] = ("file", b"four\n")
    start4 = sessions_of(disc, home)[-1][0]
    assert xorriso_tree(disc, start4, tmp_path / "x4") == want
    assert cdfs_tree(disc, start4) == want


DEEP = "/".join(f"level {i}" for i in range(12))
"""Deeper than ISO 9660's 8 levels: Rock Ridge relocates it (RRIP 4.1.5)."""


def without_relocation(tree: Tree) -> Tree:
    """``tree`` without the directories that only held relocated ones
    (readers that follow the relocation leave them empty)."""
    moved = {"rr_moved", ".rr_moved"}
    return {p: v for p, v in tree.items() if p.split("/")[0] not in moved}


@pytest.mark.parametrize("tool", ["xorriso", "genisoimage"])
def test_other_tools_append_to_a_cdfs_disc_with_deep_directories(
    tool: str, tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    deep = {f"{DEEP}/bottom.txt": b"at the bottom\n", "top.txt": b"top\n", "empty": b""}
    write_files(m.path, deep)
    os.symlink("top.txt", m.path / DEEP / "link")
    m.burn()
    assert m.stop() == 0
    extra = tmp_path / "extra"
    write_files(extra, {"added.txt": b"added\n"})
    tool_session(tool, disc, extra, tmp_path / "s2.iso")
    want = files_of({**deep, "added.txt": b"added\n"})
    want[f"{DEEP}/link"] = ("link", b"top.txt")
    start = sessions_of(disc, home)[-1][0]
    assert without_relocation(xorriso_tree(disc, start, tmp_path / "x")) == want
    assert without_relocation(cdfs_tree(disc, start)) == want
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    assert without_relocation(local_tree(m2.path)) == want


@pytest.mark.parametrize("tool", ["xorriso", "genisoimage"])
def test_cdfs_appends_to_deep_directories_written_by(
    tool: str, tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    deep = {f"{DEEP}/bottom.txt": b"at the bottom\n", "top.txt": b"top\n"}
    src = tmp_path / "src"
    write_files(src, deep)
    tool_session(tool, disc, src, tmp_path / "s1.iso")
    m = mount(disc, "--no-burn-on-unmount")
    assert without_relocation(local_tree(m.path)) == files_of(deep)
    more = {f"{DEEP}/more.txt": b"more\n", f"{DEEP.rsplit('/', 7)[0]}/side.txt": b"side\n"}
    write_files(m.path, more)
    m.burn()
    want = files_of({**deep, **more})
    assert without_relocation(local_tree(m.path)) == want
    start = sessions_of(disc, home)[-1][0]
    assert without_relocation(xorriso_tree(disc, start, tmp_path / "x")) == want
    assert without_relocation(cdfs_tree(disc, start)) == want
    # and the tool can go on appending on top of that cdfs session
    extra = tmp_path / "extra"
    write_files(extra, {"last.txt": b"last\n"})
    tool_session(tool, disc, extra, tmp_path / "s3.iso")
    want["last.txt"] = ("file", b"last\n")
    start = sessions_of(disc, home)[-1][0]
    assert without_relocation(xorriso_tree(disc, start, tmp_path / "y")) == want
    assert without_relocation(cdfs_tree(disc, start)) == want


# -- rewriting a whole disc into one session (copy_from) -------------------------------


def kept_entries(fp: BinaryIO, start: int) -> list[MasterEntry]:
    """The tree of the session at ``start`` listed again, as the burn job does."""
    out = []
    for path, e in discread.walk(discread.read_session(fp, Lba(start))):
        file = e.kind is Kind.FILE
        out.append(MasterEntry(path, e.kind, stat.S_IMODE(e.mode), e.uid, e.gid, e.mtime_ns,
                               e.atime_ns, e.size if file else 0,
                               extents=e.extents if file else (), target=e.target))  # fmt: skip
    return out


def all_extents(image: Path, start: int = 0) -> list[tuple[int, int]]:
    with image.open("rb") as fp:
        root = discread.read_session(fp, Lba(start))
    return [x for _p, e in discread.walk(root) for x in e.extents]


def test_copy_from_rewrites_a_disc_into_one_independent_session(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc, "--no-burn-on-unmount")
    ref = tmp_path / "ref"
    ref.mkdir()
    for k in (1, 2):
        stage_session(m.path, k)
        stage_session(ref, k)
        m.burn()
    assert m.stop() == 0
    want = local_tree(ref)
    last = sessions_of(disc, home)[-1][0]
    with disc.open("rb") as fp:
        entries = kept_entries(fp, last)
        assert any(e.extents[0][0] < last for e in entries if e.extents)  # spans both
        new = tmp_path / "new"
        new.write_bytes(b"new file\n")
        entries.append(MasterEntry((b"added.txt",), Kind.FILE, 0o644, 0, 0, 0, 0, 9, new))
        image = tmp_path / "rewrite.iso"
        n = master_session(entries, image, start=Lba(0), label="rewritten", copy_from=fp)
    want["added.txt"] = ("file", b"new file\n")
    assert image.stat().st_size == n * SECTOR_SIZE
    assert n <= estimate_sectors(entries, copied=True)
    assert n > sum(sectors_for(len(v)) for k, v in want.values() if k == "file")
    # Self-contained: every extent lies inside the new image, which reads
    # back alone, with the old disc gone.
    assert all(lba > 16 and lba + sectors_for(size) <= n for lba, size in all_extents(image))
    disc.unlink()
    assert xorriso_tree(image, 0, tmp_path / "x") == want
    assert cdfs_tree(image, 0) == want
    assert isoinfo_read(image, 0, "big.bin") == want["big.bin"][1]
    # ... and it is a recordable session: a blank disc takes it at sector 0.
    blank = make_disc("cd-rw80", name="blank.iso")
    EmulatedRecorder(blank, faults=Faults()).record(image, Lba(0))
    assert xorriso_tree(blank, 0, tmp_path / "y") == want


def test_copy_from_reads_extents_in_order_and_streams(tmp_path: Path) -> None:
    """Extents out of disc order, not sector-aligned in length; reads are
    never bigger than what pycdlib asks for."""
    rng = random.Random(7)
    old = bytearray(rng.randbytes(200 * SECTOR_SIZE))
    extents = ((150, 3 * SECTOR_SIZE), (40, 5000), (100, 2 * SECTOR_SIZE + 1))
    size = sum(n for _lba, n in extents)
    data = b"".join(bytes(old[lba * SECTOR_SIZE : lba * SECTOR_SIZE + n]) for lba, n in extents)

    class Disc(io.BytesIO):
        biggest = 0

        def read(self, n: int | None = -1) -> bytes:
            Disc.biggest = max(Disc.biggest, n or 0)
            return super().read(n)

    e = MasterEntry((b"f.bin",), Kind.FILE, 0o644, 0, 0, 0, 0, size, extents=extents)
    image = tmp_path / "s.iso"
    master_session([e], image, start=Lba(0), label="x", copy_from=Disc(bytes(old)))
    assert cdfs_tree(image, 0) == {"f.bin": ("file", data)}
    assert Disc.biggest <= 1 << 20


def test_copy_from_a_disc_that_ends_early_or_fails_fails_cleanly(tmp_path: Path) -> None:
    e = MasterEntry((b"f",), Kind.FILE, 0o644, 0, 0, 0, 0, 5000, extents=((10, 5000),))
    out = tmp_path / "s.iso"
    with pytest.raises(CdfsError, match=r"cannot copy 'f' from the disc: sector 11"):
        master_session([e], out, start=Lba(0), label="x", copy_from=io.BytesIO(bytes(22_528)))
    assert not out.exists()

    class Failing(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(CdfsError, match=r"cannot copy 'f' from the disc: Input/output error"):
        master_session([e], out, start=Lba(0), label="x", copy_from=Failing(bytes(40_000)))
    assert not out.exists()


# -- names that stay --------------------------------------------------------------------


def test_joliet_names_of_burned_files_stay_when_new_names_collide(tmp_path: Path) -> None:
    """Windows compares names without case: a new "README.TXT" next to a
    burned "Readme.txt" takes the suffix, the burned file keeps its name."""
    src = tmp_path / "src"
    write_files(src, {"Readme.txt": b"old\n", "zeta.txt": b"z\n"})
    disc = tmp_path / "disc.img"
    n1 = master_session(entries_of(src), disc, start=Lba(0), label="one")
    with disc.open("rb") as fp:
        kept = kept_entries(fp, 0)
    new = tmp_path / "new"
    write_files(new, {"README.TXT": b"new\n", "ZETA.txt": b"Z\n"})
    start = n1 + 11_400
    s2 = tmp_path / "s2.iso"
    master_session([*kept, *entries_of(new)], s2, start=Lba(start), label="two")
    with disc.open("r+b") as f:
        f.seek(start * SECTOR_SIZE)
        f.write(s2.read_bytes())
    before = isoinfo_listing(disc, 0, "-J")
    after = isoinfo_listing(disc, start, "-J")
    assert set(after) == {"Readme.txt", "README~1.TXT", "zeta.txt", "ZETA~1.txt"}
    for name in ("Readme.txt", "zeta.txt"):
        assert after[name].lba == before[name].lba < start
    assert isoinfo_read(disc, start, "README~1.TXT", "-J") == b"new\n"


def entries_of(root: Path) -> list[MasterEntry]:
    """New files below ``root`` (flat), as the burn job lists staged files."""
    return [
        MasterEntry((p.name.encode(),), Kind.FILE, 0o644, 0, 0, 0, 0, p.stat().st_size, p)
        for p in sorted(root.iterdir())
    ]


# -- the pycdlib pin -----------------------------------------------------------------

PYCDLIB_PIN = "1.22.0"
PYCDLIB_INTERNALS: dict[str, Callable[[], object]] = {
    "PyCdlib._reshuffle_extents": lambda: pycdlib.PyCdlib._reshuffle_extents,
    "_VOLUME_DESCRIPTOR_SET_START_SECTOR": lambda: pycdlib.PyCdlib._reshuffle_extents.__globals__[
        "_VOLUME_DESCRIPTOR_SET_START_SECTOR"
    ],
    "PyCdlib._finish_add": lambda: pycdlib.PyCdlib._finish_add,
    "PyCdlib._find_joliet_record": lambda: pycdlib.PyCdlib._find_joliet_record,
    "PyCdlib._joliet_name_and_parent_from_path": lambda: (
        pycdlib.PyCdlib._joliet_name_and_parent_from_path
    ),
    "DirectoryRecordDate.from_fields": lambda: pycdlib.dates.DirectoryRecordDate.from_fields,
    "utils.encode_space_pad": lambda: pycdlib.utils.encode_space_pad,
    "utils.split_path": lambda: pycdlib.utils.split_path,
    # cdfs/iso/sessioniso.py makes file records itself, under their parent record:
    "DirectoryRecord._new": lambda: pycdlib.dr.DirectoryRecord._new.__globals__["dates"],
    "DirectoryRecord._rr_new": lambda: pycdlib.dr.DirectoryRecord._rr_new,
    "DirectoryRecord fields": lambda: (
        all(
            name in pycdlib.dr.DirectoryRecord.__slots__
            for name in (
                "_sort_key",
                "extents_to_here",
                "offset_to_here",
                "_subdir_children",
                "rr_children",
                "dr_len",
            )
        )
        or None
    ),
    "DirectoryRecord.add_child": lambda: pycdlib.dr.DirectoryRecord.add_child,
    "RockRidge._assign_entries": lambda: pycdlib.rockridge.RockRidge._assign_entries.__globals__[
        "RRTFRecord"
    ],
    "RRTFRecord.new": lambda: pycdlib.rockridge.RRTFRecord.new.__globals__["dates"],
}


def test_pycdlib_is_the_pinned_version() -> None:
    version = importlib.metadata.version("pycdlib")
    assert version == PYCDLIB_PIN, (
        f"pycdlib {version} is installed but cdfs is pinned to {PYCDLIB_PIN}: "
        "cdfs/iso/sessioniso.py"
        " and cdfs/iso/rockridge.py use pycdlib internals for session placement, records made"
        " under their parent, kept extents, Joliet names, timestamps and Rock Ridge layout."
        " Check each against the new version, then move the pin"
        " in pyproject.toml and here; the multisession tests read sessions back with xorriso"
        " and isoinfo."
    )
    for name, get in PYCDLIB_INTERNALS.items():
        try:
            assert get() is not None, name
        except (AttributeError, KeyError) as exc:
            raise AssertionError(
                f"pycdlib internal {name} used by cdfs/iso/sessioniso.py or rockridge.py is gone"
            ) from exc
