"""Recorders found through udev, and the one recording is enabled on,
against drives faked with umockdev.

How: :file:`tests/udev/bed.py` runs under ``umockdev-wrapper
/usr/bin/python3`` (umockdev's GObject API needs Debian's PyGObject,
python3-gi, which the venv does not see; a separate interpreter keeps the
venv plain).  It adds ``/sys/devices/sr0`` with the ``ID_CDROM_*``
properties systemd's cdrom_id would set, and starts the venv's ``cdfs``
commands as its children: umockdev's preload library and its UMOCKDEV_DIR
pass to them, so the real pyudev calls in cdfs see the fake drive and
receive the uevents the bed sends.  No SCSI command reaches a faked drive:
where a disc must be read, ``$CDFS_DRIVE_STANDINS`` puts an emulated disc
behind the device name.  Debian packages: umockdev, gir1.2-umockdev-1.0,
python3-gi (``make deps`` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cdfs
from tests.test_detect import BURNER_WITH_CDRW, ROM_DRIVE_EMPTY

BED = Path(__file__).parent / "udev" / "bed.py"


def _have_umockdev() -> bool:
    if not shutil.which("umockdev-wrapper"):
        return False
    probe = "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"
    return subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not _have_umockdev(), reason="needs umockdev, gir1.2-umockdev-1.0, python3-gi (make deps)"
)


class Bed:
    """The faked udev, and cdfs commands run inside it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc = subprocess.Popen(
            ["umockdev-wrapper", "/usr/bin/python3", str(BED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the umockdev bed stopped"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def add(self, name: str, props: dict[str, str]) -> None:
        self.ask(op="add", name=name, props={**props, "DEVNAME": f"/dev/{name}"})

    def change(self, name: str, props: dict[str, str]) -> None:
        self.ask(op="change", name=name, props=props)

    def cdfs(self, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        argv = [sys.executable, "-m", "cdfs", *args]
        return self.ask(op="run", argv=argv, env={**self.env, **(env or {})}, timeout=120)

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def bed(home: dict[str, str]) -> Iterator[Bed]:
    b = Bed(home)
    yield b
    b.close()


def test_cdfs_drives_lists_the_faked_recorder_and_enables_it(bed: Bed) -> None:
    bed.add(
        "sr0", {k: v for k, v in BURNER_WITH_CDRW.items() if not k.startswith("ID_CDROM_MEDIA")}
    )
    out = bed.cdfs("drives", "--json")
    assert out["rc"] == 0, out
    report = json.loads(out["stdout"])
    (drive,) = report["drives"]
    assert drive["device"] == "/dev/sr0"
    assert (drive["vendor"], drive["model"]) == ("Optiarc", "DVD RW AD-7560S")
    assert {"CD-R", "CD-RW", "DVD+R", "DVD+RW", "DVD+R DL", "DVD-RAM"} <= set(drive["writes"])
    assert drive["disc"] is None
    assert drive["recording_enabled"] and report["recording_enabled_on"] == "/dev/sr0"
    text = bed.cdfs("drives")
    assert "/dev/sr0: Optiarc DVD RW AD-7560S (recording enabled)" in text["stdout"]
    assert "disc:   no disc" in text["stdout"]


def test_the_loaded_disc_state_and_free_space(bed: Bed, make_disc: Any) -> None:
    """udev's view of the disc, then the drive's own (here the emulated
    disc standing in behind /dev/sr0) for the free space."""
    disc = make_disc("cd-rw80")
    bed.add("sr0", BURNER_WITH_CDRW)
    out = bed.cdfs("drives", "--json", env={"CDFS_DRIVE_STANDINS": f"/dev/sr0={disc}"})
    (drive,) = json.loads(out["stdout"])["drives"]
    assert drive["disc"]["profiles"] == ["CD-RW"]
    assert drive["disc"]["state"] == "blank", "the drive's word wins over udev's"
    assert drive["disc"]["free_bytes"] > 700_000_000
    assert drive["disc"]["media"].startswith("CD-RW 80 min")


def test_several_recorders_ask_which_and_how(bed: Bed, tmp_path: Path) -> None:
    bed.add("sr0", BURNER_WITH_CDRW)
    bed.add("sr1", {**BURNER_WITH_CDRW, "ID_VENDOR": "ASUS", "ID_MODEL": "BW-16D1HT"})
    out = bed.cdfs("drives", "--json", "--no-probe")
    report = json.loads(out["stdout"])
    assert [d["device"] for d in report["drives"]] == ["/dev/sr0", "/dev/sr1"]
    assert not any(d["recording_enabled"] for d in report["drives"])
    assert "cdfs config set drive DEVICE" in report["problem"]
    (tmp_path / "mnt").mkdir()
    mp = bed.cdfs("mount", str(tmp_path / "mnt"))
    assert mp["rc"] == 2, mp
    assert "there are 2 recorders: Optiarc DVD RW AD-7560S (/dev/sr0)" in mp["stderr"]
    assert "--drive DEVICE" in mp["stderr"] and "cdfs drives" in mp["stderr"]
    bed.cdfs("config", "set", "drive", "/dev/sr1")
    report = json.loads(bed.cdfs("drives", "--json", "--no-probe")["stdout"])
    assert [d["recording_enabled"] for d in report["drives"]] == [False, True]


def test_a_drive_type_override_makes_a_writer_or_a_read_only_drive(
    bed: Bed, tmp_path: Path
) -> None:
    """XP's drive-type override: a ROM drive forced to CD-RW becomes the
    one recorder; a writer forced to CD-ROM is never recorded on."""
    bed.add("sr0", ROM_DRIVE_EMPTY)
    report = json.loads(bed.cdfs("drives", "--json", "--no-probe")["stdout"])
    assert not report["drives"][0]["recorder"] and report["emulated"]
    assert bed.cdfs("config", "set", "drive_types", "/dev/sr0=CD-RW")["rc"] == 0
    report = json.loads(bed.cdfs("drives", "--json", "--no-probe")["stdout"])
    (drive,) = report["drives"]
    assert drive["recorder"] and drive["type_override"] == "cd-rw"
    assert drive["writes"] == ["CD-R", "CD-RW"] and drive["recording_enabled"]
    bed.add("sr1", BURNER_WITH_CDRW)
    bed.cdfs("config", "set", "drive_types", "/dev/sr0=cd-rom, /dev/sr1=cd-rom")
    report = json.loads(bed.cdfs("drives", "--json", "--no-probe")["stdout"])
    assert not any(d["recorder"] for d in report["drives"]) and report["emulated"]
    assert "writes: nothing (read-only) (drive_types: cd-rom)" in bed.cdfs("drives")["stdout"]
    (tmp_path / "mnt").mkdir()
    mp = bed.cdfs("mount", "--drive", "/dev/sr1", str(tmp_path / "mnt"))
    assert mp["rc"] == 2 and "recording is turned off on /dev/sr1" in mp["stderr"], mp


def _state(mp: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(os.getxattr(mp, "user.cdfs.status"))
    return data


def _wait_state(mp: Path, state: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (s := _state(mp))["state"] != state:
        assert time.monotonic() < deadline, f"the mount never showed {state!r}: {s}"
        time.sleep(0.05)
    return s


def test_media_change_uevents_update_the_mount(
    bed: Bed, home: dict[str, str], tmp_path: Path
) -> None:
    """A mount of /dev/sr0 (its disc an emulated image standing in, and the
    look at that image turned off, so that only udev can tell): the disc
    inserted and then ejected, each announced by a change uevent as the
    kernel and cdrom_id send it, shows in the mount without unmounting, and
    the staged file stays."""
    disc = tmp_path / "drive" / "disc.iso"
    disc.parent.mkdir()
    env = {"CDFS_DRIVE_STANDINS": f"/dev/sr0={disc}", "CDFS_DISC_POLL": "0"}
    bed.add("sr0", {k: v for k, v in BURNER_WITH_CDRW.items() if "MEDIA" not in k})
    mp = tmp_path / "mnt"
    mp.mkdir()
    up = bed.cdfs("mount", "--no-burn-on-unmount", "--drive", "/dev/sr0", str(mp), env=env)
    assert up["rc"] == 0, up
    pid = _state(mp)["pid"]
    try:
        assert _state(mp)["state"] == "no disc"
        (mp / "staged.txt").write_text("collected with the tray empty\n")
        cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
        inserted = {
            "ID_CDROM_MEDIA": "1",
            "ID_CDROM_MEDIA_CD_R": "1",
            "ID_CDROM_MEDIA_STATE": "blank",
            "DISK_MEDIA_CHANGE": "1",
        }
        bed.change("sr0", inserted)
        s = _wait_state(mp, "blank")
        assert s["media"] == "cd-r80" and s["staged_files"] == 1
        disc.unlink()
        disc.with_name(disc.name + ".toc").unlink()
        bed.change("sr0", {"ID_CDROM_MEDIA": "0", "ID_CDROM_MEDIA_CD_R": "0"})
        s = _wait_state(mp, "no disc")
        assert s["staged_files"] == 1
        assert (mp / "staged.txt").read_text() == "collected with the tray empty\n"
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mp)], timeout=30, check=False)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
