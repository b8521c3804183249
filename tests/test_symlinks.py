"""Symlink targets, short and long, read back byte for byte by every reader.

A target is cut into Rock Ridge SL entries; readers put it together again
by different rules (libarchive adds no ``/`` where an entry begins, libisofs
none after a ``/``), and xorriso refuses a whole session holding a target of
1,024 bytes or more.  Targets of many lengths and shapes (a name of 255
bytes cut across entries, many short names, ``.``, ``..``, absolute,
trailing and doubled slashes) are made on a real mount with ``ln -s``,
burned, and read back by xorriso, bsdtar, isoinfo and cdfs itself (its
reader and the mount after a remount); images mastered directly check a few
hundred random targets the same way, and a second session must carry them
unchanged.  A target one byte over the limit is refused when it is made.

isoinfo's listing drops trailing slashes of every target (one per Rock
Ridge area it reads: ``parse_rr`` in cdrkit's isoinfo.c), whoever wrote the
disc; no encoding avoids that, so for isoinfo a target ending in ``/`` is
compared without those.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cdfs.errors import NameTooLongError
from cdfs.iso import discread
from cdfs.iso.mastering import Kind, MasterEntry, master_session
from cdfs.units import Lba

from conftest import cdfs, run, xorriso_extract

TARGET_MAX = 1023
"""The longest target cdfs accepts (README: xorriso refuses longer ones)."""


def _cut(text: str, length: int) -> bytes:
    """``text`` repeated to ``length`` bytes, not ending in ``/`` (so that
    isoinfo shows it whole)."""
    out = (text * (length // len(text) + 1))[:length]
    return (out[:-1] + "z" if out.endswith("/") else out).encode()


TARGETS: dict[str, bytes] = {
    **{f"len{n}": _cut("abcdefgh/", n) for n in (1, 100, 250, 254, 255, 256, 300, 500, 1000)},
    "max": _cut("abcdefgh/", TARGET_MAX),
    "max_abs": b"/" + _cut("name-of-20-bytes-/", TARGET_MAX - 1),
    "max_short": _cut("a/", TARGET_MAX),  # many one-byte names
    "max_dotdot": b"../" * 340 + b"x..",
    "max_slashes": b"a" + b"/" * (TARGET_MAX - 2) + b"b",
    "max_unicode": ("é/" * 340 + "éz").encode(),  # two-byte characters
    "name255": b"n" * 255,  # one name cut across SL entries
    "names255": b"/".join([b"p" * 255, b"q" * 255, b"r" * 255, b"s" * 255]),
    "dots": b"./a/./b/../c/.",
    "up": b"../../x",
    "absolute": b"/etc/hostname",
    "trailing": b"dir/sub/",
    "trailing_long": _cut("abcdefgh/", 600) + b"/",
    "double": b"a//b///c",
    "double_lead": b"//x",
    "double_trail": b"x//",
    "root": b"/",
    "dot": b".",
    "dotdot": b"..",
    "three_dots": b".../....",
}


def _names(targets: dict[str, bytes]) -> dict[str, bytes]:
    """Symlink names of varied length (where the target's first SL entry
    starts in its directory record varies with them)."""
    pads = (0, 37, 90, 150, 200, 235)
    return {f"{k}_{'n' * pads[i % len(pads)]}": t for i, (k, t) in enumerate(targets.items())}


def _random_targets(seed: int, count: int) -> dict[str, bytes]:
    """Targets of random shapes up to :data:`TARGET_MAX` bytes."""
    rnd = random.Random(seed)
    parts = ["a", "bc", ".", "..", "", "...", "ü", "d" * 17]
    out = {}
    for i in range(count):
        limit = rnd.choice(
            [rnd.randint(1, 60), rnd.randint(230, 280), rnd.randint(400, TARGET_MAX)]
        )
        pieces = [rnd.choice([*parts, "x" * rnd.randint(1, 255)]) for _ in range(limit)]
        text = ("/" if rnd.random() < 0.3 else "") + "/".join(pieces)
        target = text.encode()[:limit].decode("utf-8", "ignore").encode() or b"t"
        out[f"r{i:03}_{'n' * rnd.choice([0, 50, 120, 180, 230])}"] = target
    return out


# -- readers -------------------------------------------------------------------------


def _links(root: Path) -> dict[str, bytes]:
    """Relative path -> target of every symlink below ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                out[str(p.relative_to(root))] = os.fsencode(os.readlink(p))
    return out


