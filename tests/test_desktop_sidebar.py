"""The drive in the file manager's sidebar (issue 15 item 1).

``cdfs mount`` without a mount point mounts at ``~/NAME`` (the disc's label,
else the drive's kind); the kernel's mount table shows it there, and GIO
(what GNOME Files, Nemo, Caja and Thunar list mounts with) lists it under
that name, asked with ``gio mount -l`` on a real session bus.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdfs.desktop.sidebar import drive_kind, readable_name, shown_in_sidebar
from cdfs.mounts import MOUNTINFO, parse_mountinfo
from cdfs.recorders.media import DiscInfo, DiscState, media_type

from conftest import cdfs, is_mount, run


def info(media: str, label: str = "") -> DiscInfo:
    return DiscInfo(media_type(media), DiscState.BLANK, label=label)


def test_kinds_and_names() -> None:
    assert drive_kind(info("cd-r80")) == "CD-R Drive"
    assert drive_kind(info("cd-rw74")) == "CD-RW Drive"
    assert drive_kind(info("dvd+rw")) == "DVD+RW Drive"
    assert drive_kind(info("dvd-r")) == "DVD-R Drive"
    assert drive_kind(info("bd-re")) == "BD-RE Drive"
    assert drive_kind(None) == "Disc Drive"
    assert readable_name(info("cd-r80", "Photos 2026")) == "Photos 2026"
    assert readable_name(info("cd-r80", "a/b")) == "a-b"
    assert readable_name(info("cd-r80", "..")) == "CD-R Drive"


def test_which_mount_points_gio_lists() -> None:
    home = Path("/home/ann")
    assert shown_in_sidebar(home / "CD-R Drive", home, "ann")
    assert not shown_in_sidebar(home / ".cache" / "cd", home, "ann")
    assert shown_in_sidebar(Path("/media/cd"), home, "ann")
    assert shown_in_sidebar(Path("/run/media/ann/cd"), home, "ann")
    assert not shown_in_sidebar(Path("/run/media/bob/cd"), home, "ann")
    assert not shown_in_sidebar(Path("/mnt/cd"), home, "ann")


def cdfs_mounts() -> dict[str, str]:
    return {
        e.mountpoint: e.fstype
        for e in parse_mountinfo(MOUNTINFO.read_text())
        if e.fstype == "fuse.cdfs"
    }


def gio_mounts(env: dict[str, str]) -> str:
    if not (shutil.which("gio") and shutil.which("dbus-run-session")):
        pytest.skip("gio (libglib2.0-bin) and dbus-run-session (dbus-daemon) are needed")
    # GLib's own volume monitor, as in a session without gvfs's daemons.
    gio_env = {**env, "GIO_USE_VOLUME_MONITOR": "unix"}
    return run(["dbus-run-session", "--", "gio", "mount", "-l"], env=gio_env, timeout=60).stdout


def test_mount_without_a_mount_point_is_named_in_the_home(
    tmp_path: Path, home: dict[str, str], make_disc: object
) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    env = {**home, "HOME": str(user_home)}
    disc = make_disc()  # type: ignore[operator]
    where = user_home / "CD-R Drive"
    try:
        out = cdfs(["mount", "--drive", str(disc)], env).stdout
        assert str(where) in out
        assert cdfs_mounts().get(str(where)) == "fuse.cdfs"
        assert f"CD-R Drive -> file://{user_home}/CD-R%20Drive" in gio_mounts(env)
        (where / "hello.txt").write_bytes(b"hello\n")
        cdfs(["burn", "--wait", "--quiet", "--label", "Photos 2026", str(where)], env)
        cdfs(["umount", str(where)], env)
        assert str(where) not in cdfs_mounts()
        # Mounted again, the drive is named after the disc's label (the
        # volume id the recorder reads: ISO 9660's, in d-characters).
        labelled = user_home / "PHOTOS_2026"
        cdfs(["mount", "--drive", str(disc)], env)
        assert cdfs_mounts().get(str(labelled)) == "fuse.cdfs"
        assert (labelled / "hello.txt").read_bytes() == b"hello\n"
        assert f"PHOTOS_2026 -> file://{user_home}/PHOTOS_2026" in gio_mounts(env)
        cdfs(["umount", str(labelled)], env)
    finally:
        for mp in user_home.iterdir():
            if is_mount(mp):
                run(["fusermount3", "-u", "-z", str(mp)], check=False)
