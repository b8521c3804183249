"""Sessions that reuse the directories the last one left unchanged.

Appending copies the records of every directory whose contents did not
change (:mod:`cdfs.iso.reuse`, :mod:`cdfs.iso.olddirs`) instead of writing
them anew.  These tests burn through real mounts and read the discs back
with xorriso, isoinfo (Rock Ridge, Joliet, path tables), 7-Zip and pycdlib:
every reader must see exactly the tree that was live, file by file and
byte for byte; a reused directory's records must be the last session's
with only the pointers to directories changed; and whatever cannot be
reused (a disc of another Rock Ridge version, a Joliet name that does not
match, hard links, a disc that changes meanwhile) is written anew.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pycdlib
import pytest
from test_multisession import (
    History,
    Tree,
    isoinfo_listing,
    local_meta,
    local_tree,
    run,
    xorriso_tree,
)

from cdfs.burn.snapshot import add_disc
from cdfs.iso import discread, reuse
from cdfs.iso.discentry import DiscEntry
from cdfs.iso.mastering import Kind, MasterEntry, master_session
from cdfs.units import SECTOR_SIZE, Lba

LONG = "a file whose name is far longer than any record holds by itself " * 2
"""150 characters: its Rock Ridge name continues in a continuation area."""


def stage_first(root: Path) -> None:
    """Session 1: nested directories, long names, symlinks, Unicode, an
    empty directory, and directories that session 2 changes or not."""
    for d in ("a/b/c", "keep/s1/s2", "long", "Ünïcödé dir", "empty", "gone", "modes"):
        (root / d).mkdir(parents=True)
    files = {
        "top.txt": b"top\n",
        "a/x.txt": b"x" * 3000,
        "a/b/other.txt": b"other\n",
        "a/b/c/deep.txt": b"deep\n" * 100,
        "keep/s1/s2/f.bin": bytes(range(256)) * 40,
        f"long/{LONG}": b"long name\n",
        "Ünïcödé dir/é.txt": "é\n".encode(),
        "gone/g1.txt": b"g1\n",
        "gone/g2.txt": b"g2\n",
        "modes/m.txt": b"m\n",
    }
    files.update({f"keep/k{i:02d}.txt": f"keep {i}\n".encode() * i for i in range(30)})
    for i, (rel, data) in enumerate(sorted(files.items())):
        (root / rel).write_bytes(data)
        os.utime(root / rel, (1_600_000_000, 1_600_000_000 + i))
    os.symlink("../" * 3 + "target/" + "t" * 180, root / "long" / "far link")
    os.symlink("s1/s2/f.bin", root / "keep" / "near link")


def stage_second(root: Path) -> None:
    """Session 2: a new file deep in ``a``, a deleted one in ``gone``, a
    new directory; ``modes`` gets new permissions (in the mount, as a
    staged attribute change)."""
    (root / "a" / "b" / "new.txt").write_bytes(b"new in session 2\n")
    (root / "gone" / "g1.txt").unlink()
    (root / "fresh").mkdir()
    (root / "fresh" / "f.txt").write_bytes(b"fresh\n")
    (root / "modes").chmod(0o700)


def stage_third(root: Path) -> None:
    """Session 3: a file in a directory session 2 reused (whose tree the
    mount took from session 1's reading), one more in ``fresh``."""
    (root / "keep" / "s1" / "new3.txt").write_bytes(b"third\n")
    (root / "fresh" / "g.txt").write_bytes(b"g\n")


REUSED = ["keep", "keep/s1", "keep/s1/s2", "long", "Ünïcödé dir", "empty", "a/b/c"]
REWRITTEN = ["", "a/b", "gone", "modes"]


def dir_bytes(disc: Path, lba: int) -> bytes:
    """The records of the directory at ``lba`` (its "." record gives its size)."""
    with disc.open("rb") as fp:
        fp.seek(lba * SECTOR_SIZE)
        first = fp.read(SECTOR_SIZE)
        size = struct.unpack_from("<I", first, 10)[0]
        fp.seek(lba * SECTOR_SIZE)
        return fp.read(size)


def without_pointers(data: bytes) -> tuple[bytes, int]:
    """A directory's records with the extent and size of every directory
    record ("." and ".." and subdirectories) blanked; and how many there are."""
    out, pos, n = bytearray(data), 0, 0
    while pos < len(out):
        length = out[pos]
        if length == 0:
            pos = (pos // SECTOR_SIZE + 1) * SECTOR_SIZE
            continue
        if out[pos + 25] & 0x02:
            out[pos + 2 : pos + 18] = bytes(16)
            n += 1
        pos += length
    return bytes(out), n


def grown(disc: Path, start: int, dest: Path) -> Path:
    """A copy of ``disc`` up to the end of the session at ``start`` (its
    volume space size), with that session's volume descriptors also at
    sector 16, as growisofs appends on overwritable media: for readers that
    only read a disc's first descriptors."""
    with disc.open("rb") as src, dest.open("wb") as out:
        src.seek((start + 16) * SECTOR_SIZE)
        vds = src.read(8 * SECTOR_SIZE)
        size = struct.unpack_from("<I", vds, 80)[0]
        end = size if size > start else start + size  # the disc's, or the session's
        src.seek(0)
        for _ in range(end):
            out.write(src.read(SECTOR_SIZE))
        out.seek(16 * SECTOR_SIZE)
        out.write(vds)
    return dest


def pycdlib_tree(image: Path) -> tuple[Tree, list[int]]:
    """The Rock Ridge tree as pycdlib reads it, and the PX serial numbers
    of its files, symlinks and directories (the root's "." included)."""
    iso = pycdlib.PyCdlib()
    iso.open(str(image))
    out: Tree = {}
    serials: list[int] = []
    try:
        for top, dirs, files in iso.walk(rr_path="/"):
            for name in dirs + files:
                rr = f"{top.rstrip('/')}/{name}"
                rec = iso.get_record(rr_path=rr)
                rock = rec.rock_ridge
                px = rock.dr_entries.px_record or rock.ce_entries.px_record
                serials.append(px.posix_serial_number)
                rel = rr.lstrip("/")
                if name in dirs:
                    out[rel] = ("dir", b"")
                elif rec.rock_ridge.is_symlink():
                    out[rel] = ("link", bytes(rec.rock_ridge.symlink_path()))
                else:
                    import io

                    buf = io.BytesIO()
                    iso.get_file_from_iso_fp(buf, rr_path=rr)
                    out[rel] = ("file", buf.getvalue())
    finally:
        iso.close()
    return out, serials


def sevenzip_tree(image: Path, dest: Path) -> Tree:
    run(["7z", "x", "-y", f"-o{dest}", str(image)])
    try:
        return local_tree(dest)
    finally:
        shutil.rmtree(dest)


def joliet_paths(disc: Path, start: int) -> set[str]:
    text = run(["isoinfo", "-i", str(disc), "-T", str(start), "-J", "-f"])
    return {line.decode("latin-1").lstrip("/") for line in text.splitlines() if line.strip()}


def path_table(disc: Path, start: int) -> list[tuple[int, int, str]]:
    """(parent number, extent, name) of each path table record (``isoinfo -p``)."""
    text = run(["isoinfo", "-i", str(disc), "-T", str(start), "-p"]).decode("latin-1")
    rows = re.findall(r"^[ \t]*\d+:[ \t]+(\d+)[ \t]+([0-9a-f]+)[ \t]*(.*?)[ \t]*$", text, re.M)
    return [(int(parent), int(lba, 16), name) for parent, lba, name in rows]


def test_a_session_reuses_what_did_not_change_and_every_reader_sees_it(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc, "--no-burn-on-unmount")
    ref = tmp_path / "ref"
    ref.mkdir()
    h = History(disc, home, tmp_path)
    for stage in (stage_first, stage_second, stage_third):
        stage(m.path)
        stage(ref)
        m.burn()
        want = local_tree(ref)
        assert local_tree(m.path) == want
        h.states.append(want)
        h.metas.append(local_meta(ref))
    (s1, _), (s2, _), (s3, _) = h.check()  # xorriso, isoinfo -R (and -x), cdfs
    m.stop()
    m = mount(disc, "--no-burn-on-unmount", name="again")
    assert local_tree(m.path) == h.states[2]  # read afresh: what the view showed
    assert xorriso_tree(disc, s3, tmp_path / "x3") == h.states[2]
    want = h.states[1]
    assert want["a/b/new.txt"] == ("file", b"new in session 2\n")
    assert "gone/g1.txt" not in want

    old, new = isoinfo_listing(disc, s1), isoinfo_listing(disc, s2)
    for rel in REUSED:
        before, after = dir_bytes(disc, old[rel].lba), dir_bytes(disc, new[rel].lba)
        assert new[rel].lba > old[rel].lba
        assert without_pointers(after) == without_pointers(before), rel
        assert after != before, f"{rel}: its pointers should be the new session's"
    for rel in REWRITTEN:
        before = dir_bytes(disc, old[rel].lba if rel else s1_root(disc, s1))
        after = dir_bytes(disc, new[rel].lba if rel else s1_root(disc, s2))
        assert without_pointers(after)[0] != without_pointers(before)[0], rel
    # The new mode of a directory that was otherwise left as it was.
    assert stat_mode(tmp_path, disc, s2, "modes") == 0o700

    # Joliet: every name but the symlinks (Joliet has none), the long one cut.
    joliet = joliet_paths(disc, s2)
    shown = {p for p, (kind, _v) in want.items() if kind != "link"}
    assert {p for p in joliet if not p.startswith("long/")} == {
        p for p in shown if not p.startswith("long/")
    }
    assert any(p.startswith("long/a file whose name") and LONG.startswith(p[5:]) for p in joliet)

    # The path table lists every directory where its records are.
    table = path_table(disc, s2)
    dirs = {p: e.lba for p, e in new.items() if e.kind == "dir"}
    assert len(table) == len(dirs) + 1
    assert sorted(lba for _parent, lba, _name in table[1:]) == sorted(dirs.values())

    # Readers of a disc's first descriptors, on a copy grown as growisofs does.
    image = grown(disc, s2, tmp_path / "grown.iso")
    theirs, serials = pycdlib_tree(image)
    assert theirs == want
    assert len(serials) == len(set(serials)), "two records share a PX serial number"
    # 7-Zip reads the Joliet tree: no symlinks, names of up to 64 characters.
    joliet_view = {
        "/".join(part[:64] for part in p.split("/")): v for p, v in want.items() if v[0] != "link"
    }
    assert sevenzip_tree(image, tmp_path / "7z") == joliet_view


def s1_root(disc: Path, start: int) -> int:
    """The sector of the root directory of the session at ``start``."""
    with disc.open("rb") as fp:
        fp.seek((start + 16) * SECTOR_SIZE + 156 + 2)
        return int(struct.unpack("<I", fp.read(4))[0])


def stat_mode(tmp_path: Path, disc: Path, start: int, rel: str) -> int:
    dest = tmp_path / "modes-x"
    run(["xorriso", "-osirrox", "on", "-load", "sbsector", str(start),
         "-indev", f"stdio:{disc}", "-extract", f"/{rel}", str(dest)])  # fmt: skip
    try:
        return dest.stat().st_mode & 0o7777
    finally:
        shutil.rmtree(dest)


# -- what is not reused ----------------------------------------------------------------


def first_session(tmp_path: Path, image: Path, media: str = "dvd+r") -> Path:
    """An emulated disc whose first session is ``image``."""
    from cdfs.recorders.emulated import create_media
    from cdfs.recorders.media import media_type

    disc = tmp_path / "disc.iso"
    create_media(disc, media_type(media)).record(image, Lba(0))
    return disc


def append_one(tmp_path: Path, disc: Path, rel: str, data: bytes) -> tuple[int, int, int]:
    """Append a session holding one new file at ``rel`` as the burn job
    does (the snapshot's listing, reuse, the emulated recorder); returns
    (start of the last session, start of the new one, directories reused)."""
    from cdfs.recorders.emulated import EmulatedRecorder
    from cdfs.recorders.knobs import Faults

    rec = EmulatedRecorder(disc, faults=Faults())
    info = rec.disc_info()
    assert info.nwa is not None and info.last_session is not None
    with rec.open_reader() as fp:
        root = discread.read_session(fp, info.last_session.start)
    src = tmp_path / "new-file"
    src.write_bytes(data)
    path = tuple(rel.encode().split(b"/"))
    tree: dict[tuple[bytes, ...], MasterEntry] = {}
    add_disc(tree, root, [path])
    tree[path] = MasterEntry(path, Kind.FILE, 0o644, 0, 0, 0, 0, len(data), source=src)
    entries = [tree[p] for p in sorted(tree)]
    image = tmp_path / "s2.iso"
    with rec.open_reader() as fp:
        master_session(entries, image, start=info.nwa, label="S2", reuse_from=(fp, root.session))
    rec.record(image, info.nwa)
    return info.last_session.start, info.nwa, sum(e.reuse is not None for e in entries)


def tool_tree(root: Path) -> None:
    for d in ("one/two", "three"):
        (root / d).mkdir(parents=True)
    for i, rel in enumerate(("one/a.txt", "one/two/b.txt", "three/c.txt", "top.txt")):
        (root / rel).write_bytes(f"{rel}\n".encode() * (i + 1))


@pytest.mark.parametrize(
    ("options", "reused"),
    [([], 0), (["-compliance", "new_rr"], 2)],
    ids=["rock-ridge-1.10", "rock-ridge-1.12"],
)
def test_discs_begun_by_xorriso_are_reused_only_in_the_rock_ridge_cdfs_writes(
    tmp_path: Path, options: list[str], reused: int
) -> None:
    """xorriso writes Rock Ridge 1.10 by default (PX without serial
    numbers): its directories are written anew, since pycdlib refuses a
    tree that mixes 1.10 and 1.12 records.  With ``-compliance new_rr``
    they are reused like cdfs's own."""
    src = tmp_path / "src"
    tool_tree(src)
    image = tmp_path / "s1.iso"
    subprocess.run(
        ["xorriso", *options, "-as", "mkisofs", "-quiet", "-R", "-J", "-o", str(image), str(src)],
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip
    disc = first_session(tmp_path, image)
    with disc.open("rb") as fp:
        root = discread.read_session(fp, Lba(0))
    assert (root.session is not None and root.session.joliet is not None) == bool(reused)
    _s1, s2, n = append_one(tmp_path, disc, "one/new.txt", b"new\n")
    assert n == reused  # "three" and "one/two" ("one" holds the new file)
    (src / "one" / "new.txt").write_bytes(b"new\n")
    want = local_tree(src)
    assert xorriso_tree(disc, s2, tmp_path / "x") == want
    image2 = grown(disc, s2, tmp_path / "grown.iso")
    assert pycdlib_tree(image2)[0] == want


def test_a_directory_whose_joliet_name_is_cut_is_written_anew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its Joliet records are found by name in the parent's; a name Joliet
    cut (over 64 characters) is not found, and the directory is listed."""
    src = tmp_path / "src"
    long = "d" * 70
    (src / long / "in").mkdir(parents=True)
    (src / long / "in" / "f.txt").write_bytes(b"f\n")
    (src / "short").mkdir()
    (src / "short" / "g.txt").write_bytes(b"g\n")
    image = tmp_path / "s1.iso"
    entries = tree_entries(src)
    master_session(entries, image, start=Lba(0), label="S1")
    disc = first_session(tmp_path, image)
    with caplog.at_level("INFO", logger="cdfs.iso.reuse"):
        _s1, s2, n = append_one(tmp_path, disc, "new.txt", b"new\n")
    assert n == 2
    assert f"directory {(long.encode(),)!r} written anew" in caplog.text
    assert "reusing the records of 1 directories" in caplog.text
    (src / "new.txt").write_bytes(b"new\n")
    want = local_tree(src)
    assert xorriso_tree(disc, s2, tmp_path / "x") == want
    assert pycdlib_tree(grown(disc, s2, tmp_path / "grown.iso"))[0] == want
    assert f"{long[:64]}/in/f.txt" in joliet_paths(disc, s2)


def tree_entries(src: Path) -> list[MasterEntry]:
    """The files and directories below ``src`` as new entries."""
    out = []
    for p in sorted(src.rglob("*")):
        path = tuple(os.fsencode(p.relative_to(src)).split(b"/"))
        st = p.lstat()
        if p.is_dir():
            out.append(MasterEntry(path, Kind.DIR, 0o755, 0, 0, st.st_mtime_ns, st.st_mtime_ns))
        else:
            out.append(
                MasterEntry(
                    path,
                    Kind.FILE,
                    0o644,
                    0,
                    0,
                    st.st_mtime_ns,
                    st.st_mtime_ns,
                    st.st_size,
                    source=p,
                )
            )
    return out


def test_directories_above_hard_links_and_relocated_ones_are_not_reusable(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "h" / "in").mkdir(parents=True)
    (src / "h" / "in" / "a").write_bytes(b"linked\n")
    os.link(src / "h" / "in" / "a", src / "h" / "b")
    (src / "plain").mkdir()
    (src / "plain" / "p").write_bytes(b"p\n")
    deep = src.joinpath(*[f"l{i}" for i in range(10)])
    deep.mkdir(parents=True)
    entries = tree_entries(src)
    links = [e for e in entries if e.path[-1] in (b"a", b"b")]
    entries = [e for e in entries if e not in links] + [
        MasterEntry(e.path, e.kind, e.mode, 0, 0, 0, 0, e.size, source=e.source, link=1)
        for e in links
    ]
    image = tmp_path / "s1.iso"
    master_session([e for e in entries if e.path[0] != b"l0"], image, start=Lba(0), label="S1")
    with image.open("rb") as fp:
        root = discread.read_session(fp, Lba(0))
    assert root.session is not None and root.session.joliet is not None
    assert root.children[b"h"].where == 0  # a file with two names is in it
    assert root.children[b"h"].children[b"in"].where == 0
    assert root.children[b"plain"].where != 0
    master_session(entries, image, start=Lba(0), label="S1")  # 10 levels: relocated
    with image.open("rb") as fp:
        root = discread.read_session(fp, Lba(0))
    assert root.session is not None and root.session.joliet is None
    assert root.children[b"plain"].where == 0


def test_a_disc_that_changes_while_mastering_fails_the_session(tmp_path: Path) -> None:
    """The records are read again when copied: a directory that is no
    longer where it was fails the mastering, and no image is left."""
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "f").write_bytes(b"f\n")
    image = tmp_path / "s1.iso"
    master_session(tree_entries(src), image, start=Lba(0), label="S1")
    with image.open("rb") as fp:
        root = discread.read_session(fp, Lba(0))
    entries = [reuse.reused_entry((b"d",), root.children[b"d"])]
    new = tmp_path / "new"
    new.write_bytes(b"n\n")
    entries.append(MasterEntry((b"n",), Kind.FILE, 0o644, 0, 0, 0, 0, 2, source=new))
    out = tmp_path / "s2.iso"
    start = Lba(image.stat().st_size // SECTOR_SIZE)

    moved = root.children[b"d"].children[b"e"].where * SECTOR_SIZE

    class Changing:
        """Reads the image; the directory "d/e" is gone once scanned (its
        second read, when copied, finds zeros)."""

        def __init__(self) -> None:
            self.fp = image.open("rb")
            self.at = self.seen = 0

        def seek(self, pos: int) -> int:
            self.at = pos
            return self.fp.seek(pos)

        def read(self, n: int) -> bytes:
            data = self.fp.read(n)
            if self.at == moved:
                self.seen += 1
                if self.seen > 1:
                    return bytes(len(data))
            return data

    changing = Changing()
    with pytest.raises(OSError, match="changed while mastering"):
        master_session(entries, out, start=start, label="S2", reuse_from=(changing, root.session))  # type: ignore[arg-type]
    assert not out.exists()
    changing.fp.close()


def test_a_file_below_32_below_a_reused_directory_moves_with_the_others(tmp_path: Path) -> None:
    """On overwritable media the next session overwrites LBAs 0-31:
    :func:`cdfs.burn.lowfiles.carry_low_files` lists a reused directory
    above a file there entry by entry and moves the file into the session.
    (cdfs's and xorriso's layouts put no directory's files that low; the
    directory here stands for one another tool could write.)"""
    from cdfs.burn.lowfiles import carry_low_files
    from cdfs.recorders.emulated import create_media
    from cdfs.recorders.media import media_type

    src = tmp_path / "low.bin"
    src.write_bytes(b"low data\n")
    image = tmp_path / "s1.iso"
    master_session(tree_entries_of({"low.bin": src}), image, start=Lba(0), label="S1")
    rec = create_media(tmp_path / "disc.iso", media_type("dvd+rw"))
    rec.record(image, Lba(0))
    info = rec.disc_info()
    with rec.open_reader() as fp:
        root = discread.read_session(fp, Lba(0))
    low = root.children[b"low.bin"]
    assert low.extents[0][0] < 32
    sub = DiscEntry(b"sub", Kind.DIR, 0o40755, 0, 0, 2, 2048, 0, 0, 0, (),
                    children={b"low.bin": low}, where=40)  # fmt: skip
    carried: list[Path] = []
    entries = carry_low_files(rec, tmp_path, info, [reuse.reused_entry((b"sub",), sub)], carried)
    assert [e.path for e in entries] == [(b"sub",), (b"sub", b"low.bin")]
    assert entries[0].reuse is None
    moved = entries[1]
    assert moved.extents == () and moved.source is not None
    assert Path(moved.source).read_bytes() == b"low data\n"
    for p in carried:
        p.unlink()


def tree_entries_of(files: dict[str, Path]) -> list[MasterEntry]:
    return [
        MasterEntry((name.encode(),), Kind.FILE, 0o644, 0, 0, 0, 0, p.stat().st_size, source=p)
        for name, p in files.items()
    ]
