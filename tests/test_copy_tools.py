"""Everyday copying tools into folders that are already on the disc.

rsync -a/-aX/-aHAX, cp -au, cp -a and tar -x add files to a burned folder
and set its mode and times, on a CD-R and a CD-RW: each exits 0.  The
folder's new mode and times are staged (a private file of the staging
area), shown by the mount, kept by a remount and by a failed burn, and
recorded by the next session: read back with xorriso and isoinfo.  Burned
files of write-once media show no write bits; the disc keeps their modes.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from test_fault_pause import kill_9
from test_multisession import sessions_of

from conftest import Mount, cdfs, run, xorriso_extract

ISOINFO_ENTRY = re.compile(r"^([-dl][-rwxsStT]{9})\s+\d+\s+(\d+)\s+(\d+)\s.*\]\s+(.+?)\s*$")


def isoinfo_modes(disc: Path, start: int) -> dict[str, str]:
    """Path -> "mode uid gid", as ``isoinfo -R -l`` lists the session at ``start``."""
    out: dict[str, str] = {}
    where = ""
    for line in run(["isoinfo", "-i", str(disc), "-T", str(start), "-R", "-l"]).stdout.splitlines():
        if line.startswith("Directory listing of /"):
            where = line[len("Directory listing of /") :]
            continue
        m = ISOINFO_ENTRY.match(line)
        if m and m[4] not in (".", ".."):
            out[where + m[4]] = f"{m[1]} {m[2]} {m[3]}"
    return out


def read_back(disc: Path, env: dict[str, str], dest: Path) -> Path:
    """The disc's last session, extracted by xorriso (modes and times too)."""
    xorriso_extract(disc, dest, sessions_of(disc, env)[-1][0])
    return dest


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def dir_attrs(path: Path) -> tuple[int, int]:
    """(permission bits, mtime in seconds) of a directory."""
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), int(st.st_mtime)


def set_dir(path: Path, mode: int, mtime: int) -> None:
    os.chmod(path, mode)
    os.utime(path, (mtime + 7, mtime))


def add_files(root: Path, tag: str) -> None:
    """New files in ``root`` and ``root/sub``, with whole-second times, as
    files from an archive or a camera's card have (cp -u compares times to
    the second: it cannot learn the disc's precision from a burned file)."""
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i, p in enumerate((root / f"{tag}.txt", root / "sub" / f"{tag}.bin")):
        p.write_bytes(os.urandom(3000 + i) + tag.encode())
        os.utime(p, (1_500_000_000 + i, 1_400_000_000 + i))