def by_xorriso(disc: Path, start: int, scratch: Path) -> dict[str, bytes]:
    dest = scratch / f"xorriso-{start}"
    xorriso_extract(disc, dest, None if start == 0 else start)
    return _links(dest)


def by_bsdtar(disc: Path, scratch: Path) -> dict[str, bytes]:
    """The first session (libarchive reads no other)."""
    dest = scratch / "bsdtar"
    dest.mkdir()
    run(["bsdtar", "-x", "-f", str(disc), "-C", str(dest)])
    return _links(dest)


ISOINFO_LINK = re.compile(rb"^l\S{9} .*?\]  (.*?) -> (.*)$")


def by_isoinfo(disc: Path, start: int) -> dict[str, bytes]:
    res = subprocess.run(
        ["isoinfo", "-i", str(disc), "-T", str(start), "-R", "-l"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    out, where = {}, b""
    for line in res.stdout.splitlines():
        if line.startswith(b"Directory listing of /"):
            where = line[len(b"Directory listing of /") :]
        elif m := ISOINFO_LINK.match(line):
            out[os.fsdecode(where + m[1])] = m[2]
    return out


def by_cdfs(disc: Path, start: int) -> dict[str, bytes]:
    with disc.open("rb") as fp:
        root = discread.read_session(fp, Lba(start))
        return {
            os.fsdecode(b"/".join(path)): e.target
            for path, e in discread.walk(root)
            if e.kind is Kind.SYMLINK
        }


def isoinfo_shows(target: bytes, shown: bytes) -> bool:
    """Whether isoinfo's listing ``shown`` is ``target`` (but for trailing
    slashes, which it drops)."""
    return shown == target or (target.startswith(shown) and not target[len(shown) :].strip(b"/"))


def assert_read_back(want: dict[str, bytes], disc: Path, scratch: Path, *, start: int = 0) -> None:
    """Every reader reads every symlink of the session at ``start`` as
    ``want`` has it (bsdtar only for the first session)."""
    got = {"xorriso": by_xorriso(disc, start, scratch), "cdfs": by_cdfs(disc, start)}
    if start == 0:
        got["bsdtar"] = by_bsdtar(disc, scratch)
    wrong = {
        reader: {p: (t, links.get(p)) for p, t in want.items() if links.get(p) != t}
        for reader, links in got.items()
    }
    shown = by_isoinfo(disc, start)
    wrong["isoinfo"] = {
        p: (t, shown.get(p)) for p, t in want.items() if not isoinfo_shows(t, shown.get(p, b"?"))
    }
    wrong = {reader: diff for reader, diff in wrong.items() if diff}
    assert not wrong, "\n".join(
        f"{reader} reads {len(diff)} targets differently: {diff}" for reader, diff in wrong.items()
    )


# -- tests ---------------------------------------------------------------------------


def _link_entry(path: tuple[bytes, ...], target: bytes) -> MasterEntry:
    return MasterEntry(path, Kind.SYMLINK, 0o777, 1000, 1000, 0, 0, target=target)


def test_mastered_targets_read_back_by_every_reader(tmp_path: Path) -> None:
    """The fixed targets and 600 random ones, in the root and in a directory
    with long names (continuation areas of their own)."""
    links = {**_names(TARGETS), **_random_targets(1, 300)}
    deep = {f"d/{k}": t for k, t in _random_targets(2, 300).items()}
    entries = [MasterEntry((b"d",), Kind.DIR, 0o755, 0, 0, 0, 0)]
    entries += [
        _link_entry(tuple(os.fsencode(p).split(b"/")), t) for p, t in {**links, **deep}.items()
    ]
    disc = tmp_path / "links.iso"
    master_session(sorted(entries, key=lambda e: e.path), disc, start=Lba(0), label="links")
    assert_read_back({**links, **deep}, disc, tmp_path)


def test_cdfs_reads_targets_as_xorriso_and_genisoimage_write_them(tmp_path: Path) -> None:
    """Inner slashes are ROOT components on discs written by mkisofs and
    xorriso; cdfs read ``a//b`` as ``/b``."""
    src = tmp_path / "src"
    src.mkdir()
    targets = {"double": b"a//b///c", "double_lead": b"//x", "dots": b"a/./b/../c", "root": b"/"}
    for name, target in targets.items():
        os.symlink(target, src / name)
    for tool in (["xorriso", "-as", "mkisofs"], ["genisoimage"]):
        disc = tmp_path / f"{tool[0]}.iso"
        run([*tool, "-quiet", "-R", "-J", "-o", str(disc), str(src)])
        assert by_cdfs(disc, 0) == targets, tool[0]
        assert by_xorriso(disc, 0, tmp_path / tool[0]) == targets, tool[0]


def test_symlinks_made_on_the_mount_burn_and_read_back_exactly(
    tmp_path: Path, mount: Any, make_disc: Any
) -> None:
    disc = make_disc()
    m = mount(disc)
    links = _names(TARGETS)
    for name, target in links.items():
        run(["ln", "-s", os.fsdecode(target), str(m.path / name)])
    for name, target in links.items():
        assert os.readlink(m.path / name) == os.fsdecode(target)
    m.burn()
    assert_read_back(links, disc, tmp_path)
    m.stop()
    m = mount(disc)
    on_mount = {name: os.fsencode(os.readlink(m.path / name)) for name in links}
    assert on_mount == links
    assert all(m.path.joinpath(n).lstat().st_size == len(t) for n, t in links.items())


@pytest.mark.parametrize("length", [TARGET_MAX + 1, TARGET_MAX + 2, 2048, 4095])
def test_a_target_over_the_limit_is_refused_when_made(mount: Any, length: int) -> None:
    m = mount()
    target = _cut("abcdefgh/", length)
    res = run(["ln", "-s", os.fsdecode(target), str(m.path / "long")], check=False)
    assert res.returncode != 0 and "File name too long" in res.stderr
    with pytest.raises(OSError) as refused:
        os.symlink(target, m.path / "long")
    assert refused.value.errno == errno.ENAMETOOLONG
    assert not os.path.lexists(m.path / "long")
    assert m.log is not None
    assert f"symlink target of {length} bytes" in m.log.read_text(errors="replace")
    os.symlink(target[:TARGET_MAX], m.path / "long")  # the longest is taken
    assert os.readlink(m.path / "long") == os.fsdecode(target[:TARGET_MAX])


def test_a_target_that_is_not_utf8_is_refused_when_made(mount: Any) -> None:
    """Not at the next burn, which would fail on it every time."""
    m = mount()
    with pytest.raises(OSError) as refused:
        os.symlink(b"caf\xe9", os.fsencode(m.path / "latin1"))
    assert refused.value.errno == errno.EINVAL
    assert not os.path.lexists(m.path / "latin1")


def test_mastering_refuses_a_target_over_the_limit(tmp_path: Path) -> None:
    """Also for symlinks staged without the mount's check (by an older cdfs)."""
    entry = _link_entry((b"long",), _cut("abcdefgh/", TARGET_MAX + 1))
    with pytest.raises(NameTooLongError, match="1024 bytes"):
        master_session([entry], tmp_path / "s.iso", start=Lba(0), label="x")
    assert not (tmp_path / "s.iso").exists()


def test_long_symlinks_survive_a_second_session(tmp_path: Path, mount: Any, make_disc: Any) -> None:
    disc = make_disc()
    m = mount(disc)
    links = _names(TARGETS)
    for name, target in links.items():
        os.symlink(target, m.path / name)
    m.burn()
    (m.path / "second.txt").write_text("session two")
    os.symlink(TARGETS["max_short"], m.path / "new_in_two")
    m.burn()
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    starts = [s["start"] for s in info["sessions"]]
    assert len(starts) == 2 and starts[1] > 0
    assert_read_back({**links, "new_in_two": TARGETS["max_short"]}, disc, tmp_path, start=starts[1])
    assert stat.S_ISREG((m.path / "second.txt").lstat().st_mode)
