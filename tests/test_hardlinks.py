"""Hard links: copied in by cp -a, tar and rsync -H, made with ln, burned
as one copy of the data with a Rock Ridge link count and serial number,
and read back as links (by xorriso -hardlinks on, bsdtar, isoinfo, and the
mount after a remount), in later sessions too.  Writes, unlinks and renames
of one name are seen through the others, during a burn and outside one."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from test_multisession import isoinfo_listing, sessions_of

from cdfs.units import sectors_for

from conftest import run

DATA = os.urandom(300_000)
OTHER = os.urandom(100_000)


def source_tree(root: Path) -> Path:
    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(DATA)
    os.link(src / "a", src / "sub" / "b")
    (src / "c").write_bytes(OTHER)
    (src / "e").write_bytes(b"")
    os.link(src / "e", src / "e2")
    return src


def linked(*paths: Path) -> None:
    """The paths are names of one file: one inode, as many links."""
    sts = [os.lstat(p) for p in paths]
    inos = [st.st_ino for st in sts]
    assert len(set(inos)) == 1, list(zip(paths, inos, strict=True))
    assert all(st.st_nlink == len(paths) for st in sts), [st.st_nlink for st in sts]


def xorriso_hardlinks(disc: Path, start: int, dest: Path) -> None:
    load = ["-load", "sbsector", str(start), "-indev", f"stdio:{disc}"]
    run(["xorriso", "-osirrox", "on", "-hardlinks", "on", *load, "-extract", "/", str(dest)])


def check_session(disc: Path, env: dict[str, str], tmp: Path, dirs: list[str]) -> int:
    """The last session links each copied tree's names; returns its start."""
    start = sessions_of(disc, env)[-1][0]
    out = tmp / f"x{start}"
    xorriso_hardlinks(disc, start, out)
    listing = isoinfo_listing(disc, start)
    for d in dirs:
        linked(out / d / "a", out / d / "sub" / "b")
        assert (out / d / "sub" / "b").read_bytes() == DATA
        linked(out / d / "e", out / d / "e2")
        assert os.lstat(out / d / "c").st_nlink == 1
        # isoinfo: one extent, and the Rock Ridge link count, for both names
        a, b = listing[f"{d}/a"], listing[f"{d}/sub/b"]
        assert a.lba == b.lba and a.size == b.size == len(DATA)
    isoinfo = run(["isoinfo", "-i", str(disc), "-T", str(start), "-R", "-l"]).stdout
    lines = [line for line in isoinfo.splitlines() if line.endswith((" a ", " b "))]
    assert lines and all(line.split()[1] == "2" for line in lines), lines
    return start


def test_cp_tar_rsync_and_ln_keep_hard_links_through_burn_and_remount(
    tmp_path: Path, mount: Any, make_disc: Any
) -> None:
    src = source_tree(tmp_path)
    with tarfile.open(tmp_path / "src.tar", "w") as tar:
        tar.add(src, "tar")
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    assert run(["cp", "-a", str(src), str(mp / "cp")], check=False).returncode == 0
    assert run(["tar", "-xf", str(tmp_path / "src.tar"), "-C", str(mp)]).returncode == 0
    res = run(["rsync", "-aH", f"{src}/", str(mp / "rs")], check=False)
    assert res.returncode == 0, res.stderr
    (mp / "own").write_bytes(OTHER)
    assert run(["ln", "own", "own2"], cwd=mp).returncode == 0
    dirs = ["cp", "tar", "rs"]
    for d in dirs:
        linked(mp / d / "a", mp / d / "sub" / "b")
        linked(mp / d / "e", mp / d / "e2")
        assert (mp / d / "sub" / "b").read_bytes() == DATA
    linked(mp / "own", mp / "own2")
    # df counts the data of linked names once: one more name costs no data.
    before = os.statvfs(mp).f_bavail
    os.link(mp / "own", mp / "own3")
    assert before - os.statvfs(mp).f_bavail < sectors_for(len(OTHER))
    os.unlink(mp / "own3")

    assert m.burn().returncode == 0
    start = check_session(disc, m.env, tmp_path, dirs)
    # The session holds each file's data once (the metadata is far smaller
    # than a second copy of the linked files' data).
    unique = 3 * (sectors_for(len(DATA)) + sectors_for(len(OTHER))) + sectors_for(len(OTHER))
    length = sessions_of(disc, m.env)[-1][1]
    assert unique < length < unique + 3 * sectors_for(len(DATA)), (unique, length)
    # bsdtar (libarchive) reads the first session: it reports the links.
    listing = run(["bsdtar", "tvf", str(disc)]).stdout
    assert "cp/sub/b link to cp/a" in listing or "cp/a link to cp/sub/b" in listing, listing
    linked(mp / "cp" / "a", mp / "cp" / "sub" / "b")

    m.stop()
    m.start()
    for d in dirs:
        linked(mp / d / "a", mp / d / "sub" / "b")
        linked(mp / d / "e", mp / d / "e2")
        assert os.getxattr(mp / d / "a", "user.cdfs.state") == b"disc"
    linked(mp / "own", mp / "own2")
    assert (mp / "own2").read_bytes() == OTHER

    # A second session keeps them linked, pointing at the first one's data.
    (mp / "later.txt").write_text("later\n")
    assert m.burn().returncode == 0
    second = check_session(disc, m.env, tmp_path, dirs)
    assert second > start
    assert isoinfo_listing(disc, second)["cp/a"].lba == isoinfo_listing(disc, start)["cp/a"].lba
    m.stop()
    m.start()
    linked(mp / "tar" / "a", mp / "tar" / "sub" / "b")


