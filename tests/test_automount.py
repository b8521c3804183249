"""A desktop's mount of the disc is unmounted before burning (issue 13
item 10), as udisks does for K3b and Brasero.  The mount table is a file
in /proc/self/mountinfo's format, and umount a stand-in that logs what it
is asked (no disc can be mounted here: the kernel has no iso9660)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdfs.burn.automount import mounts_of, release_desktop_mounts
from cdfs.errors import BusyError
from cdfs.recorders.emulated import create_media
from cdfs.recorders.media import media_type
from cdfs.recorders.xorriso import XorrisoRecorder

# As the kernel writes it (proc(5)): a udisks auto-mount of a disc labelled
# "MY DISC" (the space escaped as \040), the root file system, and a cdfs mount.
MOUNTINFO = r"""22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
95 30 11:0 / /media/user/MY\040DISC ro,nosuid,relatime shared:50 - iso9660 /dev/sr0 ro
96 30 0:52 / /home/user/cd rw,nosuid,nodev,relatime shared:51 - fuse.cdfs cdfs rw,user_id=0
"""


def test_the_desktops_mount_of_the_drive_is_found() -> None:
    assert mounts_of("/dev/sr0", MOUNTINFO) == ["/media/user/MY DISC"]
    assert mounts_of("/dev/sr1", MOUNTINFO) == []


def test_it_is_unmounted_before_burning_and_a_busy_one_stops_the_burn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTINFO)
    calls = tmp_path / "calls"
    stub = tmp_path / "bin" / "umount"
    stub.parent.mkdir()
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 0\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", str(stub.parent))  # no udisksctl: plain umount
    drive = XorrisoRecorder("/dev/sr0")
    assert release_desktop_mounts(drive, table, str(stub)) == ["/media/user/MY DISC"]
    assert calls.read_text() == "/media/user/MY DISC\n"

    stub.write_text("#!/bin/sh\necho 'target is busy' >&2\nexit 32\n")
    with pytest.raises(BusyError, match="mounted at /media/user/MY DISC and cannot be unmounted"):
        release_desktop_mounts(drive, table, str(stub))

    emulated = create_media(tmp_path / "disc.img", media_type("cd-r80"))
    assert release_desktop_mounts(emulated, table, str(stub)) == []
