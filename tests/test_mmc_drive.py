"""cdfs's real-drive path end to end: cdfs -> xorriso -> libburn -> SCSI MMC
commands over SG_IO -> a simulated recorder at /dev/sr0 (tests/mmc/).

Nothing here is a transcript: the xorriso that runs is Debian's, unmodified,
and what it records lands in the simulated disc's image file, which the
tests read back both through the mount (cdfs reading /dev/sr0) and with
xorriso from the image.  Where libburn sends a command the model does not
answer, the test fails naming its opcode (the ``sim`` fixture's teardown).
Debian packages: umockdev, gir1.2-umockdev-1.0, python3-gi, xorriso.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cdfs.recorders.media import media_type
from tests.conftest import xorriso_extract
from tests.mmc.harness import SimDrive, have_umockdev

pytestmark = pytest.mark.skipif(
    not have_umockdev(), reason="needs umockdev, gir1.2-umockdev-1.0, python3-gi (make deps)"
)


def toc_sessions(sim: SimDrive) -> list[tuple[int, int]]:
    """(start, size) of every session, as xorriso reads the drive's TOC."""
    out = sim.xorriso("-outdev", sim.device, "-toc").stdout
    sessions = []
    for line in out.splitlines():
        if line.startswith(("ISO session", "Other session", "Data session")):
            fields = [f.strip() for f in line.split(":", 1)[1].split(",")]
            sessions.append((int(fields[1]), int(fields[2].rstrip("s"))))
    return sessions


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_cdfs_drives_finds_the_simulated_recorder(sim: SimDrive, tmp_path: Path) -> None:
    sim.insert(tmp_path / "disc.img", "cd-r80")
    report = json.loads(sim.cdfs("drives", "--json").stdout)
    (drive,) = report["drives"]
    assert drive["device"] == "/dev/sr0" and drive["recording_enabled"]
    assert (drive["vendor"], drive["model"]) == ("CDFSSIM", "MMC RECORDER")
    assert {"CD-R", "CD-RW", "DVD+R", "DVD+RW", "BD-R", "BD-RE"} <= set(drive["writes"])
    disc = drive["disc"]
    assert disc["state"] == "blank" and disc["media"].startswith("CD-R 80 min")
    # The drive's own figure (READ TRACK INFORMATION's free blocks), less
    # what a session costs beyond its image.
    assert 0 < media_type("cd-r80").capacity_bytes - disc["free_bytes"] < 1_000_000


def test_a_mount_of_the_empty_drive_takes_the_disc_inserted_later(
    sim: SimDrive, sim_mount: Any, tmp_path: Path
) -> None:
    """The drive is empty at mount time; udev's change uevent brings the
    disc in, and the files staged before it are burned onto it."""
    m = sim_mount()
    assert m.status()["state"] == "no disc"
    assert "Disc:         no disc in the drive" in (m.path / ".status").read_text()
    (m.path / "early.txt").write_text("staged before the disc\n")
    sim.insert(tmp_path / "disc.img", "cd-r80")
    s = m.wait_for(lambda s: s["state"] == "blank")
    assert s["media"] == "cd-r80" and s["staged_files"] == 1
    m.burn()
    m.stop()
    out = tmp_path / "out"
    xorriso_extract(tmp_path / "disc.img", out)
    assert files_of(out) == {"early.txt": b"staged before the disc\n"}