@pytest.mark.parametrize("media", ["cd-r80", "cd-rw80"])
def test_copy_tools_into_burned_folders(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], media: str
) -> None:
    disc = make_disc(media)
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    src = tmp_path / "src"
    add_files(src, "first")
    set_dir(src, 0o755, 1_100_000_000)
    run(["rsync", "-a", f"{src}/", f"{mp}/pkg/"])
    m.burn()
    burned = mp / "pkg" / "first.txt"
    # Item 8: a burned file of write-once media shows no write bits (the
    # disc keeps its mode); on rewritable media it can be changed.
    shown = stat.S_IMODE(os.stat(burned).st_mode)
    assert shown == (0o444 if media == "cd-r80" else 0o644)
    # Asking for what the disc has succeeds and stages nothing (rsync -a
    # sets the mode of every file it finds up to date).
    os.chmod(burned, 0o644)
    os.chmod(burned, shown)
    st = os.stat(burned)
    os.utime(burned, (st.st_atime + 0.5, st.st_mtime + 0.25))
    assert os.getxattr(burned, "user.cdfs.state") == b"disc"
    assert stat.S_IMODE(os.stat(burned).st_mode) == shown
    expected = files(src)

    tools = [
        ["rsync", "-a", f"{src}/", f"{mp}/pkg/"],
        ["rsync", "-aX", f"{src}/", f"{mp}/pkg/"],
        ["rsync", "-aHAX", f"{src}/", f"{mp}/pkg/"],
        ["cp", "-au", f"{src}/.", f"{mp}/pkg/"],
    ]
    for i, cmd in enumerate(tools):
        add_files(src, f"t{i}")
        set_dir(src, (0o750, 0o700, 0o711, 0o755)[i], 1_200_000_000 + i * 1000)
        set_dir(src / "sub", (0o700, 0o750, 0o755, 0o710)[i], 1_210_000_000 + i * 1000)
        res = run(cmd, check=False)
        assert res.returncode == 0, (cmd, res.stderr)
        assert dir_attrs(mp / "pkg") == dir_attrs(src), cmd
        assert dir_attrs(mp / "pkg" / "sub") == dir_attrs(src / "sub"), cmd
        expected = files(src)
        assert files(mp / "pkg") == expected, cmd
    # cp -a and tar -x of new files only (they would overwrite burned ones).
    extra = tmp_path / "extra" / "pkg"
    add_files(extra, "cp")
    set_dir(extra / "sub", 0o751, 1_300_000_000)
    set_dir(extra, 0o705, 1_310_000_000)
    res = run(["cp", "-a", f"{extra}/.", f"{mp}/pkg/"], check=False)
    assert res.returncode == 0, res.stderr
    assert dir_attrs(mp / "pkg") == (0o705, 1_310_000_000)
    tarred = tmp_path / "tarred" / "pkg"
    add_files(tarred, "tar")
    set_dir(tarred / "sub", 0o715, 1_320_000_000)
    set_dir(tarred, 0o750, 1_330_000_000)
    run(["tar", "-C", str(tarred.parent), "-cf", str(tmp_path / "x.tar"), "pkg"])
    res = run(["tar", "-C", str(mp), "-xf", str(tmp_path / "x.tar")], check=False)
    assert res.returncode == 0, res.stderr
    want = {"pkg": (0o750, 1_330_000_000), "pkg/sub": (0o715, 1_320_000_000)}
    assert {d: dir_attrs(mp / d) for d in want} == want
    expected = {**expected, **files(extra), **files(tarred)}
    assert files(mp / "pkg") == expected

    # Staged: a remount shows them; the staged-attrs file is private.
    staging = Path(m.status()["staging_dir"])
    assert stat.S_IMODE(os.lstat(staging / "dir-attrs.json").st_mode) == 0o600
    m.stop()
    m = mount(disc, "--no-burn-on-unmount")
    assert {d: dir_attrs(mp / d) for d in want} == want
    m.burn()
    assert not (staging / "dir-attrs.json").exists()  # applied: nothing left staged
    assert {d: dir_attrs(mp / d) for d in want} == want
    out = read_back(disc, home, tmp_path / "out")
    assert files(out / "pkg") == expected
    assert {d: dir_attrs(out / d) for d in want} == want
    listed = isoinfo_modes(disc, sessions_of(disc, home)[-1][0])
    assert listed["pkg"] == "drwxr-x--- 0 0" and listed["pkg/sub"] == "drwx--xr-x 0 0"
    # Copying what is there onto it again stages nothing.
    run(["rsync", "-a", f"{mp}/pkg/", f"{tmp_path}/copy/"])
    run(["rsync", "-aX", f"{tmp_path}/copy/", f"{mp}/pkg/"])
    assert not (staging / "dir-attrs.json").exists()
    assert list(m.staged().iterdir()) == []
    # The disc keeps the burned files' own modes, whatever the mount shows.
    assert listed["pkg/first.txt"] == "-rw-r--r-- 0 0"
    for name in ("first.txt", "sub/first.bin", "tar.txt"):
        mode = stat.S_IMODE(os.stat(mp / "pkg" / name).st_mode)
        assert mode == (0o444 if media == "cd-r80" else 0o644), name


