"""Real mounts driven by real programs; burned discs checked by independent
readers (xorriso, isoinfo, bsdtar, 7z)."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_extract, xorriso_listing

NAMES = [
    "plain.txt",
    "Ünïcödé façade.txt",
    "日本語のファイル名.txt",
    "Ελληνικά και русский.md",
    "emoji 🎵 song.mp3",
    "x" * 120 + ".flac",
    "with space and 'quotes'.txt",
]


def make_tree(root: Path) -> None:
    """A tree with Unicode and long names, nesting, empty files and dirs,
    a symlink, and fixed mtimes."""
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(NAMES):
        (root / name).write_bytes(f"{name}\n".encode() * (i * 300 + 1))
    deep = root / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "deep.bin").write_bytes(os.urandom(100_000))
    (root / "empty").write_bytes(b"")
    (root / "emptydir").mkdir()
    (root / "link").symlink_to("plain.txt")
    big = root / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_600_000_000 + i * 3600, 1_500_000_000 + i * 7919), follow_symlinks=False)


def tree_of(root: Path, *, with_times: bool = True) -> dict[str, Any]:
    """name -> (kind, content or target, mtime seconds) for a whole tree."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            mtime = int(st.st_mtime) if with_times else 0
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), mtime)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", None, mtime if with_times and not dirnames else 0)
            else:
                out[rel] = ("file", p.read_bytes(), mtime)
    return out


def files_only(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tree.items() if v[0] != "dir"}


def extracted(tree: dict[str, Any]) -> dict[str, Any]:
    """xorriso -extract does not restore the mtime of symlinks: compare
    their targets only (the mount's own view checks their times)."""
    return {k: (v if v[0] != "link" else (*v[:2], 0)) for k, v in files_only(tree).items()}


def errno_of(fn: Any, *args: Any) -> int:
    try:
        fn(*args)
    except OSError as exc:
        return exc.errno or 0
    return 0


def test_copy_in_burn_and_read_back(tmp_path: Path, mount: Any) -> None:
    src = tmp_path / "src"
    make_tree(src)
    m = mount()
    run(["cp", "-a", f"{src}/.", str(m.path)])
    assert files_only(tree_of(m.path)) == files_only(tree_of(src))
    assert os.getxattr(m.path / "plain.txt", "user.cdfs.state") == b"staged"

    res = m.burn("--label", "Holiday 2026")
    assert "burned" in res.stdout
    last = m.status()["last_burn"]
    assert last["ok"], last
    assert last["label"] == "Holiday 2026"
    # Burned files leave the staging area and are now read from the disc.
    assert os.getxattr(m.path / "plain.txt", "user.cdfs.state") == b"disc"
    assert list(m.staged().iterdir()) == []
    assert files_only(tree_of(m.path)) == files_only(tree_of(src))

    # Independent readers see the same tree, bytes and mtimes.
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    assert extracted(tree_of(out)) == extracted(tree_of(src))
    listing = xorriso_listing(m.disc)
    for name in NAMES:
        if "'" not in name:  # xorriso quotes those
            assert name in listing
    iso_rr = run(["isoinfo", "-i", str(m.disc), "-R", "-l"]).stdout
    assert "日本語のファイル名.txt" in iso_rr and "deep.bin" in iso_rr
    joliet = run(["isoinfo", "-i", str(m.disc), "-J", "-l"]).stdout  # no UTF-8 output
    assert "plain.txt" in joliet and "with space and 'quotes'.txt" in joliet
    tar = run(["bsdtar", "tf", str(m.disc)]).stdout.splitlines()
    assert "a/b/c/d/deep.bin" in tar and "Ünïcödé façade.txt" in tar
    seven = run(["7z", "l", str(m.disc)]).stdout  # 7z reads the Joliet tree
    assert "deep.bin" in seven and "日本語のファイル名.txt" in seven
    info = json.loads(cdfs(["media", "info", "--json", str(m.disc)], m.env).stdout)
    assert info["state"] == "appendable" and len(info["sessions"]) == 1


