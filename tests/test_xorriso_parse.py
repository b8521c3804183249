"""The xorriso backend: pure parsing of -toc / -msinfo / progress output
(samples in the shape real drives print them) and the command lines it
builds.  The recording flow (a fake xorriso, the real engine on its
``stdio:`` pseudo-drive, disc states and drive errors) is in tests/test_xorriso_engine.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdfs.errors import (
    NotWritableError,
)
from cdfs.recorders.media import (
    RECORDER_PADDING,
    DiscState,
    Family,
    Session,
)
from cdfs.recorders.recorder import Recorder
from cdfs.recorders.xorparse import (
    disc_info_from_toc,
    media_for_profile,
    overwritable,
    parse_blank_progress,
    parse_msinfo,
    parse_progress,
    parse_toc,
    supports_simulation,
)
from cdfs.recorders.xorriso import XorrisoRecorder, erase_command, record_command
from cdfs.units import Lba

TIMEOUT = 120

BANNER = "xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.\n\n"

BLANK_CDR = (
    BANNER
    + """Drive current: -outdev '/dev/sr0'
Media current: CD-R
Media status : is blank
Media summary: 0 sessions, 0 data blocks, 0 data,  703m free
Drive current: -outdev '/dev/sr0'
Drive type   : vendor 'HL-DT-ST' product 'BDDVDRW GGC-H20L' revision '1.03'
Media current: CD-R
Media product: 97m34s23f/79m59s73f , Mitsubishi Chemical Corporation
Media status : is blank
Media blocks : 0 readable , 359846 writable , 359846 overall
Media summary: 0 sessions, 0 data blocks, 0 data,  703m free
"""
)

# Three sessions at the LBAs seen on a real CD-R (REFERENCE.md).
APPENDABLE_CDR = """Drive current: -outdev '/dev/sr0'
Media current: CD-R
Media status : is written , is appendable
Drive type   : vendor 'TSSTcorp' product 'CDDVDW SE-S084F' revision 'TS00'
Media current: CD-R
Media product: 97m26s66f/79m59s71f , CMC Magnetics Corporation
Media status : is written , is appendable
Media blocks : 31098 readable , 321846 writable , 359846 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
ISO session  :   1 ,         0 ,       608s , BACKUP_1
ISO session  :   2 ,     12010 ,      5888s , BACKUP_2
ISO session  :   3 ,     24800 ,      6298s , BACKUP 3
Media summary: 3 sessions, 31098 data blocks, 60.7m data,  642m free
Media nwa    : 38000s
"""

# As posted by xorriso's author for a DVD-RW written by Brasero.
APPENDABLE_DVDRW = """$ xorriso -outdev /dev/sr4 -toc
Media current: DVD-RW sequential recording
Media product: RITEKW04 , Ritek Corp
Media status : is written , is appendable
Media blocks : 145680 readable , 2123520 writable , 2298496 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
ISO session  :   1 ,         0 ,    131591s , PBOOT
Media summary: 1 session, 145680 data blocks,  285m data, 4148m free
Media nwa    : 174368s
"""

# A DVD+R with sessions that hold no ISO 9660 (no volume id).
OTHER_SESSIONS_DVDPR = """Media current: DVD+R
Media product: CMC_MAG/M01/48 , CMC Magnetics Corporation
Media status : is written , is appendable
Media blocks : 367920 readable , 1925136 writable , 2295104 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
Other session:   1 ,         0 ,     65264s ,\x20
Other session:   2 ,     67312 ,    150736s ,\x20
Other session:   3 ,    220096 ,    139920s ,\x20
Other session:   4 ,    362064 ,       304s ,\x20
Other session:   5 ,    364416 ,      3504s ,\x20
Media summary: 5 sessions, 359728 data blocks,  703m data, 3760m free
Media nwa    : 369968s
"""

CLOSED_DVDPR = (
    BANNER
    + """xorriso : NOTE : Disc status unsuitable for writing
