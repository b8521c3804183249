"""The lane itself: the guest runs a real kernel, udev and systemd, and
CDEmu's recorder is a SCSI drive the kernel made /dev/sr0 of."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vm import lane

pytestmark = pytest.mark.vm


def test_the_guest_is_a_booted_system_with_cdemus_drive(drive: lane.Drive) -> None:
    assert Path("/run/systemd/system").is_dir()  # booted with systemd
    assert lane.run(["systemctl", "is-active", "systemd-udevd.service"]).stdout.strip() == "active"
    assert os.path.exists("/sys/module/vhba")
    assert drive.device in lane.run(["cdemu", "device-mapping"]).stdout
    vendor = Path("/sys/block/sr0/device/vendor").read_text().strip()
    assert vendor == "CDEmu", vendor  # the INQUIRY of CDEmu's drive
    drive.create_blank("cd-r")
    # cdrom_id's description of the drive and its disc, and udev/61-cdfs.rules
    props = lane.wait_until(
        "udev to call the drive a recorder",
        lambda: (p := lane.udev_properties(drive.device)).get("CDFS_RECORDER") == "1" and p,
        show=lambda: lane.udev_properties(drive.device),
    )
    assert props["ID_CDROM"] == "1" and props["ID_CDROM_CD_R"] == "1", props
    assert props["ID_CDROM_MEDIA_STATE"] == "blank", props
    assert "cdfs@sr0.service" in props["SYSTEMD_USER_WANTS"], props