def test_one_name_written_renamed_and_unlinked(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc("cd-r80"), "--no-burn-on-unmount")
    mp = m.path
    (mp / "d").mkdir()
    (mp / "a").write_bytes(b"one\n")
    run(["ln", "a", "d/b"], cwd=mp)
    linked(mp / "a", mp / "d" / "b")
    # A write through one name is seen through the other (and by an open handle).
    with open(mp / "a", "rb") as reader:
        run(["bash", "-c", "echo two >> d/b"], cwd=mp)
        assert reader.read() == b"one\ntwo\n"
    assert (mp / "a").read_bytes() == b"one\ntwo\n"
    os.chmod(mp / "d" / "b", 0o600)
    assert os.stat(mp / "a").st_mode & 0o777 == 0o600
    # Renaming one name keeps the link; renaming a name onto another name
    # of the same file changes nothing (rename(2)).
    os.rename(mp / "d" / "b", mp / "c")
    linked(mp / "a", mp / "c")
    os.rename(mp / "a", mp / "c")
    linked(mp / "a", mp / "c")
    # mv refuses that, as on any file system.
    assert run(["mv", "a", "c"], cwd=mp, check=False).returncode != 0
    # Unlinking one name leaves the other, with its data, one link.
    with open(mp / "a", "r+b") as fh:
        os.unlink(mp / "a")
        fh.seek(0, 2)
        fh.write(b"three\n")
        assert os.fstat(fh.fileno()).st_nlink == 1
    assert (mp / "c").read_bytes() == b"one\ntwo\nthree\n"
    assert os.lstat(mp / "c").st_nlink == 1
    # Links to directories, and to control files, are refused.
    with pytest.raises(PermissionError):
        os.link(mp / "d", mp / "d2")
    with pytest.raises(OSError):
        os.link(mp / ".status", mp / "s")


def test_link_to_a_burned_file_is_refused_on_write_once(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "a").write_bytes(b"burned\n")
    assert m.burn().returncode == 0
    res = run(["ln", "a", "b"], cwd=m.path, check=False)
    assert res.returncode != 0 and "Operation not permitted" in res.stderr, res
    with pytest.raises(OSError) as exc:
        os.link(m.path / "a", m.path / "b")
    assert exc.value.errno == errno.EPERM
    assert m.log is not None and "hard links are kept between staged files" in m.log.read_text()
    assert not (m.path / "b").exists()


