"""Drive detection: udev property sets (as cdrom_id writes them) into drive
records.  Real devices are not available here; the pyudev lookup is only
checked not to fail."""

from __future__ import annotations

from pathlib import Path

from cdfs.recorders.detect import (
    WRITABLE_PROFILES,
    DriveInfo,
    drive_from_properties,
    find_recorders,
    media_from_properties,
    recorders_from,
)

# `udevadm info /dev/sr0` of a DVD writer holding a two-session CD-RW.
BURNER_WITH_CDRW = {
    "DEVNAME": "/dev/sr0",
    "SUBSYSTEM": "block",
    "ID_CDROM": "1",
    "ID_CDROM_CD": "1",
    "ID_CDROM_CD_R": "1",
    "ID_CDROM_CD_RW": "1",
    "ID_CDROM_DVD": "1",
    "ID_CDROM_DVD_R": "1",
    "ID_CDROM_DVD_RW": "1",
    "ID_CDROM_DVD_RAM": "1",
    "ID_CDROM_DVD_PLUS_R": "1",
    "ID_CDROM_DVD_PLUS_RW": "1",
    "ID_CDROM_DVD_PLUS_R_DL": "1",
    "ID_CDROM_MRW": "1",
    "ID_CDROM_MRW_W": "1",
    "ID_CDROM_MEDIA": "1",
    "ID_CDROM_MEDIA_CD_RW": "1",
    "ID_CDROM_MEDIA_STATE": "appendable",
    "ID_CDROM_MEDIA_SESSION_NEXT": "3",
    "ID_CDROM_MEDIA_SESSION_COUNT": "2",
    "ID_CDROM_MEDIA_TRACK_COUNT": "2",
    "ID_CDROM_MEDIA_TRACK_COUNT_DATA": "2",
    "ID_CDROM_MEDIA_SESSION_LAST_OFFSET": "24596480",
    "ID_VENDOR": "Optiarc",
    "ID_MODEL": "DVD_RW_AD-7560S",
    "ID_TYPE": "cd",
}

ROM_DRIVE_EMPTY = {
    "ID_CDROM": "1",
    "ID_CDROM_CD": "1",
    "ID_CDROM_DVD": "1",
    "ID_VENDOR": "HL-DT-ST",
    "ID_MODEL": "DVD-ROM_GDR8164B",
}

BD_BURNER_BLANK_BDR = {
    "ID_CDROM": "1",
    "ID_CDROM_BD": "1",
    "ID_CDROM_BD_R": "1",
    "ID_CDROM_BD_RE": "1",
    "ID_CDROM_MEDIA": "1",
    "ID_CDROM_MEDIA_BD_R": "1",
    "ID_CDROM_MEDIA_STATE": "blank",
    "ID_VENDOR": "PIONEER",
    "ID_MODEL": "BD-RW_BDR-XD07",
}

PRESSED_DVD_IN_BURNER = {
    **{k: v for k, v in BURNER_WITH_CDRW.items() if not k.startswith("ID_CDROM_MEDIA")},
    "ID_CDROM_MEDIA": "1",
    "ID_CDROM_MEDIA_DVD": "1",
    "ID_CDROM_MEDIA_STATE": "complete",
    "ID_CDROM_MEDIA_SESSION_COUNT": "1",
}

USB_STICK = {"ID_BUS": "usb", "ID_TYPE": "disk", "ID_FS_TYPE": "vfat"}


def test_burner_with_appendable_cdrw() -> None:
    drive = drive_from_properties("/dev/sr0", BURNER_WITH_CDRW)
    assert drive is not None
    assert drive.device == "/dev/sr0"
    assert (drive.vendor, drive.model) == ("Optiarc", "DVD RW AD-7560S")
    assert drive.title == "Optiarc DVD RW AD-7560S (/dev/sr0)"
    assert {"cd_r", "cd_rw", "dvd_plus_r_dl", "mrw_w", "cd"} <= drive.capabilities
    assert not any(c.startswith("media") for c in drive.capabilities)
    assert drive.recorder
    media = drive.media
    assert media is not None
    assert media.profiles == {"cd_rw"}
    assert media.state == "appendable" and not media.blank and media.writable
    assert (media.session_count, media.track_count) == (2, 2)
    assert media.last_session_offset == 24596480


def test_rom_drive_is_not_a_recorder() -> None:
    drive = drive_from_properties("/dev/sr1", ROM_DRIVE_EMPTY)
    assert drive is not None
    assert drive.capabilities == {"cd", "dvd"}
    assert not drive.recorder
    assert drive.media is None


def test_bd_burner_with_blank_disc() -> None:
    drive = drive_from_properties("/dev/sr2", BD_BURNER_BLANK_BDR)
    assert drive is not None and drive.recorder
    assert drive.media is not None
    assert drive.media.blank and drive.media.writable
    assert drive.media.profiles == {"bd_r"}
    assert drive.media.last_session_offset is None


def test_pressed_disc_is_not_writable() -> None:
    media = media_from_properties(PRESSED_DVD_IN_BURNER)
    assert media is not None
    assert media.profiles == {"dvd"}
    assert media.state == "complete" and not media.writable


def test_garbage_numbers_are_ignored() -> None:
    props = {**BD_BURNER_BLANK_BDR, "ID_CDROM_MEDIA_SESSION_COUNT": "many"}
    media = media_from_properties(props)
    assert media is not None and media.session_count == 0


def test_non_optical_devices_are_skipped() -> None:
    assert drive_from_properties("/dev/sda", USB_STICK) is None
    assert drive_from_properties("/dev/sr9", {"ID_CDROM": "0"}) is None


def test_recorders_are_filtered_and_sorted() -> None:
    found = recorders_from(
        [
            ("/dev/sr2", BD_BURNER_BLANK_BDR),
            ("/dev/sda", USB_STICK),
            ("/dev/sr1", ROM_DRIVE_EMPTY),
            ("/dev/sr0", BURNER_WITH_CDRW),
        ]
    )
    assert [d.device for d in found] == ["/dev/sr0", "/dev/sr2"]
    assert all(isinstance(d, DriveInfo) for d in found)


def test_writable_profiles_cover_every_recordable_udev_key() -> None:
    for key in ("CD_R", "CD_RW", "DVD_R", "DVD_RW", "DVD_PLUS_R", "DVD_PLUS_RW", "BD_R", "BD_RE"):
        assert key.lower() in WRITABLE_PROFILES
    for key in ("cd", "dvd", "bd", "mrw", "hddvd", "mo"):
        assert key not in WRITABLE_PROFILES


def test_find_recorders_does_not_fail_here() -> None:
    drives = find_recorders()
    assert isinstance(drives, list)
    assert all(d.recorder for d in drives)


def test_udev_rule_tags_the_writable_profiles() -> None:
    rules = (Path(__file__).parent.parent / "udev" / "61-cdfs.rules").read_text()
    active = [line for line in rules.splitlines() if line and not line.startswith("#")]
    tagged = {
        line.split("ENV{ID_CDROM_")[1].split("}")[0].lower()
        for line in active
        if 'ENV{CDFS_RECORDER}="1"' in line and "ENV{ID_CDROM_" in line
    }
    assert tagged <= WRITABLE_PROFILES
    assert {"cd_r", "cd_rw", "dvd_plus_rw", "bd_re"} <= tagged
    assert any('TAG+="uaccess"' in line for line in active)
    assert all(line.count('"') % 2 == 0 for line in active)