def test_real_programs(tmp_path: Path, mount: Any) -> None:
    m = mount()
    mp = m.path
    src = tmp_path / "src"
    make_tree(src)
    # rsync -a, then mv, rm, redirection, append, an editor's save (sed -i
    # writes a temporary file and renames it over the original).
    run(["rsync", "-a", f"{src}/", f"{mp}/r/"])
    assert files_only(tree_of(mp / "r")) == files_only(tree_of(src))
    run(["mv", str(mp / "r" / "a"), str(mp / "moved")])
    assert (mp / "moved" / "b" / "c" / "d" / "deep.bin").read_bytes() == (
        src / "a" / "b" / "c" / "d" / "deep.bin"
    ).read_bytes()
    run(["rm", "-r", str(mp / "r" / "emptydir"), str(mp / "r" / "big.bin")])
    assert not (mp / "r" / "big.bin").exists()
    run(["sh", "-c", f"echo hello > '{mp}/note.txt' && echo world >> '{mp}/note.txt'"])
    assert (mp / "note.txt").read_text() == "hello\nworld\n"
    run(["sed", "-i", "s/world/there/", str(mp / "note.txt")])
    assert (mp / "note.txt").read_text() == "hello\nthere\n"
    tmp = mp / ".note.txt.swp"
    tmp.write_text("saved by an editor\n")
    os.rename(tmp, mp / "note.txt")
    assert (mp / "note.txt").read_text() == "saved by an editor\n"
    os.truncate(mp / "note.txt", 5)
    assert (mp / "note.txt").read_text() == "saved"
    for bad in (-3_000_000_000, 6_000_000_000):  # before 1900, after 2155
        assert errno_of(os.utime, mp / "note.txt", (bad, bad)) == errno.EINVAL
    os.chmod(mp / "note.txt", 0o600)
    assert stat.S_IMODE((mp / "note.txt").stat().st_mode) == 0o600
    os.utime(mp / "note.txt", ns=(1_000_000_000_000_000_000, 1_234_567_890_000_000_000))
    assert (mp / "note.txt").stat().st_mtime_ns == 1_234_567_890_000_000_000
    before = tree_of(mp)
    m.burn()
    assert tree_of(mp) == before
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    assert extracted(tree_of(out)) == extracted(before)


def test_write_once_rules(tmp_path: Path, mount: Any) -> None:
    m = mount()
    mp = m.path
    (mp / "dir").mkdir()
    (mp / "dir" / "f.txt").write_text("on disc\n")
    m.burn()
    f = mp / "dir" / "f.txt"
    assert errno_of(os.unlink, f) == errno.EPERM
    assert errno_of(os.rename, f, mp / "dir" / "g.txt") == errno.EPERM
    assert errno_of(os.rename, mp / "dir", mp / "dir2") == errno.EPERM
    assert errno_of(os.rmdir, mp / "dir") in (errno.EPERM, errno.ENOTEMPTY)
    assert errno_of(os.chmod, f, 0o777) == errno.EPERM
    assert errno_of(os.truncate, f, 0) == errno.EPERM
    assert errno_of(open, f, "a") == errno.EPERM
    assert errno_of(open, f, "w") == errno.EPERM
    assert run(["sh", "-c", f"echo x >> '{f}'"], check=False).returncode != 0
    (mp / "new.txt").write_text("staged\n")
    assert errno_of(os.rename, mp / "new.txt", f) == errno.EPERM
    assert f.read_text() == "on disc\n"
    # New names may be added inside burned directories.
    (mp / "dir" / "added.txt").write_text("added later\n")
    (mp / "dir" / "sub").mkdir()
    assert sorted(os.listdir(mp / "dir")) == ["added.txt", "f.txt", "sub"]
    assert os.getxattr(mp / "dir" / "added.txt", "user.cdfs.state") == b"staged"
    assert os.getxattr(mp / "dir", "user.cdfs.state") == b"disc"


def test_refused_file_types(mount: Any) -> None:
    m = mount()
    mp = m.path
    (mp / "f").write_text("x")
    assert errno_of(os.mkfifo, mp / "fifo") == errno.EPERM
    assert errno_of(os.mknod, mp / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 3)) == errno.EPERM
    # Hard links to staged files are kept (tests/test_hardlinks.py); to a
    # symlink they are not.
    os.symlink("f", mp / "sl")
    assert errno_of(lambda: os.link(mp / "sl", mp / "hard", follow_symlinks=False)) == errno.EPERM
    import socket

    s = socket.socket(socket.AF_UNIX)
    try:
        assert errno_of(s.bind, str(mp / "sock")) == errno.EPERM
    finally:
        s.close()
    assert sorted(os.listdir(mp)) == ["f", "sl"]  # control files are not listed