def test_staged_folder_attributes_outlive_a_failed_burn_and_stay_private(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "d").mkdir()
    (m.path / "d" / "f.txt").write_text("on disc\n")
    m.burn()
    staging = Path(m.status()["staging_dir"])
    m.stop()
    # A link planted where cdfs keeps the staged changes is neither read
    # nor written through.
    victim = tmp_path / "victim.json"
    planted = json.dumps({"dirs": {"d": {"mode": 0o777}}})
    victim.write_text(planted)
    os.symlink(victim, staging / "dir-attrs.json")
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 4096})
    m = mount(disc, "--no-burn-on-unmount")
    d = m.path / "d"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o755
    os.chmod(d, 0o750)
    os.utime(d, (1_234_567_000, 1_234_567_890))
    os.chown(d, 1234, 5678)
    assert victim.read_text() == planted
    assert m.status()["staged_folder_changes"] == 1
    assert (
        "Folders:      1 on the disc with a staged mode, owner or time"
        in (m.path / ".status").read_text()
    )
    st = os.lstat(staging / "dir-attrs.json")
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    # Only a folder's attributes are staged: a burn records them, and one
    # that fails keeps them.
    res = m.burn(check=False)
    assert res.returncode == 1, res.stderr
    assert dir_attrs(d) == (0o750, 1_234_567_890)
    m.stop()
    del home["CDFS_EMULATED_FAULTS"]
    m = mount(disc, "--no-burn-on-unmount")
    assert dir_attrs(d) == (0o750, 1_234_567_890)
    assert os.getxattr(d, "user.cdfs.state") == b"disc"
    m.burn()
    assert dir_attrs(d) == (0o750, 1_234_567_890)
    assert not (staging / "dir-attrs.json").exists()
    assert m.status()["staged_folder_changes"] == 0
    assert "Folders:" not in (m.path / ".status").read_text()
    out = read_back(disc, home, tmp_path / "out")
    assert dir_attrs(out / "d") == (0o750, 1_234_567_890)
    assert (os.stat(d).st_uid, os.stat(d).st_gid) == (1234, 5678)
    listed = isoinfo_modes(disc, sessions_of(disc, home)[-1][0])
    # (isoinfo shows the owner and group in octal.)
    assert listed["d"] == f"drwxr-x--- {1234:o} {5678:o}"
    assert listed["d/f.txt"] == "-rw-r--r-- 0 0"
    assert (out / "d" / "f.txt").read_text() == "on disc\n"
    # The burned file stays as it is on write-once media.
    assert _errno(os.chmod, d / "f.txt", 0o600) == errno.EPERM
    assert _errno(os.utime, d / "f.txt", (0, 0)) == errno.EPERM


@pytest.mark.parametrize("phase", ["recording", "verifying"])
def test_a_killed_burn_keeps_folder_attributes_until_the_disc_has_them(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], phase: str
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount", name="m1")
    (m.path / "d").mkdir()
    (m.path / "d" / "f.txt").write_text("x")
    m.burn()
    m.stop()
    home["CDFS_FAULT_PAUSE"] = f"{phase}:60"
    m = mount(disc, "--no-burn-on-unmount", name="m1")
    os.chmod(m.path / "d", 0o700)
    (m.path / "new.txt").write_text("new")
    staging = Path(m.status()["staging_dir"])
    cdfs(["burn", str(m.path)], home)
    m.wait_for(lambda s: s["burn"]["phase"] == phase)
    kill_9(m)  # held before recording anything, or after the session is on the disc
    del home["CDFS_FAULT_PAUSE"]
    m = mount(disc, "--no-burn-on-unmount", name="m2")
    assert stat.S_IMODE(os.stat(m.path / "d").st_mode) == 0o700
    # Recorded (the remount finished that burn): nothing left to stage.
    assert (staging / "dir-attrs.json").exists() == (phase == "recording")
    m.burn()
    assert not (staging / "dir-attrs.json").exists()
    out = read_back(disc, home, tmp_path / "out")
    assert stat.S_IMODE(os.stat(out / "d").st_mode) == 0o700
    assert (out / "new.txt").read_text() == "new"


