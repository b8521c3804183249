"""What ``cdfs mount`` checks before it mounts, and what a failed attempt
leaves behind: nothing (issue 11, items 7 and 11).  Every case runs the
real command, in the background as users run it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdfs.mountcheck import stash_room_warning

from conftest import cdfs, run, xorriso_listing

NOBODY = 65534


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its mode and size."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            st = os.lstat(Path(dirpath) / name)
            out[os.path.relpath(Path(dirpath) / name, root)] = (st.st_mode, st.st_size)
    return out


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture
def unmount_after(tmp_path: Path) -> Iterator[list[Path]]:
    """Mount points to unmount (lazily) after the test; the daemons then end."""
    mps: list[Path] = []
    yield mps
    for mp in mps:
        if os.path.ismount(mp):
            run(["fusermount3", "-u", "-z", str(mp)], check=False, timeout=30)


# -- item 11: a failed --drive leaves nothing behind --------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["mount", "--drive", "/nonexistent", "MNT"],
        ["mount", "--drive", "/dev/sr9", "MNT"],
        ["mount", "-f", "--drive", "/dev/sr9", "MNT"],
        ["burn-image", "IMAGE", "--drive", "/dev/sr9"],
        ["erase", "--yes", "/dev/sr9"],
    ],
)
def test_a_failed_drive_leaves_no_staging_area_or_log(
    tmp_path: Path, home: dict[str, str], command: list[str]
) -> None:
    if os.path.exists("/dev/sr9"):
        pytest.skip("this machine has a /dev/sr9")
    (tmp_path / "mnt").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_text("f\n")
    image = tmp_path / "image.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(image), str(tmp_path / "src")])
    assert image.is_file()
    # What a user already has: another recorder's staging area and log.
    cdfs(["media", "create", str(tmp_path / "other.iso"), "--type", "cd-rw80"], home)
    cdfs(["mount", "--drive", str(tmp_path / "other.iso"), str(tmp_path / "mnt")], home)
    cdfs(["umount", str(tmp_path / "mnt")], home)  # returns once its daemon is done
    homes = tmp_path / "home"
    before = tree(homes)
    args = [{"MNT": str(tmp_path / "mnt"), "IMAGE": str(image)}.get(arg, arg) for arg in command]
    res = cdfs(args, home, check=False, timeout=60)
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "/nonexistent" in one_line(res) or "/dev/sr9" in one_line(res)
    assert tree(homes) == before
    assert not os.path.ismount(tmp_path / "mnt")


# -- item 7: the mount point ------------------------------------------------------


def test_mount_point_that_is_missing_or_a_file(
    tmp_path: Path, home: dict[str, str], make_disc: Any
) -> None:
    disc = make_disc()
    missing = tmp_path / "no-such-dir"
    res = cdfs(["mount", "--drive", str(disc), str(missing)], home, check=False)
    assert res.returncode == 3
    assert one_line(res) == (
        f"cdfs: the mount point {missing} does not exist: create it (mkdir {missing})"
    )
    assert not missing.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    res = cdfs(["mount", "--drive", str(disc), str(a_file)], home, check=False)
    assert res.returncode == 3 and "is not a directory" in one_line(res)


def test_a_non_empty_mount_point_is_refused_unless_nonempty(
    tmp_path: Path, home: dict[str, str], make_disc: Any, unmount_after: list[Path]
) -> None:
    disc = make_disc()
    mp = tmp_path / "mnt"
    mp.mkdir()
    unmount_after.append(mp)
    (mp / "mine.txt").write_text("my own file\n")
    res = cdfs(["mount", "--drive", str(disc), str(mp)], home, check=False)
    assert res.returncode == 2
    line = one_line(res)
    assert f"the mount point {mp} is not empty" in line and "1 entry" in line
    assert "-o nonempty" in line
    assert not os.path.ismount(mp)
    # Asked for, the mount goes over the directory and hides its files
    # until unmounted.
    cdfs(["mount", "--drive", str(disc), "-o", "nonempty", "--no-burn-on-unmount", str(mp)], home)
    assert os.path.ismount(mp)
    assert os.listdir(mp) == []
    (mp / "new.txt").write_text("staged\n")
    cdfs(["umount", str(mp)], home)
    assert os.listdir(mp) == ["mine.txt"]
    assert (mp / "mine.txt").read_text() == "my own file\n"


# -- item 7: the stash directory ------------------------------------------------


def test_a_missing_stash_dir_is_refused_and_not_created(
    tmp_path: Path, home: dict[str, str], make_disc: Any, unmount_after: list[Path]
) -> None:
    disc = make_disc()
    mp = tmp_path / "mnt"
    mp.mkdir()
    unmount_after.append(mp)
    stash = tmp_path / "usb-disk-not-mounted" / "stash"
    res = cdfs(
        ["mount", "--drive", str(disc), "--stash-dir", str(stash), str(mp)], home, check=False
    )
    assert res.returncode == 3
    assert one_line(res) == (
        f"cdfs: the stash directory {stash} does not exist: create it (mkdir -p {stash}), "
        "or choose another stash directory ('cdfs config set stash_dir DIR' or --stash-dir)"
    )
    assert not stash.parent.exists()
    assert not os.path.ismount(mp)
    # cdfs's own default stash directory is made, private, when missing.
    cache = Path(home["XDG_CACHE_HOME"]) / "cdfs"
    assert not cache.exists()
    res = cdfs(["mount", "--drive", str(disc), "--no-burn-on-unmount", str(mp)], home)
    assert res.stderr == ""
    assert cache.is_dir() and (os.stat(cache).st_mode & 0o777) == 0o700
    assert os.listdir(cache) == []


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Any]:
    """A factory of small tmpfs mounts (read-only ones too), unmounted after."""
    made: list[Path] = []

    def make(name: str, options: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        run(["mount", "-t", "tmpfs", "-o", f"{options},mode=0700", "tmpfs", str(path)])
        made.append(path)
        return path

    yield make
    for path in made:
        subprocess.run(["umount", "-l", str(path)], timeout=30, check=False)


def test_a_read_only_stash_dir_is_refused_at_mount(
    tmp_path: Path, home: dict[str, str], make_disc: Any, small_fs: Any, unmount_after: list[Path]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    stash = small_fs("ro-stash", "ro,size=10m")
    mp = tmp_path / "mnt"
    mp.mkdir()
    unmount_after.append(mp)
    res = cdfs(
        ["mount", "--drive", str(make_disc()), "--stash-dir", str(stash), str(mp)],
        home,
        check=False,
    )
    assert res.returncode == 2
    assert one_line(res) == (
        f"cdfs: cannot write the stash file in {stash}: Read-only file system; make it "
        "writable, or choose another stash directory ('cdfs config set stash_dir DIR' or "
        "--stash-dir)"
    )
    assert not os.path.ismount(mp)


def test_a_too_small_stash_dir_is_named_at_mount(
    tmp_path: Path, home: dict[str, str], make_disc: Any, small_fs: Any, unmount_after: list[Path]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    stash = small_fs("small-stash", "size=2m")
    disc = make_disc()
    mp = tmp_path / "mnt"
    mp.mkdir()
    unmount_after.append(mp)
    res = cdfs(["mount", "--drive", str(disc), "--stash-dir", str(stash), str(mp)], home)
    assert os.path.ismount(mp)
    # The session bound is space.room()'s: about the 737 MB of a CD-R 80.
    assert re.fullmatch(
        f"cdfs: warning: the stash directory {re.escape(str(stash))} has 2 MB free, but a "
        r"session on this disc can take up to 73\d MB: a burn of more than 2 MB will fail; "
        r"free some space, or choose another stash directory \(--stash-dir\)",
        one_line(res),
    ), res.stderr
    assert os.listdir(stash) == []  # the check's own file is gone
    # A session that fits the stash burns.
    (mp / "small.txt").write_text("fits\n")
    cdfs(["umount", str(mp)], home, timeout=120)
    assert "small.txt" in xorriso_listing(disc)


def test_stash_room_warning_figures() -> None:
    where = Path("/stash")
    assert stash_room_warning(where, 800_000_000, 737_280_000) == ""
    assert stash_room_warning(where, 737_280_000, 737_280_000) == ""
    text = stash_room_warning(where, 4_999_999_999, 25_025_314_816)
    assert "has 4999 MB free" in text and "up to 25026 MB" in text


# -- item 7: FUSE itself ----------------------------------------------------------


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A home directory of user 65534 (nobody), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="cdfs-nobody-", dir="/tmp"))
    os.chown(base, NOBODY, NOBODY)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def as_nobody(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``cdfs ARGS`` as user 65534.  It may read everything (to run this
    checkout's Python from root's home) but opens for writing only what is
    its own: /dev/fuse (0600 root) is denied to it by the kernel."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        **{f"XDG_{d.upper()}_HOME": str(home / d) for d in ("data", "cache", "state", "config")},
    }
    return run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            sys.executable,
            "-m",
            "cdfs",
            *args,
        ],
        env=env,
        check=False,
        timeout=60,
        cwd=home,
    )


def test_no_access_to_dev_fuse_or_the_stash_says_so(nobody_home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    fuse = os.stat("/dev/fuse")
    if fuse.st_mode & 0o006:
        pytest.skip("/dev/fuse is open to every user here")
    mp = nobody_home / "mnt"
    mp.mkdir()
    os.chown(mp, NOBODY, NOBODY)
    res = as_nobody(nobody_home, "mount", str(mp))
    assert res.returncode == 3, (res.stdout, res.stderr)
    line = res.stderr.strip().splitlines()[-1]
    assert line == (
        "cdfs: cannot open /dev/fuse (Permission denied), which FUSE needs: it is normally "
        "readable and writable by everyone (crw-rw-rw-); ask the administrator to fix it "
        "(chmod 0666 /dev/fuse), or mount as a user who may open it"
    )
    assert not os.path.ismount(mp)
    # A stash directory the user may not write in is named before that.
    stash = nobody_home / "stash"
    stash.mkdir(mode=0o500)
    os.chown(stash, NOBODY, NOBODY)
    res = as_nobody(nobody_home, "mount", "--stash-dir", str(stash), str(mp))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.strip().splitlines()[-1] == (
        f"cdfs: cannot write the stash file in {stash}: Permission denied; make it writable, "
        "or choose another stash directory ('cdfs config set stash_dir DIR' or --stash-dir)"
    )
    assert os.listdir(stash) == []
    # So is a mount point the user may not write in.
    theirs = nobody_home / "roots"
    theirs.mkdir(mode=0o755)
    res = as_nobody(nobody_home, "mount", str(theirs))
    assert res.returncode == 2
    assert f"you may not write in the mount point {theirs}" in res.stderr