@pytest.mark.parametrize("media", ["cd-r80", "cd-rw80"])
def test_write_through_one_name_during_a_burn(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], media: str
) -> None:
    home["CDFS_FAULT_PAUSE"] = "mastering:6"
    disc = make_disc(media)
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    (mp / "d").mkdir()
    (mp / "a").write_bytes(DATA)
    os.link(mp / "a", mp / "d" / "b")
    os.link(mp / "a", mp / "d" / "c")
    burn = subprocess.Popen(
        [sys.executable, "-m", "cdfs", "burn", "--wait", "--quiet", str(mp)],
        env=m.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while m.status()["burn"]["phase"] != "mastering":
        assert burn.poll() is None and time.monotonic() < deadline, m.status()
        time.sleep(0.01)
    # The snapshot's own hard link does not show.
    linked(mp / "a", mp / "d" / "b", mp / "d" / "c")
    # A write through one name goes to a copy that all names share.
    with open(mp / "d" / "b", "r+b") as fh:
        fh.write(b"NEW")
    linked(mp / "a", mp / "d" / "b", mp / "d" / "c")
    assert (mp / "d" / "c").read_bytes() == b"NEW" + DATA[3:]
    # A new name made during the burn is a name of that file too.
    os.link(mp / "a", mp / "n")
    linked(mp / "a", mp / "d" / "b", mp / "d" / "c", mp / "n")
    os.unlink(mp / "n")  # not held by the burn
    # Renaming a name the burn holds: taken on a rewritable disc, refused
    # on a write-once one (as for any file the burn records).
    shown = [mp / "a", mp / "d" / "b", mp / "d" / "c"]
    if media == "cd-rw80":
        os.rename(mp / "d" / "c", mp / "c2")
        shown[2] = mp / "c2"
    else:
        with pytest.raises(OSError) as exc:
            os.rename(mp / "d" / "c", mp / "c2")
        assert exc.value.errno == errno.EBUSY
    os.link(mp / "a", mp / "n")
    linked(*shown, mp / "n")
    assert m.status()["burn"]["phase"] == "mastering", "the burn left the phase too early"
    out, err = burn.communicate(timeout=300)
    assert burn.returncode == 0, (out, err)
    # The session has the bytes of the snapshot, once, under three names.
    start = sessions_of(disc, m.env)[-1][0]
    xorriso_hardlinks(disc, start, tmp_path / "x")
    linked(tmp_path / "x" / "a", tmp_path / "x" / "d" / "b", tmp_path / "x" / "d" / "c")
    assert (tmp_path / "x" / "a").read_bytes() == DATA
    # The mount shows the changed file, still one file of four names.
    linked(*shown, mp / "n")
    assert (mp / "n").read_bytes() == b"NEW" + DATA[3:]
    assert os.getxattr(mp / "a", "user.cdfs.state") == b"staged"
    assert m.burn().returncode == 0
    m.stop()
    m.start()
    linked(*shown, mp / "n")
    assert (mp / "d" / "b").read_bytes() == b"NEW" + DATA[3:]
    assert os.path.exists(mp / "d" / "c") == (media == "cd-r80")


def test_burned_links_on_a_rewritable_disc_change_together(
    tmp_path: Path, mount: Any, make_disc: Any
) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    (mp / "d").mkdir()
    (mp / "a").write_bytes(b"burned\n")
    os.link(mp / "a", mp / "d" / "b")
    os.link(mp / "a", mp / "c")
    assert m.burn().returncode == 0
    m.stop()
    m.start()
    linked(mp / "a", mp / "d" / "b", mp / "c")
    # A change through one name copies the file up under every name.
    with open(mp / "d" / "b", "ab") as fh:
        fh.write(b"changed\n")
    linked(mp / "a", mp / "d" / "b", mp / "c")
    assert (mp / "a").read_bytes() == b"burned\nchanged\n"
    # Deleting a name of a burned file lowers the others' link count.
    os.unlink(mp / "c")
    linked(mp / "a", mp / "d" / "b")
    assert m.burn().returncode == 0
    start = sessions_of(disc, m.env)[-1][0]
    xorriso_hardlinks(disc, start, tmp_path / "x")
    linked(tmp_path / "x" / "a", tmp_path / "x" / "d" / "b")
    assert (tmp_path / "x" / "a").read_bytes() == b"burned\nchanged\n"
    assert not (tmp_path / "x" / "c").exists()
    m.stop()
    m.start()
    linked(mp / "a", mp / "d" / "b")
    # Deleting a name that is only on the disc: the other shows one link.
    os.unlink(mp / "a")
    assert os.lstat(mp / "d" / "b").st_nlink == 1


def test_mastering_writes_linked_data_once_also_when_a_rewrite_copies_it(tmp_path: Path) -> None:
    """master_session: the names of one file share one extent, the link
    count and a serial number that no other file has; a rewrite (copy_from)
    copies a kept linked file's data once; estimate_sectors counts it once."""

    from cdfs.iso import discread
    from cdfs.iso.mastering import Kind, MasterEntry, estimate_sectors, master_session
    from cdfs.units import Lba

    src = tmp_path / "data"
    src.write_bytes(DATA)

    def file(path: tuple[bytes, ...], **kw: Any) -> MasterEntry:
        return MasterEntry(path, Kind.FILE, 0o644, 1, 2, 10**18, 10**18, **kw)

    entries = [
        MasterEntry((b"d",), Kind.DIR, 0o755, 1, 2, 10**18, 10**18),
        file((b"a",), size=len(DATA), source=src, link=7),
        file((b"d", b"b"), size=len(DATA), source=src, link=7),
        file((b"c",), size=len(DATA), source=src),
        file((b"e",), link=9),
        file((b"d", b"e2"), link=9),
    ]
    first = tmp_path / "first.iso"
    sectors = master_session(entries, first, start=Lba(0), label="links")
    assert sectors <= estimate_sectors(entries) < sectors + sectors_for(len(DATA))
    with first.open("rb") as fp:
        root = discread.read_session(fp, Lba(0))
    a, b, c = root.children[b"a"], root.children[b"d"].children[b"b"], root.children[b"c"]
    e, e2 = root.children[b"e"], root.children[b"d"].children[b"e2"]
    assert a.link == b.link is not None and a.nlink == b.nlink == 2
    assert e.link == e2.link is not None and e.serial != a.serial
    assert c.link is None and c.serial not in (a.serial, e.serial)
    assert a.extents != c.extents
    # A rewrite copies the kept files into a new session: the linked one once.
    kept = [
        entries[0],
        file((b"a",), size=len(DATA), extents=a.extents, link=1),
        file((b"d", b"b"), size=len(DATA), extents=a.extents, link=1),
        file((b"c",), size=len(DATA), extents=c.extents),
    ]
    second = tmp_path / "second.iso"
    with first.open("rb") as disc:
        rewritten = master_session(kept, second, start=Lba(0), label="re", copy_from=disc)
    assert rewritten <= sectors  # the data of a, d/b and c twice, as in the first
    assert rewritten <= estimate_sectors(kept, copied=True)
    xorriso_hardlinks(second, 0, tmp_path / "x")
    linked(tmp_path / "x" / "a", tmp_path / "x" / "d" / "b")
    assert (tmp_path / "x" / "d" / "b").read_bytes() == DATA == (tmp_path / "x" / "c").read_bytes()
