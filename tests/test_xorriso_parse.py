"""The xorriso backend: pure parsing of -toc / -msinfo / progress output
(samples in the shape real drives print them), the command lines it builds,
a fake xorriso for the recording flow, and the real xorriso engine on its
``stdio:`` pseudo-drive."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cdfs.burn.checks import check_capacity
from cdfs.errors import (
    DriveBusyError,
    MediaError,
    NotFoundError,
    NotWritableError,
    RecorderError,
    WriteOnceError,
)
from cdfs.iso import disccontents
from cdfs.recorders.media import (
    MEDIA_TYPES,
    RECORDER_PADDING,
    DiscInfo,
    DiscState,
    Family,
    MediaType,
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
from cdfs.units import SECTOR_SIZE, Lba, Sectors

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


# --- a fake xorriso: the recording flow without hardware --------------------------

FAKE = """#!{python}
import json, sys, time
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
if "-toc" in args:
    sys.stdout.write({toc!r})
    sys.exit(0)
if "-dummy" in args and {fail_dummy!r}:
    print("xorriso : FAILURE : Simulated burn refused", file=sys.stderr)
    sys.exit(5)
for done in range(0, 4):
    line = "xorriso : UPDATE : %4d of    3 MB written (fifo 100%%) [buf 99%%] 4.0x." % done
    sys.stderr.write(line + "\\r")
    sys.stderr.flush()