def test_attributes_cdfs_does_not_keep(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc(), "--debug")
    d = m.path / "d"
    d.mkdir()
    for i in range(40):
        (d / f"f{i}").write_bytes(b"x")
    # cdfs keeps no SELinux labels, ACLs or capabilities: "not supported"
    # (so that ls stops asking); other user attributes simply do not exist.
    for name in ("security.selinux", "system.posix_acl_access", "security.capability"):
        assert errno_of(os.getxattr, d / "f0", name) == errno.EOPNOTSUPP, name
    assert errno_of(os.getxattr, d / "f0", "user.other") == errno.ENODATA
    assert os.getxattr(d / "f0", "user.cdfs.state") == b"staged"
    assert m.log is not None
    asked = m.log.read_text(errors="replace").count("opcode: GETXATTR")
    listing = run(["ls", "-l", str(d)]).stdout
    assert listing.count(" f") == 40 and "+" not in listing.split("\n")[1][:11]
    # ls asks the label and the ACL of the first file only, not of all 40.
    assert m.log.read_text(errors="replace").count("opcode: GETXATTR") - asked <= 4


def test_write_only_and_cached_handles_agree(mount: Any) -> None:
    # Write-only handles bypass the page cache (cp, dd, >, >>); a read-write
    # handle and a shared mapping of the same file must still see the bytes.
    import mmap

    p = mount().path / "f"
    p.write_bytes(b"a" * 8192)
    rw = os.open(p, os.O_RDWR)
    try:
        assert os.pread(rw, 4, 0) == b"aaaa"
        with mmap.mmap(rw, 8192) as mapped:
            assert mapped[:4] == b"aaaa"
            wo = os.open(p, os.O_WRONLY)
            os.pwrite(wo, b"bbbb", 0)
            os.close(wo)
            assert os.pread(rw, 4, 0) == b"bbbb"
            assert mapped[:4] == b"bbbb"
            mapped[4:8] = b"cccc"  # a shared writable mapping still works
            mapped.flush()
        with open(p, "ab") as f:
            f.write(b"zz")
        assert os.fstat(rw).st_size == 8194
        assert os.pread(rw, 10, 0) == b"bbbbccccaa"
        assert os.pread(rw, 4, 8190) == b"aazz"
    finally:
        os.close(rw)
    assert p.read_bytes() == b"bbbbcccc" + b"a" * 8184 + b"zz"


def test_df_and_enospc(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc("cd-r74"))
    mp = m.path
    vfs = os.statvfs(mp)
    assert vfs.f_frsize * vfs.f_blocks == 333_000 * 2048
    free0 = vfs.f_frsize * vfs.f_bavail
    assert 600_000_000 < free0 < 333_000 * 2048
    (mp / "keep.txt").write_bytes(b"k" * 10_000)
    free1 = os.statvfs(mp).f_bavail * 2048
    assert free1 <= free0 - 10_240
    # A sparse 600 MB file fits; 100 MB more does not.
    with open(mp / "huge", "wb") as f:
        f.truncate(600_000_000)
    assert errno_of(os.truncate, mp / "huge", 700_000_000) == errno.ENOSPC
    res = run(["dd", "if=/dev/zero", f"of={mp}/more", "bs=1M", "count=100"], check=False)
    assert res.returncode != 0 and "No space left" in res.stderr
    assert (mp / "keep.txt").read_bytes() == b"k" * 10_000
    assert (mp / "huge").stat().st_size == 600_000_000
    assert os.statvfs(mp).f_bavail * 2048 < 50_000_000


def test_status_file_and_command(mount: Any) -> None:
    m = mount()
    mp = m.path
    (mp / "a.txt").write_bytes(b"a" * 5000)
    text = (mp / ".status").read_text()
    for word in (
        "CD-R 80 min",
        "blank",
        "Capacity",
        "Free",
        "Staged:       1 file,",
        "Last burn:    none yet",
    ):
        assert word in text, text
    s = json.loads(cdfs(["status", "--json", str(mp)], m.env).stdout)
    assert s["media"] == "cd-r80" and s["state"] == "blank"
    assert s["staged_files"] == 1 and s["staged_bytes"] == 5000
    assert s["capacity_bytes"] == 360_000 * 2048
    human = cdfs(["status", str(mp)], m.env).stdout
    assert "Staged:       1 file, 5.0 kB" in human
    m.burn()
    text = (mp / ".status").read_text()
    assert "appendable, 1 session" in text and "succeeded" in text, text
    assert errno_of(open, mp / ".status", "w") in (errno.EACCES, errno.EPERM)
    assert errno_of(os.unlink, mp / ".burn") == errno.EPERM


