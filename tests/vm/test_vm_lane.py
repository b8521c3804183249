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
    props = lane.udev_properties(drive.device)
    assert props.get("ID_CDROM") == "1", props
    assert drive.device in lane.run(["cdemu", "device-mapping"]).stdout
    vendor = Path("/sys/block/sr0/device/vendor").read_text().strip()
    assert vendor == "CDEmu", vendor  # the INQUIRY of CDEmu's drive
    assert props.get("CDFS_RECORDER") == "1", props  # udev/61-cdfs.rules
