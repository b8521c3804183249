"""A model of an MMC recorder, answering SCSI commands.

:meth:`Drive.command` takes a CDB and the bytes the host sends and returns
the bytes the drive sends back, or raises :class:`~tests.mmc.scsi.Sense` (a
CHECK CONDITION with its sense key, ASC and ASCQ).  Unknown opcodes are
CHECK CONDITION 5/20/00 (invalid command operation code) and are remembered
in :attr:`Drive.unknown`, so that a test fails naming them.

This module owns the drive's state (the loaded disc, the tray and its lock,
media change events, the write parameters, the last sense), its test hooks
(:meth:`Drive.insert`, :meth:`Drive.eject`, :class:`Faults`) and the commands
that change something: TEST UNIT READY, START STOP UNIT, PREVENT ALLOW
MEDIUM REMOVAL, GET EVENT STATUS NOTIFICATION, MODE SELECT, RESERVE TRACK,
WRITE, READ, SYNCHRONIZE CACHE, CLOSE TRACK/SESSION, BLANK, FORMAT UNIT.
The commands that only report are :mod:`tests.mmc.reports`'; the disc and
its geometry (from cdfs's own media model, :mod:`cdfs.recorders.media`, so
that this drive and the emulated recorder cannot drift apart) are
:mod:`tests.mmc.disc`'s; sense codes and opcode names :mod:`tests.mmc.scsi`'s.

Runs under Debian's /usr/bin/python3 (for umockdev's PyGObject) and under
the project's venv (unit tests): stdlib and :mod:`cdfs.recorders.media` only.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.mmc.disc import Disc, Track
from tests.mmc.reports import Reports
from tests.mmc.scsi import (
    BECOMING_READY,
    INVALID_ADDRESS,
    INVALID_FIELD,
    INVALID_OPCODE,
    LBA_OUT_OF_RANGE,
    LONG_WRITE_IN_PROGRESS,
    MEDIUM_CHANGED,
    NOT_READY_NO_MEDIUM,
    OPCODE_NAMES,
    POWER_CALIBRATION_ERROR,
    REMOVAL_PREVENTED,
    SECTOR,
    WRITE_ERROR,
    WRITE_PROTECTED,
    Interrupted,
    Sense,
    sense,
)

__all__ = ["Disc", "Drive", "Faults", "Interrupted", "Sense", "Track"]


@dataclass
class Faults:
    """Test hooks of the drive."""

    fail_write_at: int | None = None
    """A WRITE covering this LBA fails with a write error (3/0C/00) and
    leaves the track damaged."""
    interrupt_write_at: int | None = None
    """A WRITE covering this LBA ends the program that sent it (see
    :class:`Interrupted`): its track stays open and damaged."""
    eject_during_write: bool = False
    """At the first WRITE, someone presses the eject button: see
    :attr:`Drive.eject_refused_while_writing`."""
    busy: int = 0
    """The next this many commands that need the disc answer NOT READY
    (see :attr:`busy_writing`) before the drive becomes ready."""
    busy_writing: bool = False
    """Busy with a long write (2/04/08) rather than becoming ready (2/04/01)."""


class Drive(Reports):
    """One MMC recorder.  Thread-safe: commands arrive from umockdev's worker
    thread, test hooks from the bed's control loop."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.disc: Disc | None = None
        self.tray_open = False
        self.locked = False
        """PREVENT MEDIUM REMOVAL in force."""
        self.changed = False
        """A disc was inserted or removed since the last TEST UNIT READY."""
        self.event_pending = 0
        """GET EVENT STATUS: 0 nothing, 2 new media, 3 media removal."""
        self.faults = Faults()
        self.unknown: list[str] = []
        self.log: list[str] = []
        self.last_sense = bytes(18)
        self.write_type = 1
        self.multi = 3
        self.test_write = False
        self.speed_kbs = 0
        self.writes_unlocked = 0
        """WRITE commands that arrived while the tray was not locked."""
        self.busy_answers = 0
        """Commands answered NOT READY because of :attr:`Faults.busy`."""
        self.eject_refused_while_writing: bool | None = None
        self.track_write_types: list[int] = []
        """The write type (mode page 05h: 0 incremental, 1 TAO, 2 SAO) each
        track was started with."""

    # -- test hooks ----------------------------------------------------
    def insert(self, disc: Disc) -> None:
        with self.lock:
            self.disc = disc
            self.tray_open = False
            self.changed = True
            self.event_pending = 2

    def eject(self, force: bool = False) -> bool:
        """Take the disc out; False when the tray is locked."""
        with self.lock:
            if self.locked and not force:
                return False
            if self.disc is not None:
                self.disc.save()
            self.disc = None
            self.tray_open = True
            self.changed = True
            self.event_pending = 3
            return True

    # -- the command interface -----------------------------------------
    def command(self, cdb: bytes, data_out: bytes, alloc: int) -> bytes:
        """Run one command; ``alloc`` is the host's buffer for data in."""
        op = cdb[0]
        name = OPCODE_NAMES.get(op, f"opcode 0x{op:02X}")
        with self.lock:
            try:
                handler = getattr(self, f"_op_{op:02x}", None)
                if handler is None:
                    self.unknown.append(f"0x{op:02X} {name}: {cdb.hex(' ')}")
                    raise sense(INVALID_OPCODE)
                out: bytes = handler(cdb, data_out)
                self.log.append(name)
                return out[:alloc]
            except Sense as s:
                self.log.append(f"{name} -> {s}")
                self.last_sense = s.data()
                raise

    def _medium(self, write: bool = False) -> Disc:
        if self.faults.busy > 0:
            self.faults.busy -= 1
            self.busy_answers += 1
            raise sense(LONG_WRITE_IN_PROGRESS if self.faults.busy_writing else BECOMING_READY)
        if self.disc is None:
            raise sense(NOT_READY_NO_MEDIUM)
        if write and self.disc.wp:
            raise sense(WRITE_PROTECTED)
        return self.disc

    # TEST UNIT READY
    def _op_00(self, cdb: bytes, data: bytes) -> bytes:
        if self.changed:
            self.changed = False
            if self.disc is not None:
                raise sense(MEDIUM_CHANGED)
        self._medium()
        return b""

    # REQUEST SENSE
    def _op_03(self, cdb: bytes, data: bytes) -> bytes:
        out, self.last_sense = self.last_sense, bytes(18)
        return out

    # INQUIRY
    def _op_12(self, cdb: bytes, data: bytes) -> bytes:
        head = bytes([5, 0x80, 5, 0x32, 31, 0, 0, 0])
        return head + b"CDFSSIM " + b"MMC RECORDER    " + b"1.0 "

    # START STOP UNIT
    def _op_1b(self, cdb: bytes, data: bytes) -> bytes:
        loej, start = cdb[4] & 2, cdb[4] & 1
        if loej and not start:
            if self.locked:
                raise sense(REMOVAL_PREVENTED)
            self.eject()
        return b""

    # PREVENT ALLOW MEDIUM REMOVAL
    def _op_1e(self, cdb: bytes, data: bytes) -> bytes:
        self.locked = bool(cdb[4] & 1)
        return b""

    # GET EVENT STATUS NOTIFICATION
    def _op_4a(self, cdb: bytes, data: bytes) -> bytes:
        if not cdb[4] & 0x10:  # media class only
            return struct.pack(">HBB", 2, 0x80, 0x10)
        ev, self.event_pending = self.event_pending, 0
        status = (2 if self.disc is not None else 0) | (1 if self.tray_open else 0)
        return struct.pack(">HBB", 6, 4, 0x10) + bytes([ev, status, 0, 0])

    # MODE SELECT(10)
    def _op_55(self, cdb: bytes, data: bytes) -> bytes:
        if len(data) >= 8 + 4:
            bdl = int.from_bytes(data[6:8], "big")
            p = data[8 + bdl :]
            if p and p[0] & 0x3F == 0x05 and len(p) >= 4:
                self.write_type = p[2] & 0x0F
                self.test_write = bool(p[2] & 0x10)
                self.multi = p[3] >> 6
        return b""

    # SET CD SPEED, SET STREAMING, SEND OPC, SYNCHRONIZE CACHE
    def _op_bb(self, cdb: bytes, data: bytes) -> bytes:
        self.speed_kbs = int.from_bytes(cdb[4:6], "big")
        return b""

    def _op_b6(self, cdb: bytes, data: bytes) -> bytes:
        return b""

    def _op_54(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        if d.opc_fails:
            raise sense(POWER_CALIBRATION_ERROR)
        return b""

    def _op_35(self, cdb: bytes, data: bytes) -> bytes:
        self._medium()
        return b""

    # RESERVE TRACK
    def _op_53(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        size = int.from_bytes(cdb[5:9], "big")
        nwa = d.nwa()
        if nwa is None or d.open_track is not None or size > d.free():
            raise sense(INVALID_FIELD)
        return b""

    # WRITE(10), WRITE(12)
    def _op_2a(self, cdb: bytes, data: bytes) -> bytes:
        lba = int.from_bytes(cdb[2:6], "big", signed=True)
        return self._write(lba, data)

    def _op_aa(self, cdb: bytes, data: bytes) -> bytes:
        lba = int.from_bytes(cdb[2:6], "big", signed=True)
        return self._write(lba, data)

    def _write(self, lba: int, data: bytes) -> bytes:
        d = self._medium(write=True)
        if d.opc_fails:
            raise sense(POWER_CALIBRATION_ERROR)
        n = len(data) // SECTOR
        if lba < 0 or lba + n > d.type.capacity:
            raise sense(LBA_OUT_OF_RANGE)
        fail = self.faults.fail_write_at
        if not self.locked:
            self.writes_unlocked += 1
        if self.faults.eject_during_write and self.eject_refused_while_writing is None:
            self.eject_refused_while_writing = not self.eject()
            if not self.eject_refused_while_writing:
                raise sense(NOT_READY_NO_MEDIUM)
        stop = self.faults.interrupt_write_at
        if d.type.overwritable:
            if fail is not None and lba <= fail < lba + n:
                raise sense(WRITE_ERROR)
            if not self.test_write:
                self._store(d, lba, data)
                d.written_max = max(d.written_max, lba + n)
            return b""
        t = d.open_track
        if t is None:
            nwa = d.nwa()
            if nwa is None or lba != nwa:
                raise sense(INVALID_ADDRESS)
            if self.test_write:
                return b""
            sess = d.closed_sessions + 1
            t = Track(len(d.tracks) + 1, sess, nwa)
            d.tracks.append(t)
            self.track_write_types.append(self.write_type)
        if t.damaged or lba != t.start + t.written:
            raise sense(INVALID_ADDRESS)
        if self.test_write:
            return b""
        for at in (fail, stop):
            if at is not None and lba <= at < lba + n:
                good = at - lba
                self._store(d, lba, data[: good * SECTOR])
                t.written += good
                t.damaged = True
                d.save()
                if at == stop:
                    raise Interrupted()
                raise sense(WRITE_ERROR)
        self._store(d, lba, data)
        t.written += n
        return b""

    @staticmethod
    def _store(d: Disc, lba: int, data: bytes) -> None:
        with open(d.image, "r+b") as f:
            f.seek(lba * SECTOR)
            f.write(data)

    # READ(10), READ(12)
    def _op_28(self, cdb: bytes, data: bytes) -> bytes:
        lba = int.from_bytes(cdb[2:6], "big")
        return self._read(lba, int.from_bytes(cdb[7:9], "big"))

    def _op_a8(self, cdb: bytes, data: bytes) -> bytes:
        lba = int.from_bytes(cdb[2:6], "big")
        return self._read(lba, int.from_bytes(cdb[6:10], "big"))

    def _read(self, lba: int, n: int) -> bytes:
        d = self._medium()
        end = d.type.capacity if d.type.overwritable else d.readable_end()
        if not d.type.overwritable:
            readable = any(t.start <= lba and lba + n <= t.start + t.written for t in d.tracks)
            if not readable:
                raise sense(LBA_OUT_OF_RANGE)
        if lba + n > end:
            raise sense(LBA_OUT_OF_RANGE)
        with open(d.image, "rb") as f:
            f.seek(lba * SECTOR)
            got = f.read(n * SECTOR)
        return got + bytes(n * SECTOR - len(got))

    # CLOSE TRACK/SESSION
    def _op_5b(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        func = cdb[2] & 7
        if self.test_write or d.type.overwritable:
            return b""
        t = d.open_track
        if t is not None:
            t.damaged = False  # closing a damaged track is the way out of it
        if func == 1:  # close track
            if t is not None:
                t.closed = True
        elif func in (2, 3, 5, 6):  # close session / finalize
            if t is not None:
                t.closed = True
            if d.session_open:
                d.closed_sessions += 1
            if func in (5, 6) or (func == 2 and self.multi == 0 and d.is_cd):
                d.finalized = True
            if func == 2 and not d.is_cd and self.multi == 0:
                pass
        else:
            raise sense(INVALID_FIELD)
        d.save()
        return b""

    # BLANK
    def _op_a1(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        if not d.type.rewritable or d.type.overwritable:
            raise sense(INVALID_FIELD)
        d.tracks, d.closed_sessions, d.finalized = [], 0, False
        full = (cdb[1] & 7) == 0
        if full:
            Path(d.image).write_bytes(b"")
        d.save()
        return b""

    # FORMAT UNIT
    def _op_04(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        if not d.type.overwritable:
            raise sense(INVALID_FIELD)
        d.formatted = True
        d.save()
        return b""
