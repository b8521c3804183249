"""Which drive recording is enabled on, and the drive_types setting, from
drive records (the udev side is tests/test_udev.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdfs import config
from cdfs.drives import enabled_drive, profile_name
from cdfs.errors import ConfigError, UsageError
from cdfs.recorders.detect import drives_from
from tests.test_detect import BURNER_WITH_CDRW, ROM_DRIVE_EMPTY


def test_the_drive_types_setting_is_checked_and_kept_normalised(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert config.set_value("drive_types", "/dev/sr0=CD-ROM, /dev/sr1=cd-r", path) == (
        "/dev/sr0=cd-rom,/dev/sr1=cd-r"
    )
    settings, _ = config.load((path,))
    assert config.drive_types(settings) == {"/dev/sr0": "cd-rom", "/dev/sr1": "cd-r"}
    for bad in ("sr0=cd-rom", "/dev/sr0=dvd-rw", "/dev/sr0", "/dev/sr0=cd-rom,oops"):
        with pytest.raises(ConfigError, match="DEVICE=TYPE"):
            config.check("drive_types", bad)


def test_one_recorder_is_used_several_are_named_none_is_the_emulated_disc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CDFS_DRIVE", raising=False)
    plain = config.Settings()
    one = drives_from([("/dev/sr0", BURNER_WITH_CDRW), ("/dev/sr1", ROM_DRIVE_EMPTY)])
    assert enabled_drive(None, plain, one) == "/dev/sr0"
    assert enabled_drive(None, plain, drives_from([("/dev/sr1", ROM_DRIVE_EMPTY)])) == ""
    two = drives_from([("/dev/sr0", BURNER_WITH_CDRW), ("/dev/sr1", BURNER_WITH_CDRW)])
    with pytest.raises(UsageError, match=r"there are 2 recorders: .*\(/dev/sr0\), .*\(/dev/sr1\)"):
        enabled_drive(None, plain, two)
    assert enabled_drive("/dev/sr1", plain, two) == "/dev/sr1"
    monkeypatch.setenv("CDFS_DRIVE", "/dev/sr0")
    assert enabled_drive(None, plain, two) == "/dev/sr0"
    monkeypatch.delenv("CDFS_DRIVE")
    chosen = config.Settings(drive="/dev/sr1")
    assert enabled_drive(None, chosen, two) == "/dev/sr1"
    # XP's override: one of two writers made read-only leaves one recorder.
    rom = config.Settings(drive_types="/dev/sr1=cd-rom")
    overridden = drives_from(
        [("/dev/sr0", BURNER_WITH_CDRW), ("/dev/sr1", BURNER_WITH_CDRW)],
        config.drive_types(rom),
    )
    assert enabled_drive(None, rom, overridden) == "/dev/sr0"
    with pytest.raises(UsageError, match="recording is turned off on /dev/sr1"):
        enabled_drive("/dev/sr1", rom, overridden)


def test_profiles_read_as_users_know_them() -> None:
    assert [profile_name(p) for p in ("cd_r", "dvd_plus_rw", "dvd_plus_r_dl", "dvd_r_dl")] == [
        "CD-R",
        "DVD+RW",
        "DVD+R DL",
        "DVD-R DL",
    ]
    assert [profile_name(p) for p in ("bd_re", "dvd_ram", "dvd_rw_seq")] == [
        "BD-RE",
        "DVD-RAM",
        "DVD-RW SEQ",
    ]