def test_staged_folder_attributes_file_is_appended_compacted_and_repaired(
    mount: Any, make_disc: Any
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    for name in ("d1", "d2"):
        (m.path / name).mkdir()
    m.burn()
    staging = Path(m.status()["staging_dir"])
    attrs = staging / "dir-attrs.json"
    for i in range(301):  # one line appended per change, compacted now and then
        os.chmod(m.path / "d1", 0o700 if i % 2 else 0o750)
    os.chmod(m.path / "d2", 0o711)
    assert len(attrs.read_bytes().splitlines()) <= 2 + 64 + 1
    m.stop()
    # A daemon killed in the middle of a line: the line is ignored, the
    # file written anew, and what came before is kept.
    with attrs.open("ab") as f:
        f.write(b'{"change": {"mode": 511}, "rel": "d')
    m = mount(disc, "--no-burn-on-unmount")
    assert stat.S_IMODE(os.stat(m.path / "d1").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(m.path / "d2").st_mode) == 0o711
    assert attrs.read_bytes().endswith(b"\n") and b"511" not in attrs.read_bytes()
    assert stat.S_IMODE(os.lstat(attrs).st_mode) == 0o600
    os.chmod(m.path / "d2", 0o701)
    m.stop()
    m = mount(disc, "--no-burn-on-unmount")
    assert stat.S_IMODE(os.stat(m.path / "d2").st_mode) == 0o701
    m.burn()
    assert not attrs.exists()
    assert stat.S_IMODE(os.stat(m.path / "d1").st_mode) == 0o750


def test_an_unmount_burns_folder_attributes_staged_alone(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc)
    (m.path / "d").mkdir()
    (m.path / "d" / "f.txt").write_text("x")
    m.burn()
    os.chmod(m.path / "d", 0o700)
    assert list(m.staged().iterdir()) == []  # no staged names
    sessions = len(sessions_of(disc, home))
    assert m.stop() == 0  # burns on unmount
    assert len(sessions_of(disc, home)) == sessions + 1
    out = read_back(disc, home, tmp_path / "out")
    assert stat.S_IMODE(os.stat(out / "d").st_mode) == 0o700
    assert (out / "d" / "f.txt").read_text() == "x"


def test_cdfs_attributes_are_read_by_name_not_listed(tmp_path: Path, mount: Any) -> None:
    m: Mount = mount()
    mp = m.path
    (mp / "d").mkdir()
    (mp / "d" / "f.txt").write_text("x")
    for p in (mp, mp / "d", mp / "d" / "f.txt"):
        assert os.listxattr(p) == [], p
    assert os.getxattr(mp / "d" / "f.txt", "user.cdfs.state") == b"staged"
    assert json.loads(os.getxattr(mp, "user.cdfs.status"))["media"]
    assert _errno(os.removexattr, mp / "d" / "f.txt", "user.cdfs.state") == errno.EPERM
    assert _errno(os.removexattr, mp / "d" / "f.txt", "user.other") == errno.ENODATA
    # Copying off the mount and onto it with every attribute kept.
    res = run(["cp", "-a", "--preserve=all", str(mp / "d"), str(tmp_path / "copy")], check=False)
    assert res.returncode == 0, res.stderr
    assert os.listxattr(tmp_path / "copy" / "f.txt") == []
    res = run(["cp", "-a", "--preserve=all", str(tmp_path / "copy"), str(mp / "e")], check=False)
    assert res.returncode == 0, res.stderr
    assert (mp / "e" / "f.txt").read_text() == "x"


def _errno(fn: Any, *args: Any) -> int:
    try:
        fn(*args)
    except OSError as exc:
        return exc.errno or 0
    return 0
