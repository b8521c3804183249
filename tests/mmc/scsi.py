"""SCSI as the simulated recorder speaks it: the MMC profile numbers of its
media, the names of the commands it knows, the sense data of a CHECK
CONDITION (:class:`Sense` and the sense codes the model answers with), and
CD addresses in minutes, seconds and frames (:func:`msf`).

No drive or disc state: that is :mod:`tests.mmc.disc` and
:mod:`tests.mmc.model`'s.  Standard library only (it runs under Debian's
/usr/bin/python3 in the bed, and under the project's venv).
"""

from __future__ import annotations

SECTOR = 2048

PROFILES = {
    "cd-r": 0x09,
    "cd-rw": 0x0A,
    "dvd-r": 0x11,
    "dvd-rw": 0x14,
    "dvd+rw": 0x1A,
    "dvd+r": 0x1B,
    "bd-r": 0x41,
    "bd-re": 0x43,
}
"""MMC profile numbers (MMC-5 table 89) by media type name prefix."""

OPCODE_NAMES = {
    0x00: "TEST UNIT READY",
    0x03: "REQUEST SENSE",
    0x04: "FORMAT UNIT",
    0x12: "INQUIRY",
    0x1B: "START STOP UNIT",
    0x1E: "PREVENT ALLOW MEDIUM REMOVAL",
    0x23: "READ FORMAT CAPACITIES",
    0x25: "READ CAPACITY",
    0x28: "READ(10)",
    0x2A: "WRITE(10)",
    0x35: "SYNCHRONIZE CACHE",
    0x43: "READ TOC/PMA/ATIP",
    0x46: "GET CONFIGURATION",
    0x4A: "GET EVENT STATUS NOTIFICATION",
    0x51: "READ DISC INFORMATION",
    0x52: "READ TRACK INFORMATION",
    0x53: "RESERVE TRACK",
    0x54: "SEND OPC INFORMATION",
    0x55: "MODE SELECT(10)",
    0x5A: "MODE SENSE(10)",
    0x5B: "CLOSE TRACK/SESSION",
    0x5C: "READ BUFFER CAPACITY",
    0xA1: "BLANK",
    0xA8: "READ(12)",
    0xAA: "WRITE(12)",
    0xAC: "GET PERFORMANCE",
    0xAD: "READ DISC STRUCTURE",
    0xB6: "SET STREAMING",
    0xBB: "SET CD SPEED",
    0xBD: "MECHANISM STATUS",
}


class Interrupted(Exception):
    """The recording stops dead (power lost, cable pulled): the program
    that sent the command is ended, and the track is left damaged."""


class Sense(Exception):
    """A CHECK CONDITION: sense key, additional sense code and qualifier."""

    def __init__(self, key: int, asc: int, ascq: int = 0) -> None:
        super().__init__(f"sense {key:X}/{asc:02X}/{ascq:02X}")
        self.key, self.asc, self.ascq = key, asc, ascq

    def data(self) -> bytes:
        """Fixed-format sense data (SPC-3 4.5.3)."""
        return bytes(
            [0x70, 0, self.key, 0, 0, 0, 0, 10, 0, 0, 0, 0, self.asc, self.ascq, 0, 0, 0, 0]
        )


NOT_READY_NO_MEDIUM = (2, 0x3A, 0)
INVALID_OPCODE = (5, 0x20, 0)
INVALID_FIELD = (5, 0x24, 0)
INVALID_ADDRESS = (5, 0x21, 0x02)
"""Invalid address for write (MMC-5 table F.1)."""
LBA_OUT_OF_RANGE = (5, 0x21, 0)
WRITE_PROTECTED = (7, 0x27, 0)
MEDIUM_CHANGED = (6, 0x28, 0)
POWER_CALIBRATION_ERROR = (3, 0x73, 0x03)
WRITE_ERROR = (3, 0x0C, 0)
REMOVAL_PREVENTED = (5, 0x53, 0x02)
LONG_WRITE_IN_PROGRESS = (2, 0x04, 0x08)
"""Not ready, long write in progress: a drive still busy writing."""
BECOMING_READY = (2, 0x04, 0x01)
"""Not ready, in process of becoming ready: a drive spinning a disc up."""


def sense(t: tuple[int, int, int]) -> Sense:
    """The CHECK CONDITION of one of the sense codes above, to raise."""
    return Sense(*t)


def msf(lba: int) -> tuple[int, int, int]:
    """Minute, second, frame of a CD address (LBA 0 is 00:02:00)."""
    x = lba + 150 if lba >= -150 else lba + 450150
    return x // 4500, (x // 75) % 60, x % 75
