"""cdfs on CDEmu's recorder, through the guest's real kernel and udev
(issue 16): the drive found by udev, a mount that follows discs loaded and
ejected, and single-session burns on CD-R, DVD+R and BD-R read back by cdfs
through /dev/sr0 and by the kernel's isofs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from vm import lane

from conftest import Mount, cdfs, run

pytestmark = pytest.mark.vm

# What is burned: names, modes, mtimes, a symlink, a folder, a file of
# several megabytes (read back through more than one 64 KiB read).
TREE: dict[str, tuple[bytes | str | None, int, int]] = {
    # path: (bytes, or a symlink's target as str, or None for a folder; mode; mtime)
    "docs": (None, 0o755, 1_000_000_000),
    "docs/readme.txt": (b"read me\n", 0o644, 1_234_567_890),
    "docs/private": (b"mine\n" * 100, 0o600, 1_500_000_000),
    "docs/link": ("readme.txt", 0o777, 0),
    "run.sh": (b"#!/bin/sh\necho hi\n", 0o755, 1_600_000_000),
    "read only": (b"\x00\xff" * 3000, 0o444, 946_684_800),
    "Ünïcödé 日本語.txt": ("ünï".encode() * 999, 0o640, 1_700_000_000),
    "big.bin": (os.urandom(3 << 20 | 123), 0o644, 1_650_000_000),
    "empty dir": (None, 0o750, 1_100_000_000),
}


def make_tree(root: Path) -> lane.Listing:
    root.mkdir()
    for path, (data, _mode, _mtime) in TREE.items():
        p = root / path
        if data is None:
            p.mkdir()
        elif isinstance(data, str):
            p.symlink_to(data)
        else:
            p.write_bytes(data)
    for path, (data, mode, mtime) in reversed(TREE.items()):
        if not isinstance(data, str):
            os.chmod(root / path, mode)
            os.utime(root / path, (mtime, mtime))
    return lane.listing(root)


def media_of(m: Mount) -> tuple[str, str]:
    s = m.status()
    return s["media"], s["state"]


@pytest.fixture
def tree(tmp_path: Path) -> lane.Listing:
    return make_tree(tmp_path / "src")


def test_cdfs_drives_finds_cdemus_recorder_through_udev(
    drive: lane.Drive, home: dict[str, str]
) -> None:
    drive.create_blank("cd-r")
    report = json.loads(cdfs(["drives", "--json"], home).stdout)
    (d,) = [d for d in report["drives"] if d["device"] == drive.device]
    assert d["recorder"] and d["recording_enabled"], d
    assert "CD-R" in d["writes"] and "BD-R" in d["writes"], d
    assert d["disc"]["state"] == "blank" and d["disc"]["media"].startswith("CD-R"), d
    assert report["recording_enabled_on"] == drive.device and not report["emulated"], report
    assert drive.device in cdfs(["drives"], home).stdout


def test_a_mount_of_the_empty_drive_follows_a_blank_disc_and_an_eject(
    drive: lane.Drive, mount: Any
) -> None:
    m = mount(Path(drive.device))
    assert media_of(m)[1] == "no disc"
    drive.create_blank("dvd+r")
    m.wait_for(lambda s: (s["media"], s["state"]) == ("dvd+r", "blank"), timeout=90)
    (m.path / "staged.txt").write_bytes(b"kept\n")
    drive.unload()
    m.wait_for(lambda s: s["state"] == "no disc", timeout=90)
    assert (m.path / "staged.txt").read_bytes() == b"kept\n"  # staging outlives the disc


@pytest.mark.parametrize("kind", ["cd-r", "dvd+r", "bd-r"])
def test_a_burn_reads_back_through_the_drive_and_the_kernels_isofs(
    drive: lane.Drive, mount: Any, tree: lane.Listing, tmp_path: Path, kind: str
) -> None:
    image = drive.create_blank(kind)
    m = mount(Path(drive.device), "--no-burn-on-unmount")
    m.wait_for(lambda s: s["state"] == "blank", timeout=90)
    run(["cp", "-a", f"{tmp_path / 'src'}/.", f"{m.path}/"])
    # Closed: CDEmu crashes on a CD-R session left open, and closes DVD+R
    # and BD-R after one session anyway.
    res = m.burn("--close")  # verified against the drive by cdfs itself
    assert f"burned {sum(a['kind'] == 'file' for a in tree.values())} files" in res.stdout
    last = m.status()["last_burn"]
    assert last["ok"] and last["session_start"] == 0, last

    # The mount reads what was burned through /dev/sr0, though the kernel
    # still sees the blank disc's size.
    names = {"kind", "size", "sha", "mtime", "target"}
    assert not lane.differences(tree, lane.listing(m.path), names)
    m.stop()

    # A new mount before the disc is reloaded reads it the same.
    m2 = mount(Path(drive.device), "--no-burn-on-unmount", name="again")
    assert not lane.differences(tree, lane.listing(m2.path), names)
    m2.stop()

    # The kernel's own reader, once the disc is reloaded (it does not see
    # a burn before): names, bytes, modes, mtimes and targets.
    drive.reload(image)
    with drive.kernel_mount() as iso:
        got = lane.listing(iso)
    assert not lane.differences(tree, got, names | {"mode"}), lane.differences(tree, got)

    # A mount of the reloaded disc, ejected and loaded again: it follows.
    m3 = mount(Path(drive.device), "--no-burn-on-unmount", name="reloaded")
    assert m3.status()["state"] in ("closed", "appendable")
    drive.unload()
    m3.wait_for(lambda s: s["state"] == "no disc", timeout=90)
    assert not (m3.path / "docs").exists()
    drive.load(image)
    m3.wait_for(lambda s: s["state"] != "no disc", timeout=90)
    assert not lane.differences(tree, lane.listing(m3.path), names)