def test_an_interrupted_recording_leaves_a_damaged_track_cdfs_names_the_way_out(
    sim: SimDrive, sim_mount: Any, tmp_path: Path
) -> None:
    """The recording stops dead at a sector (xorriso is ended mid-write):
    the drive reports the track damaged, cdfs says so with the way out it
    names, nothing staged is lost, and once that way out is taken the
    staged files burn as the next session."""
    image = tmp_path / "disc.img"
    sim.insert(image, "cd-r80")
    m = sim_mount("--no-burn-on-unmount")
    (m.path / "a.bin").write_bytes(a := os.urandom(100_000))
    m.burn()
    nwa = sim.state()["nwa"]
    sim.faults(interrupt_write_at=nwa + 40)
    (m.path / "b.bin").write_bytes(b := os.urandom(300_000))
    assert m.burn(check=False).returncode != 0
    sim.faults(interrupt_write_at=None)
    track = sim.state()["disc"]["tracks"][-1]
    assert (track["start"], track["written"], track["damaged"]) == (nwa, 40, True)
    status = sim.cdfs("status", str(m.path)).stdout
    assert "damaged" in status and "-close_damaged as_needed" in status, status
    assert (m.path / "b.bin").read_bytes() == b, "the staged file is kept"
    sim.xorriso("-outdev", sim.device, "-close_damaged", "as_needed")
    # Written by another program: the mount refuses to burn until mounted again.
    refused = m.burn(check=False)
    assert refused.returncode != 0 and "mount again" in refused.stderr, refused.stderr
    m.stop()
    m = sim_mount(name="after")
    assert (m.path / "b.bin").read_bytes() == b, "still staged"
    m.burn()
    m.stop()
    (_, _), (damaged, _), (last, _) = toc_sessions(sim)
    assert damaged == nwa
    m2 = sim_mount(name="again")
    assert files_of(m2.path) == {"a.bin": a, "b.bin": b}
    m2.stop()
    out = tmp_path / "out"
    xorriso_extract(image, out, start=last)
    assert files_of(out) == {"a.bin": a, "b.bin": b}


MORE_MEDIA = [
    pytest.param(m, marks=pytest.mark.soak) for m in ("cd-rw80", "dvd-r", "dvd-rw", "bd-re")
]
WRITE_TYPE = {"cd-r80": 1, "cd-rw80": 1, "dvd-r": 0, "dvd-rw": 0}
"""Mode page 05h write type each track is started with: TAO on CD, incremental
on sequential DVD-R/RW (multisession needs them).  DVD+R and BD-R have no
write parameters page."""


@pytest.mark.parametrize("media", ["cd-r80", "dvd+r", "dvd+rw", "bd-r", *MORE_MEDIA])
def test_three_sessions_on_each_kind_of_disc_read_back(
    sim: SimDrive, sim_mount: Any, tmp_path: Path, media: str
) -> None:
    """Three burns, each read back byte for byte through the mount (cdfs
    reading /dev/sr0 after a remount) and by xorriso from the disc's image;
    the tray stays locked while xorriso records (an eject pressed during
    the first recording is refused)."""
    image = tmp_path / "disc.img"
    sim.insert(image, media)
    m = sim_mount()
    sim.faults(eject_during_write=True)
    want: dict[str, bytes] = {}
    for n in range(3):
        (m.path / f"d{n}").mkdir()
        (m.path / f"d{n}" / "f.bin").write_bytes(data := os.urandom(50_000 + n * 33_333))
        want[f"d{n}/f.bin"] = data
        m.burn()
    m.stop()
    state = sim.state()
    assert state["eject_refused_while_writing"] is True
    assert state["writes_unlocked"] == 0 and not state["locked"]
    starts = [start for start, _ in toc_sessions(sim)]
    assert len(starts) == 3
    if media_type(media).overwritable:
        # No tracks on the medium: xorriso grows one image in place, its
        # sessions found from the head it copies to LBAs 0-31.
        assert starts[0] == 32 and state["disc"]["tracks"] == []
        last = None
    else:
        tracks = state["disc"]["tracks"]
        assert [t["start"] for t in tracks] == starts and starts[0] == 0
        if media in WRITE_TYPE:
            assert state["track_write_types"] == [WRITE_TYPE[media]] * 3
        last = starts[-1]
    if media.startswith("cd"):
        # After each TAO track its 2 run-out sectors; then the session's
        # lead-out (6,750 after the first, 2,250 after later ones), the next
        # session's lead-in 4,500 and pre-gap 150 (REFERENCE.md, Orange Book).
        end = [t["start"] + t["written"] + 2 for t in tracks]
        assert starts[1:] == [end[0] + 11_400, end[1] + 6_900]
    m2 = sim_mount(name="again")
    assert files_of(m2.path) == want
    m2.stop()
    out = tmp_path / "out"
    xorriso_extract(image, out, start=last)
    assert files_of(out) == want
