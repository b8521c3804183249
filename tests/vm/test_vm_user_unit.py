"""Auto-mount on a real system (issue 16): udev/61-cdfs.rules and the
systemd user unit of ``cdfs enable`` mount CDEmu's drive for a user when a
disc is loaded, unmount it when the disc goes, and mount it again at the
next insertion.  The user (``tester``, lingering, so that its systemd user
manager runs from boot) is made by tests/vm/image.sh."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vm import lane

pytestmark = pytest.mark.vm

USER = "tester"
UID = 1000
RUNTIME = Path(f"/run/user/{UID}")
MOUNTPOINT = RUNTIME / "cdfs" / "Recorder-sr0"


def as_user(*cmd: str, check: bool = True) -> str:
    env = [
        f"HOME=/home/{USER}",
        f"XDG_RUNTIME_DIR={RUNTIME}",
        f"DBUS_SESSION_BUS_ADDRESS=unix:path={RUNTIME}/bus",
        "PATH=/usr/local/bin:/usr/bin:/bin",
    ]
    return lane.run(["runuser", "-u", USER, "--", "env", "-i", *env, *cmd], check=check).stdout


def unit_state() -> str:
    return as_user("systemctl", "--user", "is-active", "cdfs@sr0.service", check=False).strip()


def states() -> str:
    """What udev and the user's systemd say of the drive, for failures."""
    props = lane.udev_properties("/dev/sr0")
    keys = ("ID_CDROM_MEDIA", "DISK_MEDIA_CHANGE", "CDFS_RECORDER", "SYSTEMD_READY",
            "SYSTEMD_USER_WANTS", "TAGS", "CURRENT_TAGS")  # fmt: skip
    units = as_user("systemctl", "--user", "show", "-p", "Id,ActiveState,SubState,Result,Wants",
                    "dev-sr0.device", "cdfs@sr0.service", check=False)  # fmt: skip
    return f"{ {k: props.get(k) for k in keys} } {units!r}"


def mounted() -> bool:
    return any(line.split()[4] == str(MOUNTPOINT) for line in Path("/proc/self/mountinfo").open())


@pytest.fixture
def enabled(drive: lane.Drive) -> Iterator[None]:
    lane.wait_until("the user's systemd", lambda: (RUNTIME / "bus").exists())
    # udev's events of the drive, shown when the test fails.
    events = drive.work / "udev-events"
    with events.open("w") as out:
        monitor = subprocess.Popen(
            ["udevadm", "monitor", "--udev", "--property", "--subsystem-match=block"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    assert "enabled cdfs@sr0.service" in as_user("cdfs", "enable", "sr0")
    try:
        yield
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
        print(events.read_text())
        # Nothing staged is left for the stop's burn on unmount: CDEmu
        # crashes on a CD-R session left open (issue 16), and the burn is
        # not what this test is about.
        if mounted():
            as_user("rm", "-f", str(MOUNTPOINT / "hello.txt"), check=False)
        as_user("cdfs", "disable", "--now", "sr0", check=False)
        if mounted():
            lane.run(["umount", "-l", str(MOUNTPOINT)], check=False)


def test_inserting_a_disc_mounts_it_for_the_user_and_ejecting_unmounts(
    drive: lane.Drive, enabled: None
) -> None:
    assert not mounted() and unit_state() != "active"
    drive.create_blank("cd-r")
    lane.wait_until("the user unit to mount the disc", mounted, timeout=120, show=states)
    assert unit_state() == "active"
    # The user's own FUSE mount: root may not even look into it.
    assert as_user("stat", "-c", "%u", str(MOUNTPOINT)).strip() == str(UID)
    status = as_user("cdfs", "status", str(MOUNTPOINT))
    assert "CD-R" in status, status
    # The user can stage a file (as a user would, through the mount).
    as_user("sh", "-c", f"echo hello > '{MOUNTPOINT}/hello.txt'")

    drive.unload()
    lane.wait_until("the unit to stop when the disc goes", lambda: not mounted(), timeout=120)
    lane.wait_until(
        "the unit to stop", lambda: unit_state() in ("inactive", "failed"), timeout=60, show=states
    )
    print("after the eject:", states())
    # Stopped cleanly: with no disc the burn on unmount is no failed burn.
    assert unit_state() == "inactive", states()

    # The next disc (CDEmu keeps a blank disc it never wrote in memory only:
    # another blank one, not the same again).
    drive.create_blank("cd-r", name="next")
    lane.wait_until("the unit to mount the next disc", mounted, timeout=120, show=states)
    # What was staged is still there (the staging area is the user's).
    got = as_user("cat", str(MOUNTPOINT / "hello.txt"))
    assert got == "hello\n"
