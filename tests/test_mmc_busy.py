"""A drive that is busy, through cdfs's real-drive path (tests/mmc/): the
simulated recorder answers a number of commands NOT READY (2/04/01, in
process of becoming ready, as a drive spinning a disc up; or 2/04/08, long
write in progress) before it becomes ready.  libburn waits for it, so
``cdfs drives`` and a burn succeed after the wait; a drive that never
becomes ready gets a clear message, never a hang.  See
tests/test_mmc_drive.py for how the drive is simulated.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from cdfs.errors import DriveBusyError
from cdfs.recorders.xorriso import XorrisoRecorder
from tests.conftest import xorriso_extract
from tests.mmc.harness import SimDrive, have_umockdev
from tests.test_mmc_drive import files_of
from tests.test_xorriso_engine import fake_xorriso

needs_sim = pytest.mark.skipif(
    not have_umockdev(), reason="needs umockdev, gir1.2-umockdev-1.0, python3-gi (make deps)"
)

BUSY = 150
"""NOT READY answers before the drive is ready: libburn polls it every half
second (a hundredth of that under tests/mmc/quicksleep.c)."""


@needs_sim
@pytest.mark.parametrize("writing", [False, True], ids=["becoming-ready", "long-write"])
def test_a_drive_busy_for_a_while_is_waited_for(
    sim: SimDrive, sim_mount: Any, tmp_path: Path, writing: bool
) -> None:
    image = tmp_path / "disc.img"
    sim.insert(image, "cd-r80")
    sim.faults(busy=BUSY, busy_writing=writing)
    report = json.loads(sim.cdfs("drives", "--json").stdout)
    (drive,) = report["drives"]
    assert drive["disc"]["state"] == "blank", drive
    assert sim.state()["busy_answers"] == BUSY and sim.state()["busy_left"] == 0
    m = sim_mount("--no-burn-on-unmount")
    (m.path / "f.bin").write_bytes(data := os.urandom(100_000))
    sim.faults(busy=BUSY, busy_writing=writing)
    m.burn()
    assert sim.state()["busy_answers"] == 2 * BUSY
    m.stop()
    out = tmp_path / "out"
    xorriso_extract(image, out)
    assert files_of(out) == {"f.bin": data}


@needs_sim
@pytest.mark.soak
@pytest.mark.timeout(900)
def test_a_drive_that_never_becomes_ready_is_named_not_waited_for_forever(
    sim: SimDrive, tmp_path: Path
) -> None:
    """libburn retries each command for 30 s, then goes on and xorriso calls
    the disc closed; cdfs says the drive is not ready (exit 8) instead, within
    its own timeout for asking the drive (120 s)."""
    sim.insert(tmp_path / "disc.img", "cd-r80")
    sim.faults(busy=1 << 40)
    res = sim.run([sys.executable, "-m", "cdfs", "drives", "--json"], timeout=400)
    (drive,) = json.loads(res.stdout)["drives"]
    assert "is not ready" in drive["disc"]["problem"], drive
    iso = tmp_path / "img.iso"
    sim.run(["xorriso", "-outdev", f"stdio:{iso}", "-map", str(Path(__file__)), "/t.py"])
    cmd = [sys.executable, "-m", "cdfs", "burn-image", "--drive", sim.device, "-q", str(iso)]
    res = sim.run(cmd, check=False, timeout=400)
    assert res.returncode == 8 and "is not ready" in res.stderr, res.stderr
    sim.faults(busy=0)
    assert sim.state()["disc"]["tracks"] == []


NEVER_READY_TOC = """\
 xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.

Drive current: -outdev '/dev/sr0'
Drive access : exclusive:unrestricted
Drive type   : vendor 'CDFSSIM' product 'MMC RECORDER' revision '1.0'
libburn : SORRY : Timeout exceed (30000 ms). Retry canceled.

libburn : SORRY : Command: READ DISC INFORMATION #2632,[2 04 01] : 51 00 00 00 00 00 00 00 22 00\
  : dxfer_len= 34
xorriso : NOTE : Disc status unsuitable for writing
Media current: CD-R
Media product: 00m02s00f/00m02s00f , (not found in manufacturer list)
Media status : is written , is closed
Media blocks : 0 readable , 0 writable , 0 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
libburn : SORRY : Timeout exceed (30000 ms). Retry canceled.

libburn : SORRY : Command: READ TOC/PMA/ATIP #2528,[2 04 01] : 43 02 04 00 00 00 00 00 1c 00\
  : dxfer_len= 28
xorriso : SORRY : Cannot obtain Table Of Content
xorriso : NOTE : Tolerated problem event of severity 'SORRY'
xorriso : NOTE : -return_with SORRY 32 triggered by problem severity SORRY
"""
"""What xorriso 1.5.4 (libburn 1.5.4) said of the simulated drive answering
every command 2/04/01, in 197 s (its lines, stdout and stderr merged as
cdfs reads them)."""


def test_xorriso_s_report_of_a_drive_never_ready_is_not_taken_for_a_closed_disc(
    tmp_path: Path,
) -> None:
    """libburn gives up on commands the drive answered NOT READY for 30 s
    and xorriso goes on to call the disc closed and empty: cdfs says the
    drive is not ready instead (exit 8), so that nothing calls the disc full."""
    program, _log = fake_xorriso(tmp_path, NEVER_READY_TOC)
    rec = XorrisoRecorder("/dev/sr0", program=str(program))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    with pytest.raises(DriveBusyError, match="is not ready") as raised:
        rec.disc_info()
    assert raised.value.exit_code == 8
