"""Open descriptors on a real mount: files unlinked or replaced while open
stay usable until the last close, and writes by other users clear the
setuid and setgid bits (the checks of pjdfstest's unlink/14 and chmod/12)."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_extract, xorriso_listing

NOBODY = 65534


def available(mp: Path) -> int:
    vfs = os.statvfs(mp)
    return vfs.f_frsize * vfs.f_bavail


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("media", ["cd-r80", "cd-rw80"])
def test_unlinked_file_stays_usable_until_closed(mount: Any, make_disc: Any, media: str) -> None:
    m = mount(make_disc(media))
    mp, f = m.path, m.path / "f"
    os.chmod(mp, 0o755)
    before = available(mp)
    fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"Hello, World!" + b"x" * (1 << 20))
        assert available(mp) < before
        os.unlink(f)
        assert not f.exists()
        st = os.fstat(fd)
        assert (st.st_nlink, st.st_size, stat.S_ISREG(st.st_mode)) == (0, (1 << 20) + 13, True)
        # Its space is no longer counted against the disc, nor are later writes.
        assert available(mp) == before
        os.pwrite(fd, b"y" * (2 << 20), 1 << 20)
        assert available(mp) == before
        assert os.pread(fd, 13, 0) == b"Hello, World!"
        # Attribute changes act on that file only: never on the mount root.
        os.ftruncate(fd, 5)
        os.fchmod(fd, 0o600)
        os.fchown(fd, NOBODY, NOBODY)
        os.utime(fd, ns=(1_500_000_000 * 10**9, 1_600_000_000 * 10**9))
        st = os.fstat(fd)
        assert (stat.S_IMODE(st.st_mode), st.st_mtime, st.st_uid, st.st_size) == (
            0o600,
            1_600_000_000,
            NOBODY,
            5,
        )
        assert mode_of(mp) == 0o755 and os.stat(mp).st_uid == 0
        os.fsync(fd)
        # Reopened through /proc (open by inode), it is the same file.
        again = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
        assert os.read(again, 100) == b"Hello"
        os.close(again)
        again = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        os.pwrite(again, b"J", 0)
        os.close(again)
        assert os.pread(fd, 100, 0) == b"Jello"
        os.truncate(f"/proc/self/fd/{fd}", 4)  # a path: no handle comes with it
        assert os.pread(fd, 100, 0) == b"Jell"
        os.pwrite(fd, b"o", 4)
        # A burn meanwhile leaves it out, and a file of the same name is new.
        f.write_bytes(b"new")
        m.burn()
        assert os.pread(fd, 100, 0) == b"Jello"
    finally:
        os.close(fd)
    assert "'/f'" in xorriso_listing(m.disc)
    out = m.path.parent / "out"
    xorriso_extract(m.disc, out)
    assert (out / "f").read_bytes() == b"new"
    assert f.read_bytes() == b"new"
    assert sorted(os.listdir(mp)) == ["f"]


def test_fchmod_of_unlinked_file_leaves_mount_root_alone(mount: Any) -> None:
    m = mount()
    mp = m.path
    os.chmod(mp, 0o755)
    fd = os.open(mp / "f", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.unlink(mp / "f")
        # The staging tree's root is the mount root (not cached by the kernel).
        root = m.staged()
        root_mtime = os.stat(root).st_mtime_ns
        for change in (
            lambda: os.fchmod(fd, 0o700),
            lambda: os.utime(fd, ns=(10**18, 10**18)),
        ):
            try:
                change()
            finally:  # whatever the answer, the root must not have changed
                st = os.stat(root)
                assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o755, root_mtime)
        st = os.fstat(fd)
        assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o700, 10**18)
    finally:
        os.close(fd)
    assert mode_of(mp) == 0o755


def test_unlinked_file_held_by_a_burn_keeps_its_bytes(mount: Any, tmp_path: Path) -> None:
    # A running burn's snapshot holds a hard link of each staged file it
    # masters (made here by hand): once the name is gone, no descriptor may
    # change those bytes; a writer of its own already has a copy.
    m = mount()
    f = m.path / "f"
    f.write_bytes(b"burn these bytes")
    fd = os.open(f, os.O_RDONLY)
    try:
        os.link(m.staged() / "f", tmp_path / "snapshot-link")
        os.unlink(f)
        for change in (
            lambda: os.open(f"/proc/self/fd/{fd}", os.O_WRONLY),
            lambda: os.truncate(f"/proc/self/fd/{fd}", 0),
        ):
            with pytest.raises(OSError) as err:
                change()
            assert err.value.errno == errno.EBUSY
        assert os.pread(fd, 100, 0) == b"burn these bytes"
    finally:
        os.close(fd)
    assert (tmp_path / "snapshot-link").read_bytes() == b"burn these bytes"


def test_unlink_then_fstat_in_another_descriptor(mount: Any) -> None:
    # pjdfstest unlink/14: write through one descriptor, then unlink while
    # another is open read-only.
    mp = mount().path
    f = mp / "n0"
    os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o644))
    w = os.open(f, os.O_WRONLY)
    os.write(w, b"Hello, World!")
    os.close(w)
    r = os.open(f, os.O_RDONLY)
    os.unlink(f)
    assert os.fstat(r).st_nlink == 0
    assert os.pread(r, 13, 0) == b"Hello, World!"
    os.close(r)
    assert os.listdir(mp) == []


def test_editor_save_keeps_open_descriptor_on_old_file(mount: Any, make_disc: Any) -> None:
    mp = mount(make_disc()).path
    os.chmod(mp, 0o755)
    f = mp / "notes.txt"
    f.write_bytes(b"old text\n")
    fd = os.open(f, os.O_RDONLY)
    try:
        # The editor's save: write a temporary file, rename it over the file.
        run(["bash", "-c", "printf 'new text\\n' > .notes.tmp && mv .notes.tmp notes.txt"], cwd=mp)
        st = os.fstat(fd)
        assert (st.st_nlink, st.st_size) == (0, 9)
        assert os.pread(fd, 100, 0) == b"old text\n"
        os.fchmod(fd, 0o600)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
        assert mode_of(f) == 0o644 and mode_of(mp) == 0o755
        assert f.read_bytes() == b"new text\n"
    finally:
        os.close(fd)
    assert sorted(os.listdir(mp)) == ["notes.txt"]


def test_deleted_or_replaced_disc_files_keep_their_bytes(mount: Any, make_disc: Any) -> None:
    # On a rewritable disc, files on the disc may be deleted and replaced:
    # a descriptor open on one keeps reading what the disc holds.
    m = mount(make_disc("cd-rw80"))
    mp = m.path
    os.chmod(mp, 0o755)
    (mp / "gone.txt").write_bytes(b"burned bytes")
    (mp / "saved.txt").write_bytes(b"burned version")
    m.burn()
    assert os.getxattr(mp / "gone.txt", "user.cdfs.state") == b"disc"
    gone, saved = os.open(mp / "gone.txt", os.O_RDONLY), os.open(mp / "saved.txt", os.O_RDONLY)
    try:
        run(["rm", "gone.txt"], cwd=mp)
        run(["bash", "-c", "echo edited > saved.tmp && mv saved.tmp saved.txt"], cwd=mp)
        for fd, data in ((gone, b"burned bytes"), (saved, b"burned version")):
            st = os.fstat(fd)
            assert (st.st_nlink, st.st_size) == (0, len(data))
            assert os.pread(fd, 100, 0) == data
            # Nothing is staged for it to change: refused, and nothing else changes.
            with pytest.raises(PermissionError):
                os.fchmod(fd, 0o600)
        assert mode_of(mp) == 0o755
        assert (mp / "saved.txt").read_bytes() == b"edited\n"
    finally:
        os.close(gone)
        os.close(saved)
    assert sorted(os.listdir(mp)) == ["saved.txt"]


def nobody_writes(directory: Path, name: str, flags: str) -> int:
    """Write one byte to ``directory/name`` as user and group 65534 (no
    capabilities) through a descriptor opened with ``flags``; the mode its
    fstat shows afterwards."""
    script = (
        "import os, stat, sys\n"
        f"fd = os.open({name!r}, os.{flags})\n"
        "os.write(fd, b'x')\n"
        "print(stat.S_IMODE(os.fstat(fd).st_mode))\n"
    )
    res = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", script],
        cwd=directory,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return int(res.stdout)


@pytest.mark.parametrize("flags", ["O_WRONLY", "O_RDWR"])
def test_writes_by_other_users_clear_setuid_and_setgid(mount: Any, flags: str) -> None:
    # pjdfstest chmod/12: O_WRONLY descriptors bypass the page cache
    # (direct_io), where the kernel leaves clearing the bits to cdfs.
    m = mount(None, "-o", "allow_other")
    d = m.path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    for before, after in (
        (0o4777, 0o777),
        (0o2777, 0o777),
        (0o6777, 0o777),
        (0o2767, 0o2767),  # setgid without group-execute marks locking, not privilege
        (0o0777, 0o777),
    ):
        f = d / f"f{before:o}"
        f.write_bytes(b"")
        os.chmod(f, before)
        assert nobody_writes(d, f.name, flags) == after, f"{before:o}"
        assert mode_of(f) == after, f"{before:o}"
    # A writer with CAP_FSETID (root here) keeps them.
    f = d / "root"
    f.write_bytes(b"")
    os.chmod(f, 0o6777)
    fd = os.open(f, getattr(os, flags))
    os.write(fd, b"x")
    os.close(fd)
    assert mode_of(f) == 0o6777


def test_mount_options(mount: Any, make_disc: Any, home: dict[str, str], tmp_path: Path) -> None:
    mp, disc = tmp_path / "refused", make_disc(name="refused.iso")
    mp.mkdir()
    for bad in ("allow_other,ro", "default_permissions", "allow_root"):
        res = cdfs(["mount", "--drive", str(disc), "-o", bad, str(mp)], home, check=False)
        assert res.returncode == 2, res
        assert "unknown mount option" in res.stderr and "allow_other" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert not os.path.ismount(mp)
    # Other users reach the mount with allow_other only, and then the modes
    # decide (default_permissions).
    for options, readable in (((), ()), (("-o", "allow_other"), ("open.txt",))):
        m = mount(make_disc(name=f"d{len(options)}.iso"), *options, name=f"m{len(options)}")
        os.chmod(m.path, 0o755)
        (m.path / "open.txt").write_bytes(b"shared")
        (m.path / "private.txt").write_bytes(b"secret")
        os.chmod(m.path / "private.txt", 0o600)
        script = (
            "import sys\n"
            "for name in ('open.txt', 'private.txt'):\n"
            "    try:\n"
            "        open(name, 'rb').read()\n"
            "        print(name)\n"
            "    except OSError:\n"
            "        pass\n"
        )
        res = subprocess.run(
            ["/usr/bin/python3", "-I", "-c", script],
            cwd=m.path,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert tuple(res.stdout.split()) == readable, res
        m.stop()


def test_allow_other_needs_fuse_conf_for_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdfs.errors import UsageError
    from cdfs.mountopts import parse_mount_options

    conf = tmp_path / "fuse.conf"
    conf.write_text("# user_allow_other\nmount_max = 1000\n")
    assert parse_mount_options(["allow_other"], conf) == {"allow_other": True}  # root
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(UsageError, match=f"user_allow_other in {conf}"):
        parse_mount_options(["allow_other"], conf)
    conf.write_text("  user_allow_other  # let users share their mounts\n")
    assert parse_mount_options(["allow_other", ""], conf) == {"allow_other": True}
    assert parse_mount_options([], tmp_path / "missing") == {}
