"""The simulated recorder's model (tests/mmc/model.py) on its own, CDB by
CDB, and the harness failing a test on a command the model does not know."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import sys
import tempfile
from pathlib import Path

import pytest

from cdfs.recorders.media import Session, media_type, next_writable_address
from tests.mmc.harness import SimDrive, have_umockdev, quicksleep
from tests.mmc.model import Disc, Drive, Sense


def drive_with(tmp_path: Path, media: str) -> Drive:
    drive = Drive()
    drive.insert(Disc.create(str(tmp_path / "disc.img"), media))
    drive.changed = False
    return drive


def sense_of(drive: Drive, cdb: bytes, data: bytes = b"", alloc: int = 0) -> tuple[int, int, int]:
    with pytest.raises(Sense) as raised:
        drive.command(cdb, data, alloc)
    return raised.value.key, raised.value.asc, raised.value.ascq


def write10(lba: int, n: int) -> bytes:
    return struct.pack(">BxiBHx", 0x2A, lba, 0, n)


def next_track_nwa(drive: Drive) -> int:
    info = drive.command(bytes([0x52, 1, 0, 0, 0, 0xFF, 0, 0, 48, 0]), b"", 48)
    assert info[7] & 1, "NWA valid"
    return int(struct.unpack_from(">i", info, 12)[0])


def test_an_unknown_opcode_is_refused_and_remembered(tmp_path: Path) -> None:
    drive = drive_with(tmp_path, "cd-r80")
    assert sense_of(drive, bytes([0xFF, 0, 0, 0, 0, 0])) == (5, 0x20, 0)
    assert drive.unknown == ["0xFF opcode 0xFF: ff 00 00 00 00 00"]


def test_no_medium_and_a_medium_change_are_reported(tmp_path: Path) -> None:
    drive = Drive()
    assert sense_of(drive, bytes(6)) == (2, 0x3A, 0)
    drive.insert(Disc.create(str(tmp_path / "disc.img"), "dvd+r"))
    assert sense_of(drive, bytes(6)) == (6, 0x28, 0), "unit attention once"
    assert drive.command(bytes(6), b"", 0) == b""


@pytest.mark.parametrize("media", ["cd-r80", "dvd-r", "bd-r"])
def test_the_next_session_starts_where_cdfs_media_model_says(tmp_path: Path, media: str) -> None:
    """One set of rules for both recorders: the drive's next writable
    address after a session is media.py's."""
    drive = drive_with(tmp_path, media)
    assert next_track_nwa(drive) == 0
    drive.command(write10(0, 300), bytes(300 * 2048), 0)
    drive.command(bytes([0x5B, 0, 1, 0, 0, 1, 0, 0, 0, 0]), b"", 0)  # close track 1
    drive.command(bytes([0x5B, 0, 2, 0, 0, 0, 0, 0, 0, 0]), b"", 0)  # close session
    want = next_writable_address(media_type(media), (Session(0, 300),))  # type: ignore[arg-type]
    assert next_track_nwa(drive) == want
    # Only there: anywhere else is an invalid address for write.
    assert sense_of(drive, write10(want + 16, 16), bytes(16 * 2048)) == (5, 0x21, 0x02)


def test_reads_beyond_the_recorded_data_fail(tmp_path: Path) -> None:
    drive = drive_with(tmp_path, "cd-r80")
    drive.command(write10(0, 20), b"\x01" * 20 * 2048, 0)
    read = struct.pack(">BxiBHx", 0x28, 19, 0, 1)
    assert drive.command(read, b"", 2048) == b"\x01" * 2048
    assert sense_of(drive, struct.pack(">BxiBHx", 0x28, 20, 0, 1), alloc=2048) == (5, 0x21, 0)


SEND_UNKNOWN = """
import ctypes, fcntl, os
fd = os.open("/dev/sr0", os.O_RDWR | os.O_NONBLOCK)
cdb = (ctypes.c_ubyte * 6)(0xFF, 0, 0, 0, 0, 0)
sense = (ctypes.c_ubyte * 32)()
hdr = bytearray(88)
hdr[0:4] = (ord("S")).to_bytes(4, "little")
hdr[4:8] = (-1).to_bytes(4, "little", signed=True)
hdr[8], hdr[9] = 6, 32
hdr[24:32] = ctypes.addressof(cdb).to_bytes(8, "little")
hdr[32:40] = ctypes.addressof(sense).to_bytes(8, "little")
buf = (ctypes.c_ubyte * 88).from_buffer(hdr)
fcntl.ioctl(fd, 0x2285, buf)
print(hdr[64], bytes(sense)[:14].hex())
"""


@pytest.mark.skipif(not have_umockdev(), reason="needs umockdev (make deps)")
def test_a_command_the_model_does_not_answer_fails_the_test_naming_it(tmp_path: Path) -> None:
    """Through SG_IO on /dev/sr0, as libburn sends commands: CHECK
    CONDITION with 5/20/00 at once (never a hang), and the harness fails
    the test naming the opcode."""
    sim = SimDrive({})
    try:
        sim.insert(tmp_path / "disc.img", "cd-r80")
        out = sim.run([sys.executable, "-c", SEND_UNKNOWN], timeout=30).stdout.split()
        assert out[0] == "2" and out[1][4:6] == "05" and out[1][24:28] == "2000"
    finally:
        with pytest.raises(AssertionError, match=r"does not answer.*0xFF opcode 0xFF"):
            sim.close()


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
def test_the_preloaded_sleep_shim_is_built_where_no_one_else_can_plant_it() -> None:
    """The shim preloaded into xorriso is never taken from a predictable
    name in the shared temporary directory (where it was built before): a
    file planted there by another user is not used."""
    src = Path(__file__).parent / "mmc" / "quicksleep.c"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    planted = Path(tempfile.gettempdir()) / f"cdfs-quicksleep-{os.getuid()}-{digest}.so"
    made = not planted.exists()
    if made:
        planted.write_bytes(b"planted")
    try:
        lib = quicksleep()
    finally:
        if made:
            planted.unlink()
    assert lib is not None and Path(lib) != planted
    home = os.lstat(Path(lib).parent)
    assert stat.S_ISDIR(home.st_mode) and stat.S_IMODE(home.st_mode) == 0o700
    assert home.st_uid == os.geteuid()
    assert Path(lib).read_bytes()[:4] == b"\x7fELF"
