"""What happens to discs in the simulated recorder (tests/mmc/) through
cdfs's real-drive path: closing, erasing a CD-RW, a disc swapped between
mount and burn, and the drive's errors (a write error at a sector, a
write-protected disc, a power calibration error).  See
tests/test_mmc_drive.py for how the drive is simulated.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import xorriso_extract
from tests.mmc.harness import SimDrive, have_umockdev
from tests.test_mmc_drive import files_of, toc_sessions

pytestmark = pytest.mark.skipif(
    not have_umockdev(), reason="needs umockdev, gir1.2-umockdev-1.0, python3-gi (make deps)"
)


@pytest.mark.parametrize("media", ["cd-r80", "dvd+r"])
def test_closing_the_disc(sim: SimDrive, sim_mount: Any, tmp_path: Path, media: str) -> None:
    """A burn with --close leaves the disc closed as the drive reports it:
    xorriso says so, the mount shows 0 free and stages nothing more."""
    sim.insert(tmp_path / "disc.img", media)
    m = sim_mount("--no-burn-on-unmount")
    (m.path / "a.txt").write_text("first\n")
    m.burn()
    (m.path / "b.txt").write_text("last\n")
    m.burn("--close")
    assert sim.state()["disc"]["finalized"]
    toc = sim.xorriso("-outdev", sim.device, "-toc").stdout
    assert "is written , is closed" in toc, toc
    s = m.wait_for(lambda s: s["state"] == "closed")
    assert s["free_bytes"] == 0
    with pytest.raises(OSError) as refused:
        (m.path / "c.txt").write_text("no room\n")
    assert refused.value.errno == errno.ENOSPC
    m.stop()
    m2 = sim_mount(name="again")
    assert files_of(m2.path) == {"a.txt": b"first\n", "b.txt": b"last\n"}


def test_erasing_a_cd_rw_through_the_mount(sim: SimDrive, sim_mount: Any, tmp_path: Path) -> None:
    """``cdfs erase`` of a mounted CD-RW blanks it (BLANK reaches the
    drive); what was staged meanwhile is kept, and burns onto the blank disc
    as its first session again."""
    image = tmp_path / "disc.img"
    sim.insert(image, "cd-rw80")
    m = sim_mount("--no-burn-on-unmount")
    (m.path / "old.txt").write_text("old\n")
    m.burn()
    (m.path / "new.txt").write_text("new\n")
    sim.cdfs("erase", str(m.path), "--yes")
    state = sim.state()
    assert state["disc"]["tracks"] == [] and "BLANK" in state["log"]
    s = m.wait_for(lambda s: s["state"] == "blank")
    assert s["staged_files"] == 1 and not (m.path / "old.txt").exists()
    m.burn()
    m.stop()
    assert [start for start, _ in toc_sessions(sim)] == [0]
    out = tmp_path / "out"
    xorriso_extract(image, out)
    assert files_of(out) == {"new.txt": b"new\n"}


@pytest.mark.parametrize("with_udev", [True, False], ids=["udev-follows", "behind-its-back"])
def test_a_disc_swapped_between_mount_and_burn(
    sim: SimDrive, sim_mount: Any, tmp_path: Path, with_udev: bool
) -> None:
    """Followed through udev's change uevents, the mount shows the new disc
    and burns the staged files onto it; swapped with no uevent (udev not
    running), the wrong-disc check refuses the burn and nothing is written
    on either disc.  The staged files are kept either way."""
    first, second = tmp_path / "first.img", tmp_path / "second.img"
    sim.insert(first, "cd-r80")
    m = sim_mount("--no-burn-on-unmount")
    (m.path / "f.txt").write_text("staged\n")
    assert sim.eject(uevent=with_udev)
    sim.insert(second, "dvd+r", uevent=with_udev)
    if with_udev:
        m.wait_for(lambda s: s["media"] == "dvd+r")
        m.burn()
        disc = sim.state()["disc"]
        assert disc["image"] == str(second) and len(disc["tracks"]) == 1
        out = tmp_path / "out"
        xorriso_extract(second, out)
        assert files_of(out) == {"f.txt": b"staged\n"}
    else:
        res = m.burn(check=False)
        assert res.returncode != 0 and "not the one this mount shows" in res.stderr
        assert sim.state()["disc"]["tracks"] == []
        assert (m.path / "f.txt").read_text() == "staged\n"
    assert first.stat().st_size == 0, "the first disc was never written"


def _write_error_on_second_session(sim: SimDrive, m: Any) -> tuple[bytes, bytes]:
    (m.path / "a.bin").write_bytes(a := os.urandom(80_000))
    m.burn()
    sim.faults(fail_write_at=sim.state()["nwa"] + 25)
    (m.path / "b.bin").write_bytes(b := os.urandom(200_000))
    res = m.burn(check=False)
    assert res.returncode != 0 and "burn failed" in res.stderr, res.stderr
    assert any("WRITE(10) -> sense 3/0C/00" in line for line in sim.state()["log"])
    sim.faults(fail_write_at=None)
    return a, b


def test_a_write_error_at_a_sector_fails_the_burn_and_keeps_the_files(
    sim: SimDrive, sim_mount: Any, tmp_path: Path
) -> None:
    """The drive answers a WRITE with a write error (3/0C/00) at sector N;
    libburn then closes the track and the session, cut short.  The burn
    fails, the staged file is kept, and the session before stays readable."""
    image = tmp_path / "disc.img"
    sim.insert(image, "cd-r80")
    m = sim_mount("--no-burn-on-unmount")
    a, b = _write_error_on_second_session(sim, m)
    disc = sim.state()["disc"]
    assert disc["tracks"][1]["written"] == 25 and disc["closed_sessions"] == 2
    assert (m.path / "b.bin").read_bytes() == b
    assert (m.path / "a.bin").read_bytes() == a
    m.stop()
    out = tmp_path / "out"
    xorriso_extract(image, out, start=0)
    assert files_of(out) == {"a.bin": a}


@pytest.mark.parametrize("again", [False, True], ids=["same-mount", "mounted-again"])
def test_after_a_write_error_the_next_burn_records_everything(
    sim: SimDrive, sim_mount: Any, tmp_path: Path, again: bool
) -> None:
    """Found with the simulated drive (issue 14): after the write error
    above, the session libburn closed cut short points beyond what was
    written.  The mount (the same one, or one made afterwards) shows the
    session before, says the disc has a damaged session, and the next burn
    records the staged files after the cut session."""
    image = tmp_path / "disc.img"
    sim.insert(image, "cd-r80")
    m = sim_mount("--no-burn-on-unmount")
    a, b = _write_error_on_second_session(sim, m)
    if again:
        m.stop()
        m = sim_mount(name="again")
    else:
        assert "damaged session" in m.status()["last_burn"]["message"]
    s = m.status()
    assert "the disc has a damaged session" in s["disc_problem"], s
    assert "Problem:      the disc has a damaged session" in sim.cdfs("status", str(m.path)).stdout
    assert files_of(m.path) == {"a.bin": a, "b.bin": b}
    assert os.getxattr(m.path / "a.bin", "user.cdfs.state") == b"disc"
    assert os.getxattr(m.path / "b.bin", "user.cdfs.state") == b"staged"
    m.burn()
    m.stop()
    sessions = toc_sessions(sim)
    assert len(sessions) == 3
    out = tmp_path / "out"
    xorriso_extract(image, out, start=sessions[-1][0])
    assert files_of(out) == {"a.bin": a, "b.bin": b}


def test_a_write_error_in_the_first_session_leaves_a_disc_that_still_takes_the_files(
    sim: SimDrive, sim_mount: Any, tmp_path: Path
) -> None:
    """The only session is the one cut short: no session reads whole, so the
    mount shows no files of the disc (before: a new mount failed, "beyond the
    disc"), keeps the staged one and burns it after the damaged session."""
    image = tmp_path / "disc.img"
    sim.insert(image, "cd-r80")
    m = sim_mount("--no-burn-on-unmount")
    sim.faults(fail_write_at=25)
    (m.path / "a.bin").write_bytes(a := os.urandom(200_000))
    res = m.burn(check=False)
    assert res.returncode != 0 and "burn failed" in res.stderr, res.stderr
    sim.faults(fail_write_at=None)
    m.stop()
    m = sim_mount(name="again")
    s = m.status()
    assert "no session of it reads whole" in s["disc_problem"], s
    assert files_of(m.path) == {"a.bin": a}
    m.burn()
    m.stop()
    sessions = toc_sessions(sim)
    assert len(sessions) == 2
    out = tmp_path / "out"
    xorriso_extract(image, out, start=sessions[-1][0])
    assert files_of(out) == {"a.bin": a}


@pytest.mark.parametrize(
    ("hook", "words", "code"),
    [
        ({"wp": True}, "is write-protected", 5),
        ({"opc_fails": True}, "could not calibrate its laser", 5),
    ],
    ids=["write-protected", "power-calibration"],
)
def test_drive_errors_reach_the_user(
    sim: SimDrive, tmp_path: Path, hook: dict[str, bool], words: str, code: int
) -> None:
    """The drive's sense codes come back through libburn and xorriso to a
    cdfs message, and nothing is written."""
    sim.insert(tmp_path / "disc.img", "cd-r80")
    sim.disc(**hook)
    iso = tmp_path / "img.iso"
    sim.run(["xorriso", "-outdev", f"stdio:{iso}", "-map", str(Path(__file__)), "/t.py"])
    res = sim.cdfs("burn-image", "--drive", sim.device, "-q", str(iso), check=False)
    assert res.returncode == code and words in res.stderr, res.stderr
    assert sim.state()["disc"]["tracks"] == []