Drive current: -outdev '/dev/sr1'
Media current: DVD+R
Media status : is written , is closed
Drive current: -outdev '/dev/sr1'
Drive type   : vendor 'HL-DT-ST' product 'DVDRAM GT80N' revision '1.01'
Media current: DVD+R
Media product: AML/003/48 , UML
Media status : is written , is closed
Media blocks : 0 readable , 0 writable , 0 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
xorriso : SORRY : Cannot obtain Table Of Content
xorriso : NOTE : Tolerated problem event of severity 'SORRY'
"""
)

NO_DISC = (
    BANNER
    + """xorriso : NOTE : Disc status unsuitable for writing
Drive current: -outdev '/dev/sr0'
Media current: is not recognizable
Media status : is not present
Drive current: -outdev '/dev/sr0'
Drive type   : vendor 'TSSTcorp' product 'DVD+-RW TS-L633J' revision 'D400'
Media current: is not recognizable
Media status : is not present
"""
)

CANNOT_ACQUIRE = (
    BANNER
    + """libburn : SORRY : Neither stdio-path nor its directory exist
xorriso : FAILURE : Cannot acquire drive 'stdio:/nonexist/x.iso'
xorriso : aborting : -abort_on 'FAILURE' encountered 'FAILURE'
"""
)


# --- -toc parsing --------------------------------------------------------------


def test_blank_cdr() -> None:
    report = parse_toc(BLANK_CDR)
    assert report.profile == "CD-R"
    assert report.status == "blank"
    assert (report.readable, report.writable, report.overall) == (0, 359846, 359846)
    assert report.sessions == () and report.nwa is None
    assert "Mitsubishi" in report.product
    assert "GGC-H20L" in report.drive
    info = disc_info_from_toc(report)
    assert info.media.name == "cd-r80" and info.media.write_once
    assert info.state is DiscState.BLANK
    assert info.capacity == 359846
    assert info.nwa == 0
    assert info.room == 359846 - RECORDER_PADDING - 2


def test_appendable_cdr_uses_the_drives_nwa() -> None:
    report = parse_toc(APPENDABLE_CDR)
    assert [(s.index, s.start, s.size, s.volume_id) for s in report.sessions] == [
        (1, 0, 608, "BACKUP_1"),
        (2, 12010, 5888, "BACKUP_2"),
        (3, 24800, 6298, "BACKUP 3"),
    ]
    assert all(s.iso for s in report.sessions)
    info = disc_info_from_toc(report)
    assert info.state is DiscState.APPENDABLE
    assert info.sessions[1] == Session(Lba(12010), 5888)
    # 11,400 after the first session, 6,900 after later ones, 2 run-out.
    assert info.nwa == 38000 == 31098 + 2 + 6900
    assert info.label == "BACKUP 3"
    assert info.capacity == 38000 + 321846
    assert info.room == 321846 - RECORDER_PADDING - 2


def test_the_drives_nwa_wins_over_session_sizes() -> None:
    text = APPENDABLE_CDR.replace("Media nwa    : 38000s", "Media nwa    : 31000s")
    info = disc_info_from_toc(parse_toc(text))
    assert info.nwa == 31000
    assert info.sessions[-1] == Session(Lba(24800), 6200)
    assert info.extra["profile"] == "CD-R"


def test_appendable_dvd_rw() -> None:
    info = disc_info_from_toc(parse_toc(APPENDABLE_DVDRW))
    assert info.media.name == "dvd-rw" and info.media.rewritable
    assert info.media.family is Family.DVD
    assert info.sessions == (Session(Lba(0), 131591),)
    assert info.nwa == 174368
    assert info.label == "PBOOT"
    assert info.room == 2123520 - RECORDER_PADDING


def test_other_sessions_without_iso() -> None:
    report = parse_toc(OTHER_SESSIONS_DVDPR)
    assert len(report.sessions) == 5
    assert not any(s.iso for s in report.sessions)
    assert report.sessions[-1].start == 364416 and report.sessions[-1].volume_id == ""
    info = disc_info_from_toc(report)
    assert info.media.name == "dvd+r"
    assert info.nwa == 369968
    assert info.label == ""


def test_closed_disc_without_toc() -> None:
    report = parse_toc(CLOSED_DVDPR)
    assert report.status == "closed"
    assert report.problems == ("Cannot obtain Table Of Content",)
    info = disc_info_from_toc(report)
    assert info.state is DiscState.CLOSED
    assert info.nwa is None and info.room == 0 and not info.writable


def test_empty_drive() -> None:
    report = parse_toc(NO_DISC)
    assert report.status == "absent"
    with pytest.raises(NotWritableError, match="no disc"):
        disc_info_from_toc(report)


def test_unacquirable_drive_reports_the_problem() -> None:
    report = parse_toc(CANNOT_ACQUIRE)
    assert report.profile == "" and report.status == "unknown"
    assert "Cannot acquire drive 'stdio:/nonexist/x.iso'" in report.problems


def test_appendable_without_nwa_is_not_writable() -> None:
    text = APPENDABLE_CDR.replace("Media nwa    : 38000s\n", "")
    info = disc_info_from_toc(parse_toc(text))
    assert info.state is DiscState.CLOSED and info.nwa is None


def test_appendable_with_unreadable_toc_counts_the_space_as_used() -> None:
    text = "\n".join(
        line for line in APPENDABLE_DVDRW.splitlines() if not line.startswith("ISO session")
    )
    info = disc_info_from_toc(parse_toc(text))
    assert info.sessions == ()
    assert info.wasted == (Session(Lba(0), 174368),)
    assert info.nwa == 174368


def test_identity_changes_with_the_disc() -> None:
    a = disc_info_from_toc(parse_toc(APPENDABLE_CDR)).identity
    assert a == disc_info_from_toc(parse_toc(APPENDABLE_CDR)).identity
    more = APPENDABLE_CDR.replace("Media nwa    : 38000s", "Media nwa    : 40000s")
    assert disc_info_from_toc(parse_toc(more)).identity != a
    assert disc_info_from_toc(parse_toc(BLANK_CDR)).identity != a


# --- other parsers ---------------------------------------------------------------


def test_msinfo() -> None:
    assert parse_msinfo("24800,31098\n") == (24800, 31098)
    assert parse_msinfo(BANNER + "0,15552\n") == (0, 15552)
    assert parse_msinfo("xorriso : FAILURE : Output medium is not appendable.") is None


def test_progress_lines() -> None:
    line = "xorriso : UPDATE :   96 of  699 MB written (fifo 100%) [buf  91%]  12.1x."
    assert parse_progress(line) == (96, 699)
    assert parse_progress("xorriso : UPDATE :    3 of   30 MB written (fifo 99%) [buf  50%]") == (
        3,
        30,
    )
    assert parse_progress("Beginning to write data track.") is None
    assert parse_blank_progress("xorriso : UPDATE : Blanking  ( 12.5% done in 5 seconds )") == 12.5
    assert parse_blank_progress("Blanking done") is None


@pytest.mark.parametrize(
    ("profile", "blocks", "name"),
    [
        ("CD-R", 359846, "cd-r80"),
        ("CD-R", 333000, "cd-r74"),
        ("CD-R", 405000, "cd-r90"),
        ("CD-R", 999999, "cd-r99"),
        ("CD-RW", 359847, "cd-rw80"),
        ("DVD-R sequential recording", None, "dvd-r"),
        # One DAO session only (issue 13): no longer taken for a DVD-R.
        ("DVD-R/DL sequential recording", None, "dvd-r-dl"),
        ("DVD-R/DL layer jump recording", None, "dvd-r-dl"),
        ("DVD-RW sequential recording", None, "dvd-rw"),
        ("DVD-RW restricted overwrite", None, "dvd-rw-ro"),
        ("DVD+R", None, "dvd+r"),
        ("DVD+R/DL", None, "dvd+r"),
        ("DVD+RW", None, "dvd+rw"),
        ("DVD-RAM", None, "dvd-ram"),
        ("BD-R sequential recording", None, "bd-r"),
        ("BD-RE", None, "bd-re"),
        ("stdio file, overwriteable", None, "stdio"),
        ("CD-ROM", None, "cd-rom"),
        ("BD-ROM", None, "bd-rom"),
    ],
)
def test_media_for_profile(profile: str, blocks: int | None, name: str) -> None:
    assert media_for_profile(profile, blocks).name == name


def test_pressed_discs_are_write_once_and_overwritable_media_known() -> None:
    assert media_for_profile("DVD-ROM").write_once
    assert media_for_profile("BD-ROM").family is Family.BD
    grows = {p for p in ("DVD+RW", "BD-RE", "DVD-RW restricted overwrite", "stdio file, x")}
    for profile in grows:
        assert overwritable(media_for_profile(profile)), profile
    for profile in ("CD-RW", "DVD-RW sequential recording", "DVD+R", "BD-R"):
        assert not overwritable(media_for_profile(profile)), profile
    assert supports_simulation(media_for_profile("CD-RW"))
    assert supports_simulation(media_for_profile("DVD-R sequential recording"))
    assert not supports_simulation(media_for_profile("DVD+R"))
    assert not supports_simulation(media_for_profile("BD-R"))


# --- command lines ---------------------------------------------------------------


def test_record_command_for_cd() -> None:
    cdr = media_for_profile("CD-R", 359846)
    args = record_command("/dev/sr0", Path("/tmp/s.bin"), cdr, speed=4)
    assert args == [
        "-as",
        "cdrecord",
        "-v",
        "dev=/dev/sr0",
        "-multi",
        "-tao",
        "speed=4c",
        "padsize=300k",
        "/tmp/s.bin",
    ]
    closing = record_command("/dev/sr0", Path("/tmp/s.bin"), cdr, close=True, simulate=True)
    assert "-multi" not in closing and "-dummy" in closing
    assert not any(a.startswith("speed=") for a in closing)


def test_record_command_for_overwritable_and_bd() -> None:
    args = record_command("/dev/sr1", Path("/i.iso"), media_for_profile("DVD+RW"), speed=2.4)
    assert "--grow_overwriteable_iso" in args and "-tao" not in args
    assert "speed=2.4d" in args
    bd = record_command("/dev/sr1", Path("/i.iso"), media_for_profile("BD-R"), speed=6)
    assert "speed=6b" in bd and "--grow_overwriteable_iso" not in bd


def test_image_names_never_become_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = record_command("/dev/sr0", Path("-eject"), media_for_profile("CD-R"))
    assert args[-1] == str(tmp_path / "-eject")
    assert all(not a.startswith("-eject") for a in args)


def test_erase_commands() -> None:
    cdrw = media_for_profile("CD-RW")
    assert erase_command("/dev/sr0", cdrw)[-1] == "blank=fast"
    assert erase_command("/dev/sr0", cdrw, full=True)[-1] == "blank=all"
    plus = erase_command("/dev/sr0", media_for_profile("DVD+RW"), full=True)
    assert plus[-2:] == ["--grow_overwriteable_iso", "blank=fast"]


def test_ident_is_a_safe_name() -> None:
    assert XorrisoRecorder("/dev/sr0").ident == "drive-dev-sr0"
    stdio = XorrisoRecorder("stdio:/tmp/some where/disc.iso").ident
    assert stdio.startswith("drive-stdio-") and "/" not in stdio and " " not in stdio
    assert isinstance(XorrisoRecorder("/dev/sr0"), Recorder)