print("Writing to '/dev/sr0' completed successfully.")
"""


def fake_xorriso(tmp_path: Path, toc: str, *, fail_dummy: bool = False) -> tuple[Path, Path]:
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "xorriso"
    script.write_text(
        FAKE.format(python=sys.executable, log=str(log), toc=toc, fail_dummy=fail_dummy)
    )
    script.chmod(0o755)
    return script, log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_fake_drive_records_with_progress(tmp_path: Path) -> None:
    program, log = fake_xorriso(tmp_path, APPENDABLE_CDR)
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * (3 * 1024 * 1024))
    rec = XorrisoRecorder("/dev/sr0", program=str(program))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2 * 1024 * 1024:
            raise ValueError("a broken progress bar must not stop a burn")

    session = rec.record(image, Lba(38000), speed=8, progress=progress)
    # The session is the image and the padding xorriso writes after it.
    padded = image.stat().st_size // SECTOR_SIZE + RECORDER_PADDING
    assert session == Session(Lba(38000), padded)
    total = image.stat().st_size
    assert seen == [(n * 1024 * 1024, total) for n in range(4)] + [(total, total)]
    burn = calls(log)[-1]
    assert burn[:4] == ["-as", "cdrecord", "-v", "dev=/dev/sr0"]
    assert "-multi" in burn and "-tao" in burn and "speed=8c" in burn
    assert RECORDER_PADDING * SECTOR_SIZE == 300 * 1024 and "padsize=300k" in burn
    assert burn[-1] == str(image)


def test_fake_drive_refusals_run_nothing(tmp_path: Path) -> None:
    program, log = fake_xorriso(tmp_path, APPENDABLE_CDR)
    rec = XorrisoRecorder("/dev/sr0", program=str(program))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * 4096)
    with pytest.raises(RecorderError, match="next writable address is 38000"):
        rec.record(image, Lba(24800))
    huge = tmp_path / "huge.iso"
    with huge.open("wb") as f:
        f.truncate(321846 * SECTOR_SIZE)
    with pytest.raises(NotWritableError, match="at least 629 MB free"):
        rec.record(huge, Lba(38000))
    with pytest.raises(WriteOnceError, match="cannot be erased"):
        rec.erase()
    assert all("-toc" in c for c in calls(log))


def test_fake_drive_closed_disc(tmp_path: Path) -> None:
    program, _ = fake_xorriso(tmp_path, CLOSED_DVDPR)
    # The disc is read where the drive gives no table of contents (issue 13):
    # a readable one, so that what is refused is the recording.
    disc = make_iso(tmp_path, "closed", {"a.txt": b"a"})
    rec = XorrisoRecorder(f"stdio:{disc}", program=str(program))
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * 4096)
    with pytest.raises(NotWritableError, match="not writable or it is full"):
        rec.record(image, Lba(0))


def test_fake_drive_failure_is_reported(tmp_path: Path) -> None:
    program, _ = fake_xorriso(tmp_path, BLANK_CDR, fail_dummy=True)
    rec = XorrisoRecorder("/dev/sr0", program=str(program))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * 4096)
    with pytest.raises(RecorderError, match=r"exit 5.*Simulated burn refused"):
        rec.record(image, Lba(0), simulate=True)


def test_missing_program_and_hanging_program(tmp_path: Path) -> None:
    rec = XorrisoRecorder("stdio:/tmp/x.iso", program=str(tmp_path / "no-such-xorriso"))
    with pytest.raises(RecorderError, match="not installed"):
        rec.disc_info()
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    with pytest.raises(RecorderError, match="did not answer"):
        XorrisoRecorder("stdio:/tmp/x.iso", program=str(hang), timeout=0.5).disc_info()


def test_missing_device_node() -> None:
    with pytest.raises(NotFoundError, match="no such drive"):
        XorrisoRecorder("/dev/cdfs-test-no-such-drive").disc_info()
    with pytest.raises(NotFoundError):
        XorrisoRecorder("/dev/cdfs-test-no-such-drive").open_reader()


# --- the real engine on xorriso's stdio: pseudo-drive ------------------------------

needs_xorriso = pytest.mark.skipif(shutil.which("xorriso") is None, reason="needs xorriso")


def xorriso(*args: str) -> str:
    res = subprocess.run(
        ["xorriso", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def make_iso(tmp_path: Path, name: str, files: dict[str, bytes], *extra: str) -> Path:
    src = tmp_path / f"{name}-src"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = tmp_path / f"{name}.iso"
    xorriso("-as", "mkisofs", "-R", "-V", name.upper(), *extra, "-o", str(out), str(src))
    return out


@needs_xorriso
def test_real_toc_output_parses(tmp_path: Path) -> None:
    iso = make_iso(tmp_path, "real", {"a.txt": b"a"})
    out = subprocess.run(
        ["xorriso", "-outdev", f"stdio:{iso}", "-toc"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    report = parse_toc(out.stdout + out.stderr)
    assert report.profile == "stdio file, overwriteable"
    assert report.status == "appendable"
    assert len(report.sessions) == 1 and report.sessions[0].volume_id == "REAL"
    assert report.sessions[0].size == iso.stat().st_size // SECTOR_SIZE
    msinfo = ["-as", "cdrecord", f"dev=stdio:{iso}", "--grow_overwriteable_iso", "-msinfo"]
    ms = parse_msinfo(xorriso(*msinfo))
    assert ms is not None and report.nwa == ms[1]


@needs_xorriso
def test_real_engine_records_two_sessions_and_erases(tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    disc.touch()
    rec = XorrisoRecorder(f"stdio:{disc}")
    info = rec.disc_info()
    # A blank overwritable medium starts at 32 (issue 13); a whole image made
    # from sector 0 may still go at 0, as xorriso writes one.
    assert info.state is DiscState.BLANK and info.nwa == 32 and info.media.name == "stdio"
    first = make_iso(tmp_path, "first", {"one.txt": b"one\n", "big.bin": os.urandom(3 << 20)})
    seen: list[tuple[int, int]] = []
    session = rec.record(first, Lba(0), progress=lambda d, t: seen.append((d, t)))
    assert session.start == 0
    assert seen[-1] == (first.stat().st_size,) * 2
    info = rec.disc_info()
    assert info.state is DiscState.APPENDABLE and info.label == "FIRST"
    assert info.nwa is not None and info.nwa >= session.end
    ms = xorriso("-as", "cdrecord", f"dev=stdio:{disc}", "--grow_overwriteable_iso", "-msinfo")
    assert parse_msinfo(ms) == (0, info.nwa)
    before = disc.read_bytes()
    second = make_iso(
        tmp_path, "second", {"two.txt": b"two\n"}, "-C", f"0,{info.nwa}", "-M", f"stdio:{disc}"
    )
    with pytest.raises(RecorderError, match="next writable address"):
        rec.record(second, Lba(info.nwa + 16))
    assert disc.read_bytes() == before
    rec.record(second, info.nwa)
    after = rec.disc_info()
    assert after.label == "SECOND" and after.identity != info.identity
    found = xorriso("-indev", f"stdio:{disc}", "-find", "/", "-type", "f")
    assert "'/one.txt'" in found and "'/two.txt'" in found and "'/big.bin'" in found
    with rec.open_reader() as r:
        r.seek(16 * SECTOR_SIZE)
        assert r.read(6)[1:] == b"CD001"
    rec.erase()
    blank = rec.disc_info()
    assert blank.state is DiscState.BLANK and blank.sessions == () and blank.nwa == 32
    rec.eject()


@needs_xorriso
def test_real_engine_failure_becomes_recorder_error(tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    disc.touch()
    rec = XorrisoRecorder(f"stdio:{disc}")
    rec.record(make_iso(tmp_path, "first", {"a.txt": b"a"}), Lba(0))
    nwa = rec.disc_info().nwa
    assert nwa is not None
    not_iso = tmp_path / "random.bin"
    not_iso.write_bytes(os.urandom(1 << 20))
    # Growing an ISO in place needs an ISO session: xorriso gives up (the
    # size of a session on overwritable media comes from its volume
    # descriptor, -isosize, since issue 13).
    with pytest.raises(RecorderError, match=r"xorriso failed to record.*not to be ISO 9660"):
        rec.record(not_iso, nwa)


@needs_xorriso
def test_real_engine_closed_medium_is_refused(tmp_path: Path) -> None:
    disc = tmp_path / "disc.iso"
    disc.touch()
    rec = XorrisoRecorder(f"stdio:{disc}")
    not_iso = tmp_path / "random.bin"
    not_iso.write_bytes(os.urandom(1 << 20))
    # Not an ISO: xorriso reports the medium closed.  (The recorder itself
    # no longer writes one: -isosize needs an ISO, since issue 13.)
    disc.write_bytes(not_iso.read_bytes())
    info = rec.disc_info()
    assert info.state is DiscState.CLOSED and info.nwa is None
    with pytest.raises(NotWritableError, match="not writable or it is full"):
        rec.record(not_iso, Lba(0))


@needs_xorriso
def test_real_engine_unusable_drive(tmp_path: Path) -> None:
    with pytest.raises(RecorderError, match="Cannot acquire drive"):
        XorrisoRecorder(f"stdio:{tmp_path}/no/such/dir/disc.iso").disc_info()


# --- disc states xorriso reports after "but" (issue 13, defects 2 and 3) ----------
# The "Media status" texts are xorriso's own: Xorriso_toc() in xorriso/drive_mgt.c
# of libisoburn 1.5.4 appends " , but next track is damaged", " , but no writable
# address" (burn_disc_next_track_is_damaged() bits 0 and 1) and, for a DVD-RW
# sequential (profile 0x14) without TAO multi-session capabilities,
# " , but will need -close on"; for profile 0x15 (which its comment calls DVD-RW DL;
# libburn names it "DVD-R/DL sequential recording") ' , but will need -close "on"'.
# Profile names are libburn's (libburn/mmc.c: "DVD-R/DL sequential recording",
# "DVD-R/DL layer jump recording").  The other lines follow the formats in the same
# function ("Media blocks : %d readable , %d writable , %d overall", "ISO session  :
# %3d , %9d , %9ds , %s", "Media nwa    : %ds").

DAMAGED_DVDR = """Drive current: -outdev '/dev/sr0'
Drive type   : vendor 'HL-DT-ST' product 'DVDRAM GH22NS50' revision 'TN02'
Media current: DVD-R sequential recording
Media product: CMC MAG. AM3 , CMC Magnetics Corporation
Media status : is written , is appendable , but next track is damaged
Media blocks : 123456 readable , 0 writable , 2298496 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
ISO session  :   1 ,         0 ,    123440s , BACKUP_1
Media summary: 1 session, 123456 data blocks,  241m data,     0 free
"""

NO_NWA_CDR = """Drive current: -outdev '/dev/sr1'
Media current: CD-R
Media status : is written , is appendable , but no writable address
Media blocks : 12010 readable , 0 writable , 359846 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
ISO session  :   1 ,         0 ,       608s , BACKUP_1
Media summary: 1 session, 12010 data blocks, 23.5m data,     0 free
"""

QUICK_BLANKED_DVDRW = """Drive current: -outdev '/dev/sr0'
Media current: DVD-RW sequential recording
Media product: RITEKW04 , Ritek Corp
Media status : is blank , but will need -close on
Media blocks : 0 readable , 2298496 writable , 2298496 overall
Media summary: 0 sessions, 0 data blocks, 0 data, 4489m free
"""

BLANK_DVDR_DL = """Drive current: -outdev '/dev/sr0'
Media current: DVD-R/DL sequential recording
Media product: MKM 03RD30 , Mitsubishi Kagaku Media Co.
Media status : is blank , but will need -close "on"
Media blocks : 0 readable , 4171712 writable , 4171712 overall
Media summary: 0 sessions, 0 data blocks, 0 data, 8148m free
"""


@pytest.mark.parametrize(
    ("toc", "device", "condition"),
    [(DAMAGED_DVDR, "/dev/sr0", "damaged"), (NO_NWA_CDR, "/dev/sr1", "no-nwa")],
)
def test_damaged_discs_say_so_and_name_the_way_out(toc: str, device: str, condition: str) -> None:
    report = parse_toc(toc)
    assert report.status == "appendable" and report.condition == condition
    info = disc_info_from_toc(report, device)
    assert info.state is DiscState.APPENDABLE and info.nwa is None and info.room == 0
    assert f"'xorriso -outdev {device} -close_damaged as_needed'" in info.blocked
    assert "interrupted" in info.blocked
    with pytest.raises(NotWritableError, match=r"Nothing can be written.*-close_damaged"):
        check_capacity(info, 1000)


def test_a_damaged_disc_is_never_recorded_on(tmp_path: Path) -> None:
    """The recorder refuses before any recording command: no retry at the
    same address, however often a burn is asked for."""
    program, log = fake_xorriso(tmp_path, DAMAGED_DVDR)
    rec = XorrisoRecorder("/dev/sr0", program=str(program))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * 4096)
    for _ in range(3):
        with pytest.raises(NotWritableError, match=r"next track is damaged.*-close_damaged"):
            rec.record(image, Lba(123456))
    assert calls(log) and not any(str(image) in c for c in calls(log))  # asked, never written


@pytest.mark.parametrize(
    ("toc", "name"), [(QUICK_BLANKED_DVDRW, "dvd-rw-dao"), (BLANK_DVDR_DL, "dvd-r-dl")]
)
def test_single_session_media_are_closed_by_their_one_burn(
    tmp_path: Path, toc: str, name: str
) -> None:
    info = disc_info_from_toc(parse_toc(toc))
    assert info.media.name == name and info.media.single_session
    assert "one session only" in info.media.title  # said before burning
    assert info.state is DiscState.BLANK and info.nwa == 0 and info.writable
    after = DiscInfo(info.media, DiscState.APPENDABLE, (Session(Lba(0), Sectors(1000)),))
    assert after.room == 0  # no second session
    program, log = fake_xorriso(tmp_path, toc)
    rec = XorrisoRecorder("/dev/sr0", program=str(program))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * 4096)
    rec.record(image, Lba(0))  # not asked to close: closed all the same
    burn = calls(log)[-1]
    assert "-sao" in burn and "-multi" not in burn and "-tao" not in burn


# --- drive errors with exit codes of their own (issue 13, item 6) -------------
# "Cannot open busy device '%s'" is libburn's (libburn/sg-linux.c, a SORRY event;
# cdrskin users have posted it with "( Most recent system error: 16 'Device or
# resource busy' )"); xorriso then says "Cannot acquire drive".  "Medium not
# present" (ASC 3Ah) and "Power calibration area error" (ASC 73h ASCQ 03h) are
# texts of libburn's SCSI sense decoder (libburn/spc.c).

BUSY_TOC = """libburn : SORRY : Cannot open busy device '/dev/sr0'
libburn : SORRY : ( Most recent system error: 16  'Device or resource busy' )
xorriso : FAILURE : Cannot acquire drive '/dev/sr0'
"""

FAILING_RECORDER = """#!{python}
import sys
if "-toc" in sys.argv:
    sys.stdout.write({toc!r})
    sys.exit(0)
