"""The xorriso backend's recording flow: a fake xorriso (the calls cdfs
makes, without hardware), the real xorriso engine on its ``stdio:``
pseudo-drive, the disc states xorriso reports after "but", and drive errors
with exit codes of their own.  Parsing and command lines are in
tests/test_xorriso_parse.py."""

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
from cdfs.recorders.xorparse import (
    disc_info_from_toc,
    media_for_profile,
    parse_msinfo,
    parse_toc,
)
from cdfs.recorders.xorriso import XorrisoRecorder
from cdfs.units import SECTOR_SIZE, Lba, Sectors
from tests.test_xorriso_parse import APPENDABLE_CDR, BLANK_CDR, CLOSED_DVDPR, TIMEOUT

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