def test_touch_burn_and_bad_requests(mount: Any) -> None:
    m = mount()
    mp = m.path
    (mp / "x.txt").write_text("x")
    res = run(["sh", "-c", f"echo 'colour=blue' > '{mp}/.burn'"], check=False)
    assert res.returncode != 0
    last = m.status()["last_burn"]
    assert not last["ok"] and "colour" in last["message"]
    assert (mp / "x.txt").read_text() == "x"
    run(["touch", str(mp / ".burn")])
    for _ in range(300):
        last = m.status()["last_burn"]
        if last and last["ok"]:
            break
        import time

        time.sleep(0.1)
    assert last and last["ok"], last
    assert os.getxattr(mp / "x.txt", "user.cdfs.state") == b"disc"
    res = cdfs(["burn", "--label", "", str(mp)], m.env, check=False)
    assert res.returncode != 0 and "label" in res.stderr.lower()


def test_staging_kept_across_remounts(mount: Any, make_disc: Any) -> None:
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "wait.txt").write_text("waiting\n")
    assert m.stop() == 0
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "blank"
    m2 = mount(disc)
    assert (m2.path / "wait.txt").read_text() == "waiting\n"
    assert os.getxattr(m2.path / "wait.txt", "user.cdfs.state") == b"staged"
    # Plain fusermount3 -u burns what is staged before the daemon exits.
    assert m2.stop() == 0
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "appendable"
    assert "wait.txt" in xorriso_listing(disc)


def test_background_mount_and_umount(tmp_path: Path, home: dict[str, str], make_disc: Any) -> None:
    disc = make_disc()
    mp = tmp_path / "bg"
    mp.mkdir()
    try:
        cdfs(["mount", "--drive", str(disc), str(mp)], home, timeout=60)
        assert os.path.ismount(mp)
        (mp / "bg.txt").write_text("background\n")
        res = cdfs(["umount", "--quiet", str(mp)], home, timeout=300)
        assert "burned 1 file (" in res.stdout
        assert not os.path.ismount(mp)
        assert "bg.txt" in xorriso_listing(disc)
    finally:
        subprocess.run(
            ["fusermount3", "-u", "-z", str(mp)], capture_output=True, timeout=30, check=False
        )


def test_default_drive_is_created(tmp_path: Path, home: dict[str, str]) -> None:
    mp = tmp_path / "def"
    mp.mkdir()
    try:
        cdfs(["mount", str(mp)], home, timeout=60)
        s = json.loads(cdfs(["status", "--json", str(mp)], home).stdout)
        assert s["media"] == "cd-r80" and s["state"] == "blank"
        assert Path(home["XDG_DATA_HOME"], "cdfs", "default-disc.iso").exists()
        cdfs(["umount", str(mp)], home, timeout=120)
    finally:
        subprocess.run(
            ["fusermount3", "-u", "-z", str(mp)], capture_output=True, timeout=30, check=False
        )


def test_errors_are_one_line(tmp_path: Path, home: dict[str, str]) -> None:
    res = cdfs(["mount", "--drive", str(tmp_path / "nope.iso"), str(tmp_path)], home, check=False)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "nope.iso" in res.stderr
    res = cdfs(["status", str(tmp_path)], home, check=False)
    assert res.returncode != 0 and "not a cdfs mount" in res.stderr
    res = cdfs(["media", "create", str(tmp_path / "d.iso"), "--type", "floppy"], home, check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr


@pytest.mark.parametrize("media", ["cd-r74", "dvd+r", "bd-re"])
def test_media_create_and_info(tmp_path: Path, home: dict[str, str], media: str) -> None:
    disc = tmp_path / f"{media}.iso"
    cdfs(["media", "create", str(disc), "--type", media], home)
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)
    assert info["media"] == media and info["state"] == "blank" and info["sessions"] == []
    assert disc.stat().st_blocks * 512 < 1_000_000  # sparse
    text = cdfs(["media", "info", str(disc)], home).stdout
    assert "blank" in text
    res = cdfs(["media", "create", str(disc), "--type", media], home, check=False)
    assert res.returncode != 0 and "Traceback" not in res.stderr