sys.stdout.write({failure!r})
sys.exit(5)
"""


def failing_drive(tmp_path: Path, toc: str, failure: str) -> XorrisoRecorder:
    script = tmp_path / "xorriso"
    script.write_text(FAILING_RECORDER.format(python=sys.executable, toc=toc, failure=failure))
    script.chmod(0o755)
    rec = XorrisoRecorder("/dev/sr0", program=str(script))
    rec._check_device = lambda: None  # type: ignore[method-assign]
    return rec


def test_a_busy_drive_has_the_busy_exit_code(tmp_path: Path) -> None:
    rec = failing_drive(tmp_path, BUSY_TOC, "")
    with pytest.raises(DriveBusyError, match="in use by another program") as exc:
        rec.disc_info()
    assert exc.value.exit_code == 8


@pytest.mark.parametrize(
    ("failure", "error", "words"),
    [
        (
            "libburn : FAILURE : SCSI error on write(16,16): [3 73 03] Power calibration"
            " area error\nxorriso : FAILURE : -as cdrecord: Job could not be performed"
            " properly.\n",
            NotWritableError,
            "could not calibrate its laser.*lower speed",
        ),
        (
            "libburn : SORRY : SCSI error on write(16,16): [2 3A 00] Medium not present\n",
            NotWritableError,
            "no disc in the drive /dev/sr0",
        ),
        (
            "libburn : SORRY : Cannot open busy device '/dev/sr0'\n",
            DriveBusyError,
            "in use by another program",
        ),
        ("xorriso : FAILURE : something else went wrong\n", RecorderError, "exit 5"),
    ],
)
def test_recording_failures_get_their_own_exit_codes(
    tmp_path: Path, failure: str, error: type[Exception], words: str
) -> None:
    rec = failing_drive(tmp_path, BLANK_CDR, failure)
    image = tmp_path / "session.iso"
    image.write_bytes(b"\0" * 4096)
    with pytest.raises(error, match=words) as exc:
        rec.record(image, Lba(0))
    assert type(exc.value) is error
    assert exc.value.exit_code == {NotWritableError: 5, DriveBusyError: 8}.get(error, 7)


@needs_xorriso
def test_a_closed_disc_without_toc_is_read_not_shown_empty(tmp_path: Path) -> None:
    """A closed DVD+R whose drive says "Cannot obtain Table Of Content" (the
    CLOSED_DVDPR transcript) showed as an empty disc (issue 13, item 6)."""
    program, _ = fake_xorriso(tmp_path, CLOSED_DVDPR)
    disc = make_iso(tmp_path, "photos", {"a.txt": b"a", "b/c.txt": b"c" * 5000})
    info = XorrisoRecorder(f"stdio:{disc}", program=str(program)).disc_info()
    assert info.state is DiscState.CLOSED and info.label == "PHOTOS"
    assert info.sessions == (Session(Lba(0), Sectors(disc.stat().st_size // SECTOR_SIZE)),)
    with open(disc, "rb") as fp:
        root = disccontents.read_tree(fp, info)
    assert root is not None and sorted(root.children) == [b"a.txt", b"b"]
    unreadable = tmp_path / "zeros.img"
    unreadable.write_bytes(bytes(1 << 20))
    rec = XorrisoRecorder(f"stdio:{unreadable}", program=str(program))
    with pytest.raises(MediaError, match="cannot read its table of contents") as exc:
        rec.disc_info()
    assert exc.value.exit_code == 4


def test_session_limits_follow_the_medium() -> None:
    """99 sessions for every medium was wrong (issue 13, item 6): overwritable
    media have no sessions of their own, a BD-R takes more than a CD."""

    def after(media: MediaType, count: int) -> DiscInfo:
        step = 64 if media.family is not Family.CD else 2_000
        sessions = tuple(Session(Lba(32 + i * step), Sectors(16)) for i in range(count))
        return DiscInfo(media, DiscState.APPENDABLE, sessions)

    cd, bd = MEDIA_TYPES["cd-r80"], MEDIA_TYPES["bd-r"]
    assert after(cd, 98).room > 0 and after(cd, 99).room == 0
    assert after(bd, 299).room > 0 and after(bd, 300).room == 0
    for media in (MEDIA_TYPES["dvd+rw"], MEDIA_TYPES["bd-re"]):
        assert after(media, 500).room > 0
    for profile in ("DVD-RAM", "stdio file, overwriteable", "DVD-RW restricted overwrite"):
        assert media_for_profile(profile).max_sessions > 500, profile
