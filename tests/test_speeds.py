"""Write speeds from ``xorriso -list_speeds``: parsing, the check of
``--speed`` and of the setting against them.

No drive here offers speeds (a ``stdio:`` pseudo-drive lists none, which is
checked too), so the reports below are built line by line as xorriso prints
them.  Source: libisoburn, ``xorriso/drive_mgt.c``, ``Xorriso_list_speeds()``
(as in https://github.com/deepin-community/libisoburn, commit bffd50bb),
which prints each speed descriptor with ``"Write speed  : "`` followed by
``" %5dk , %4.1fx%s\\n"`` (kB/s, x-factor, unit C/D/B), then ``Write speed
L``/``H`` the same way, and for CDs with an ATIP ``Write speed l``/``h``
before them; it first prints the ``-toc`` overview of drive and medium
(``Xorriso_toc(xorriso, 3)``).  The man page xorriso(1), ``-list_speeds``,
says that l and h "may appear only with CD and eventually override the list
of other speed offers".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cdfs.errors import UsageError
from cdfs.recorders.speeds import (
    Speed,
    check_speed,
    list_speeds_command,
    parse_list_speeds,
    read_speeds,
)

DVD_BURNER_WITH_DVD_PLUS_R = """\
xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.

Drive current: -outdev '/dev/sr0'
Drive type   : vendor 'HL-DT-ST' product 'DVDRAM GH24NSD1' revision 'LG00'
Media current: DVD+R
Media product: CMC MAG/M01/0 , CMC Magnetics Corporation
Media status : is blank
Media summary: 0 sessions, 0 data blocks, 0 data, 4489m free
Write speed  :   5540k ,  4.0xD
Write speed  :  11080k ,  8.0xD
Write speed  :  16620k , 12.0xD
Write speed  :  22160k , 16.0xD
Write speed  :  33240k , 24.0xD
Write speed L:   5540k ,  4.0xD
Write speed H:  33240k , 24.0xD
Read speed L :   1385k ,  1.0xD
Read speed H :  22160k , 16.0xD
"""

# A CD-R whose ATIP allows less than the drive's descriptors: "Write speed
# h" overrides H (the man page's "eventually override").
CD_BURNER_WITH_CD_R = """\
Drive current: -outdev '/dev/sr0'
Media current: CD-R
Media status : is blank
Write speed  :   4234k , 24.0xC
Write speed  :   1411k ,  8.0xC
Write speed  :   8467k , 48.0xC
Write speed  :   4234k , 24.0xC
Write speed h:   7056k , 40.0xC
Write speed L:   1411k ,  8.0xC
Write speed H:   8467k , 48.0xC
"""


def test_a_dvd_burners_speeds_are_read_in_order() -> None:
    s = parse_list_speeds(DVD_BURNER_WITH_DVD_PLUS_R)
    assert s.as_list() == [4.0, 8.0, 12.0, 16.0, 24.0]
    assert s.low == Speed(5540, 4.0, "D") and s.high == Speed(33240, 24.0, "D")
    assert s.words() == "4x, 8x, 12x, 16x, 24x"
    assert s.known


def test_read_speeds_are_not_write_speeds_and_duplicates_count_once() -> None:
    s = parse_list_speeds(CD_BURNER_WITH_CD_R)
    assert s.as_list() == [8.0, 24.0, 48.0]
    assert s.high == Speed(7056, 40.0, "C"), "the ATIP's h overrides H"
    assert s.low == Speed(1411, 8.0, "C")


def test_speeds_offered_pass_and_others_are_refused_naming_the_offer() -> None:
    s = parse_list_speeds(DVD_BURNER_WITH_DVD_PLUS_R)
    for ok in (None, 4, 8, 10, 24):
        check_speed(ok, s)
    with pytest.raises(UsageError) as err:
        check_speed(48, s, "/dev/sr0")
    assert "/dev/sr0 cannot write at 48x" in str(err.value)
    assert "4x to 24x (4x, 8x, 12x, 16x, 24x)" in str(err.value)
    with pytest.raises(UsageError):
        check_speed(1, s)
    cd = parse_list_speeds(CD_BURNER_WITH_CD_R)
    with pytest.raises(UsageError, match="8x to 40x"):
        check_speed(48, cd)


def test_no_report_means_no_opinion() -> None:
    s = parse_list_speeds("xorriso : NOTE : Output device is not an MMC drive.\n")
    assert not s.known and s.high is None
    check_speed(100, s)


def test_a_stdio_pseudo_drive_lists_no_speeds(tmp_path: Path) -> None:
    """The real xorriso on a ``stdio:`` file: the command line is one it
    accepts, and it names no speed (nothing to check against)."""
    image = tmp_path / "disc.iso"
    image.write_bytes(b"\0" * 65536)
    out = subprocess.run(
        ["xorriso", *list_speeds_command(f"stdio:{image}")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Media current: stdio file" in out.stdout + out.stderr
    assert not read_speeds(f"stdio:{image}").known
    assert not read_speeds("/dev/null", program=str(tmp_path / "no-xorriso")).known


def test_a_burn_checks_the_speed_against_the_drive(tmp_path: Path) -> None:
    """What the burn and burn-image run before recording: the drive's list
    (here from a stand-in xorriso printing the report above) refuses 48x;
    the emulated recorder takes any speed."""
    from cdfs.burn.checks import check_write_speed
    from cdfs.recorders.emulated import create_media
    from cdfs.recorders.media import media_type
    from cdfs.recorders.xorriso import XorrisoRecorder

    report = tmp_path / "report.txt"
    report.write_text(DVD_BURNER_WITH_DVD_PLUS_R)
    stub = tmp_path / "xorriso"
    stub.write_text(f'#!/bin/sh\n[ "$3" = -list_speeds ] && cat {report}\n')
    stub.chmod(0o755)
    drive = XorrisoRecorder("/dev/sr0", program=str(stub))
    check_write_speed(drive, 16)
    check_write_speed(drive, None)
    with pytest.raises(UsageError, match="/dev/sr0 cannot write at 48x"):
        check_write_speed(drive, 48)
    check_write_speed(create_media(tmp_path / "disc.img", media_type("cd-r80")), 48)


def test_mounting_warns_of_a_speed_setting_the_drive_does_not_offer(tmp_path: Path) -> None:
    """``cdfs mount`` checks the speed setting against the drive and the
    disc in it (burns would be refused); an empty tray says nothing."""
    from cdfs.mountcheck import speed_warning
    from cdfs.recorders.media import DiscInfo, DiscState, media_type
    from cdfs.recorders.nodisc import no_disc_info
    from cdfs.recorders.xorriso import XorrisoRecorder

    report = tmp_path / "report.txt"
    report.write_text(DVD_BURNER_WITH_DVD_PLUS_R)
    stub = tmp_path / "xorriso"
    stub.write_text(f'#!/bin/sh\n[ "$3" = -list_speeds ] && cat {report}\n')
    stub.chmod(0o755)
    drive = XorrisoRecorder("/dev/sr0", program=str(stub))
    disc = DiscInfo(media_type("dvd+r"), DiscState.BLANK)
    warning = speed_warning(drive, 48, disc)
    assert warning.startswith("the speed setting: /dev/sr0 cannot write at 48x")
    assert "burns will be refused until it is changed" in warning
    assert speed_warning(drive, 8, disc) == ""
    assert speed_warning(drive, None, disc) == ""
    assert speed_warning(drive, 48, no_disc_info()) == ""
