"""A model of an MMC recorder and the disc in it, answering SCSI commands.

:meth:`Drive.command` takes a CDB and the bytes the host sends and returns
the bytes the drive sends back, or raises :class:`Sense` (a CHECK CONDITION
with its sense key, ASC and ASCQ).  Unknown opcodes are CHECK CONDITION
5/20/00 (invalid command operation code) and are remembered in
:attr:`Drive.unknown`, so that a test fails naming them.

Geometry comes from cdfs's own media model (:mod:`cdfs.recorders.media`):
capacities, the lead-in/lead-out gaps between sessions
(:func:`~cdfs.recorders.media.next_writable_address`), the run-out of CD
tracks, which media are overwritable.  The emulated recorder uses the same
rules, so the two cannot drift apart.

A disc is an image file (its sectors, at ``lba * 2048``) and a JSON file
beside it (``IMAGE.mmc.json``: media type, tracks, sessions), so that it can
be ejected, inserted again, and read by xorriso as ``stdio:IMAGE``.

Runs under Debian's /usr/bin/python3 (for umockdev's PyGObject) and under
the project's venv (unit tests): stdlib and :mod:`cdfs.recorders.media` only.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cdfs.recorders.media import Family, MediaType, Session, media_type, next_writable_address

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
IN_PROGRESS = (2, 0x04, 0x08)
"""Not ready, long write in progress: a drive that is busy."""


def _sense(t: tuple[int, int, int]) -> Sense:
    return Sense(*t)


def msf(lba: int) -> tuple[int, int, int]:
    """Minute, second, frame of a CD address (LBA 0 is 00:02:00)."""
    x = lba + 150 if lba >= -150 else lba + 450150
    return x // 4500, (x // 75) % 60, x % 75


@dataclass
class Track:
    number: int
    session: int
    start: int
    written: int = 0
    """Sectors written so far (the track's data, run-out not counted)."""
    closed: bool = False
    damaged: bool = False


@dataclass
class Disc:
    """A disc: its media type, tracks and state, and its image file."""

    media: str
    image: str
    tracks: list[Track] = field(default_factory=list)
    closed_sessions: int = 0
    finalized: bool = False
    formatted: bool = True
    """Overwritable media: formatted (DVD+RW after its first format, BD-RE)."""
    written_max: int = 0
    """Overwritable media: the highest sector written plus one."""
    wp: bool = False
    """Write-protected (a pressed or protected disc)."""
    opc_fails: bool = False
    """Power calibration fails: the drive cannot write this disc."""

    @property
    def type(self) -> MediaType:
        return media_type(self.media)

    @property
    def profile(self) -> int:
        return PROFILES[self.media.rstrip("0123456789")]

    @property
    def is_cd(self) -> bool:
        return self.type.family is Family.CD

    # -- persistence ---------------------------------------------------
    @staticmethod
    def meta_path(image: str) -> Path:
        return Path(image + ".mmc.json")

    @classmethod
    def create(cls, image: str, media: str) -> Disc:
        media_type(media)  # unknown names fail here
        Path(image).write_bytes(b"")
        disc = cls(media, image)
        disc.save()
        return disc

    @classmethod
    def load(cls, image: str) -> Disc:
        raw = json.loads(cls.meta_path(image).read_text())
        raw["tracks"] = [Track(**t) for t in raw["tracks"]]
        return cls(**raw)

    def save(self) -> None:
        tmp = Path(self.image + ".mmc.json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.meta_path(self.image))

    # -- geometry ------------------------------------------------------
    def track_end(self, t: Track) -> int:
        """The first sector after a closed track's run-out."""
        return t.start + t.written + (self.type.run_out if t.closed else 0)

    def sessions(self) -> list[list[Track]]:
        out: dict[int, list[Track]] = {}
        for t in self.tracks:
            out.setdefault(t.session, []).append(t)
        return [out[k] for k in sorted(out)]

    def closed_session_records(self) -> tuple[Session, ...]:
        """The closed sessions, as cdfs's media model describes them."""
        recs = []
        for tracks in self.sessions()[: self.closed_sessions]:
            start = tracks[0].start
            end = tracks[-1].start + tracks[-1].written
            recs.append(Session(start, end - start))  # type: ignore[arg-type]
        return tuple(recs)

    @property
    def open_track(self) -> Track | None:
        if self.tracks and not self.tracks[-1].closed:
            return self.tracks[-1]
        return None

    @property
    def session_open(self) -> bool:
        return len(self.sessions()) > self.closed_sessions

    def nwa(self) -> int | None:
        """Next writable address of the open (or next) track; None when the
        disc takes nothing more."""
        if self.type.overwritable:
            return 0
        if self.finalized:
            return None
        t = self.open_track
        if t is not None:
            return None if t.damaged else t.start + t.written
        if self.session_open:
            last = self.tracks[-1]
            return self.track_end(last)
        if not self.tracks:
            return 0
        nwa = next_writable_address(self.type, self.closed_session_records())
        return int(nwa) if nwa < self.type.capacity else None

    def free(self) -> int:
        nwa = self.nwa()
        return 0 if nwa is None else max(0, self.type.capacity - nwa)

    @property
    def status(self) -> int:
        """READ DISC INFORMATION's disc status: 0 blank, 1 appendable, 2 complete, 3 other."""
        if self.type.overwritable:
            return 3 if self.profile == 0x43 else (0 if not self.written_max else 2)
        if not self.tracks:
            return 0
        if self.finalized:
            return 2
        if self.session_open:
            return 1
        return 2 if self.nwa() is None else 1

    def readable_end(self) -> int:
        """Sectors a READ CAPACITY reports: the end of the last recorded data."""
        if self.type.overwritable:
            return self.type.capacity
        if not self.tracks:
            return 0
        last = [t for t in self.tracks if t.written]
        return self.track_end(last[-1]) if last else 0


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
    busy: bool = False
    """Every medium access answers NOT READY, long write in progress."""


class Drive:
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
                    raise _sense(INVALID_OPCODE)
                out: bytes = handler(cdb, data_out)
                self.log.append(name)
                return out[:alloc]
            except Sense as s:
                self.log.append(f"{name} -> {s}")
                self.last_sense = s.data()
                raise

    def _medium(self, write: bool = False) -> Disc:
        if self.faults.busy:
            raise _sense(IN_PROGRESS)
        if self.disc is None:
            raise _sense(NOT_READY_NO_MEDIUM)
        if write and self.disc.wp:
            raise _sense(WRITE_PROTECTED)
        return self.disc

    # TEST UNIT READY
    def _op_00(self, cdb: bytes, data: bytes) -> bytes:
        if self.changed:
            self.changed = False
            if self.disc is not None:
                raise _sense(MEDIUM_CHANGED)
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
                raise _sense(REMOVAL_PREVENTED)
            self.eject()
        return b""

    # PREVENT ALLOW MEDIUM REMOVAL
    def _op_1e(self, cdb: bytes, data: bytes) -> bytes:
        self.locked = bool(cdb[4] & 1)
        return b""

    # GET CONFIGURATION
    def _op_46(self, cdb: bytes, data: bytes) -> bytes:
        rt = cdb[1] & 3
        start = int.from_bytes(cdb[2:4], "big")
        current = self.disc.profile if self.disc is not None else 0
        feats: list[tuple[int, int, bytes]] = []  # (code, current, body)
        plist = b"".join(
            struct.pack(">HBx", p, 1 if p == current else 0)
            for p in sorted(PROFILES.values(), reverse=True)
        )
        feats.append((0x0000, 1, plist))
        feats.append((0x0001, 1, struct.pack(">IBxxx", 2, 1)))  # core, ATAPI
        feats.append((0x0002, 1, bytes([2, 0, 0, 0])))  # morphing: async
        feats.append((0x0003, 1, bytes([0x29, 0, 0, 0])))  # removable: tray, lock, eject
        have = self.disc is not None
        fam = self.disc.type.family if self.disc is not None else None
        feats.append(
            (0x0010, int(have), struct.pack(">IHBx", SECTOR, 1 if fam is Family.CD else 16, 0))
        )
        feats.append((0x001E, int(fam is Family.CD), bytes(4)))
        feats.append((0x001F, int(fam is Family.DVD), bytes(4)))
        if have and self.disc is not None and not self.disc.type.overwritable:
            link = bytes([1, 7 if fam is Family.CD else 16])
            feats.append((0x0021, 1, struct.pack(">HBB", 1, 0, len(link) - 1) + link + bytes(2)))
        if have and self.disc is not None and self.disc.type.overwritable:
            feats.append((0x0020, 1, struct.pack(">IIHxx", 2048, 16, 0)[:8] + bytes(4)))
        if fam is Family.CD and self.disc is not None:
            feats.append((0x002D, 1, bytes([0x46, 0, 0x03, 0x7F])))  # CD TAO, test write, RW
            feats.append((0x002E, 1, bytes([0x3E, 0, 0, 0])))  # CD mastering (SAO)
        if self.disc is not None and self.disc.profile in (0x1A, 0x1B):
            feats.append((0x002A if self.disc.profile == 0x1A else 0x002B, 1, bytes([1, 0, 0, 0])))
        if self.disc is not None and self.disc.profile == 0x11:
            feats.append((0x002F, 1, bytes([0x44, 0, 0, 0])))
        if fam is Family.BD:
            feats.append((0x0040, 1, bytes(28)))
            feats.append((0x0041, 1, bytes(28)))
        feats.append((0x0107, 1, bytes([0x0F, 0, 0, 0])))  # real time streaming
        body = b""
        for code, cur, payload in sorted(feats):
            if code < start or (rt == 2 and code != start):
                continue
            if rt == 1 and not cur:
                continue
            version = 0
            body += (
                struct.pack(">HBB", code, (version << 2) | (3 if cur else 2), len(payload))
                + payload
            )
        return struct.pack(">IxxH", 4 + len(body), current) + body

    # GET EVENT STATUS NOTIFICATION
    def _op_4a(self, cdb: bytes, data: bytes) -> bytes:
        if not cdb[4] & 0x10:  # media class only
            return struct.pack(">HBB", 2, 0x80, 0x10)
        ev, self.event_pending = self.event_pending, 0
        status = (2 if self.disc is not None else 0) | (1 if self.tray_open else 0)
        return struct.pack(">HBB", 6, 4, 0x10) + bytes([ev, status, 0, 0])

    # READ DISC INFORMATION
    def _op_51(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium()
        sessions = d.sessions()
        status = d.status
        if status == 0 or d.type.overwritable:
            nsess, state, first_in_last, last_track = 1, 0 if status == 0 else 3, 1, 1
        elif status == 2:
            nsess, state = len(sessions), 3
            first_in_last, last_track = sessions[-1][0].number, len(d.tracks)
        elif d.session_open:  # an incomplete session (a track open or damaged)
            nsess, state = len(sessions), 1
            first_in_last, last_track = sessions[-1][0].number, len(d.tracks)
        else:  # an empty next session
            nsess, state = len(sessions) + 1, 0
            first_in_last = last_track = len(d.tracks) + 1
        last_sess_state = state
        erasable = 0x10 if d.type.rewritable else 0
        out = bytearray(34)
        struct.pack_into(">H", out, 0, 32)
        out[2] = erasable | (last_sess_state << 2) | d.status
        out[3] = 1
        out[4] = nsess & 0xFF
        out[5] = first_in_last & 0xFF
        out[6] = last_track & 0xFF
        out[7] = 0x20  # URU: unrestricted use
        out[8] = 0x00  # disc type: CD-DA or CD-ROM (data)
        out[9] = nsess >> 8
        out[10] = first_in_last >> 8
        out[11] = last_track >> 8
        nwa = d.nwa()
        lead_in = -1 if nwa is None else nwa - 150 - 4350 if d.is_cd else (nwa or 0)
        lead_out = d.type.capacity
        if d.is_cd:
            if d.status != 2 and nwa is not None:
                m, s, f = msf(max(lead_in, -150) if d.tracks else -11634)
                out[16:20] = bytes([0, m, s, f])
            else:
                out[16:20] = b"\xff\xff\xff\xff"
            m, s, f = msf(lead_out)
            out[20:24] = bytes([0, m, s, f]) if d.status != 2 else b"\xff\xff\xff\xff"
        else:
            struct.pack_into(">ii", out, 16, 0 if nwa is None else nwa, lead_out)
        return bytes(out)

    # READ TRACK INFORMATION
    def _op_52(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium()
        kind = cdb[1] & 3
        addr = int.from_bytes(cdb[2:6], "big")
        if d.type.overwritable:
            return self._track_info_overwritable(d, addr)
        tracks = d.tracks
        # The incomplete track (being written, or damaged), else a new one.
        invisible_no = d.open_track.number if d.open_track else len(tracks) + 1
        if kind == 1:
            number = invisible_no if addr == 0xFF else addr
        elif kind == 0:
            number = next(
                (t.number for t in tracks if t.start <= addr < d.track_end(t)), invisible_no
            )
        elif kind == 2:
            sess = d.sessions()
            number = sess[addr - 1][0].number if 1 <= addr <= len(sess) else invisible_no
        else:
            raise _sense(INVALID_FIELD)
        if number < 1 or number > max(invisible_no, len(tracks)):
            raise _sense(INVALID_FIELD)
        out = bytearray(48)
        struct.pack_into(">H", out, 0, 46)
        mode = 4 if d.is_cd else 5  # data track; DVD/BD: incremental data
        if number > len(tracks):
            nwa = d.nwa()
            if nwa is None and number > 1 and d.status == 2:
                raise _sense(INVALID_FIELD)
            start = nwa if nwa is not None else d.track_end(tracks[-1])
            free = d.free()
            sess_no = len(d.sessions()) + (0 if d.session_open else 1)
            out[2], out[3] = number & 0xFF, sess_no & 0xFF
            out[5] = mode
            out[6] = 0x80 | 0x40 | 0x20 | 1  # RT, blank, incremental, mode 1
            out[7] = 1 if nwa is not None else 0
            struct.pack_into(
                ">iiiii", out, 8, start, nwa or 0, free, 16 if not d.is_cd else 0, free
            )
            out[32], out[33] = number >> 8, sess_no >> 8
            return bytes(out)
        t = tracks[number - 1]
        out[2], out[3] = t.number & 0xFF, t.session & 0xFF
        out[5] = mode | (0x20 if t.damaged else 0)
        open_ = not t.closed
        out[6] = (0x20 if open_ else 0) | 1 | (0x80 if open_ and t.written == 0 else 0)
        nwa = t.start + t.written if open_ and not t.damaged else 0
        out[7] = (1 if open_ and not t.damaged else 0) | (2 if t.written else 0)
        size = t.written + (d.type.run_out if t.closed else 0)
        free = d.free() if open_ else 0
        lra = t.start + t.written - 1 if t.written else 0
        struct.pack_into(
            ">iiiiii",
            out,
            8,
            t.start,
            nwa,
            free,
            16 if not d.is_cd else 0,
            size if t.closed else size + free,
            lra,
        )
        out[32], out[33] = t.number >> 8, t.session >> 8
        return bytes(out)

    def _track_info_overwritable(self, d: Disc, addr: int) -> bytes:
        out = bytearray(48)
        struct.pack_into(">H", out, 0, 46)
        out[2], out[3] = 1, 1
        out[5] = 4
        out[6] = 0x10 | 1  # fixed packet
        out[7] = 1
        cap = d.type.capacity
        struct.pack_into(">iiiiii", out, 8, 0, 0, cap, 16, cap, max(0, d.written_max - 1))
        return bytes(out)

    # READ TOC/PMA/ATIP
    def _op_43(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium()
        fmt = cdb[2] & 0xF
        time_ = bool(cdb[1] & 2)
        # Only closed sessions are in the TOC (an incomplete one is in the PMA).
        closed = [t for t in d.tracks if t.session <= d.closed_sessions]
        if fmt == 4:  # ATIP
            if not d.is_cd:
                raise _sense(INVALID_FIELD)
            m, s, f = msf(d.type.capacity)
            out = bytearray(28)
            struct.pack_into(">H", out, 0, 26)
            out[4] = 0x80 | 0x05  # indicative writing power, reference speed
            out[5] = 0x40 if d.type.rewritable else 0
            out[6] = 0x80 | (0x40 if d.type.rewritable else 0)  # disc sub-type
            out[8:11] = bytes([0x61, 0x1A, 0x41])  # ATIP start of lead-in 97:26:65
            out[12:15] = bytes([m, s, f])
            return bytes(out)
        if fmt == 2:  # full TOC
            if not d.is_cd or not closed:
                raise _sense(INVALID_FIELD)
            body = b""
            sess = d.sessions()[: d.closed_sessions]
            for i, tracks in enumerate(sess, 1):
                last = tracks[-1]
                lo = msf(d.track_end(last))
                body += bytes([i, 0x14, 0, 0xA0, 0, 0, 0, 0, tracks[0].number, 0x20, 0])
                body += bytes([i, 0x14, 0, 0xA1, 0, 0, 0, 0, last.number, 0, 0])
                body += bytes([i, 0x14, 0, 0xA2, 0, 0, 0, 0, *lo])
                for t in tracks:
                    body += bytes([i, 0x14, 0, t.number, 0, 0, 0, 0, *msf(t.start)])
            return struct.pack(">HBB", 2 + len(body), 1, len(sess)) + body
        if fmt == 1:  # session info
            if not closed:
                raise _sense(INVALID_FIELD)
            sess = d.sessions()[: d.closed_sessions]
            first = sess[-1][0]
            addr = bytes([0, *msf(first.start)]) if time_ else struct.pack(">i", first.start)
            return struct.pack(">HBB", 10, 1, len(sess)) + bytes([0, 0x14, first.number, 0]) + addr
        if fmt == 0:
            if not closed:
                raise _sense(INVALID_FIELD)
            body = b""
            for t in closed:
                a = bytes([0, *msf(t.start)]) if time_ else struct.pack(">i", t.start)
                body += bytes([0, 0x14, t.number, 0]) + a
            end = d.track_end(closed[-1])
            a = bytes([0, *msf(end)]) if time_ else struct.pack(">i", end)
            body += bytes([0, 0x14, 0xAA, 0]) + a
            return struct.pack(">HBB", 2 + len(body), 1, closed[-1].number) + body
        raise _sense(INVALID_FIELD)

    # READ CAPACITY
    def _op_25(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium()
        return struct.pack(">iI", max(0, d.readable_end()) - 1, SECTOR)

    # READ FORMAT CAPACITIES
    def _op_23(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium()
        cap = d.type.capacity
        if d.type.overwritable:
            desc = struct.pack(">II", cap, (2 << 24) | SECTOR)  # formatted
            fmt = 0x26 if d.profile == 0x1A else 0x30
            more = struct.pack(">II", cap, (fmt << 26) | SECTOR)
            return struct.pack(">xxxB", 16) + desc + more
        desc = struct.pack(">II", cap, (3 << 24) | SECTOR)  # no media present / unformatted
        return struct.pack(">xxxB", 8) + desc

    # MODE SENSE(10)
    def _op_5a(self, cdb: bytes, data: bytes) -> bytes:
        page = cdb[2] & 0x3F
        if page == 0x2A:
            p = bytearray(30)
            p[0], p[1] = 0x2A, 28
            p[2] = 0x3F  # reads CD-R/RW, DVD-ROM/R/RAM
            p[3] = 0x37  # writes CD-R/RW, DVD-R, test write
            p[4] = 0x40  # multisession
            p[6] = 0x29  # tray, eject, lock
            p[7] = 0
            struct.pack_into(">H", p, 8, 7056)  # max read kB/s (obsolete)
            struct.pack_into(">H", p, 12, 1024)  # buffer size kB
            struct.pack_into(">H", p, 18, 7056)
            struct.pack_into(">H", p, 20, 7056)
            struct.pack_into(">H", p, 28, 7056)  # current write speed
            body = bytes(p)
        elif page == 0x05:
            p = bytearray(52)
            p[0], p[1] = 0x05, 50
            p[2] = 0x40 | self.write_type | (0x10 if self.test_write else 0)
            p[3] = (self.multi << 6) | 4
            p[4] = 8
            struct.pack_into(">H", p, 8 + 2, 0)
            body = bytes(p)
        else:
            raise _sense(INVALID_FIELD)
        return struct.pack(">HxxxxH", 6 + len(body), 0) + body

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

    # GET PERFORMANCE
    def _op_ac(self, cdb: bytes, data: bytes) -> bytes:
        kind = cdb[10]
        cap = self.disc.type.capacity if self.disc else 0
        fam = self.disc.type.family if self.disc else Family.CD
        x1 = {Family.CD: 176.4, Family.DVD: 1385, Family.BD: 4495.625}[fam]
        speeds = {Family.CD: (4, 16, 24), Family.DVD: (4, 8), Family.BD: (2, 4)}[fam]
        if kind == 0x03:  # write speed descriptors
            desc = b"".join(
                struct.pack(">BxxxIII", 0, cap, round(s * x1), round(s * x1))
                for s in reversed(speeds)
            )
            return struct.pack(">Ixxxx", 4 + len(desc)) + desc
        if kind == 0x00:  # performance
            top = round(speeds[-1] * x1)
            desc = struct.pack(">IIII", 0, top, max(0, cap - 1), top)
            return struct.pack(">Ixxxx", 4 + len(desc)) + desc
        raise _sense(INVALID_FIELD)

    # SET CD SPEED, SET STREAMING, SEND OPC, SYNCHRONIZE CACHE
    def _op_bb(self, cdb: bytes, data: bytes) -> bytes:
        self.speed_kbs = int.from_bytes(cdb[4:6], "big")
        return b""

    def _op_b6(self, cdb: bytes, data: bytes) -> bytes:
        return b""

    def _op_54(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        if d.opc_fails:
            raise _sense(POWER_CALIBRATION_ERROR)
        return b""

    def _op_35(self, cdb: bytes, data: bytes) -> bytes:
        self._medium()
        return b""

    # READ BUFFER CAPACITY
    def _op_5c(self, cdb: bytes, data: bytes) -> bytes:
        return struct.pack(">HxxII", 10, 4 << 20, 4 << 20)

    # MECHANISM STATUS
    def _op_bd(self, cdb: bytes, data: bytes) -> bytes:
        return struct.pack(">BBxxxBH", 0, 0x20 if self.disc else 0x10, 1, 4)

    # READ DISC STRUCTURE
    def _op_ad(self, cdb: bytes, data: bytes) -> bytes:
        raise _sense(INVALID_FIELD)

    # RESERVE TRACK
    def _op_53(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        size = int.from_bytes(cdb[5:9], "big")
        nwa = d.nwa()
        if nwa is None or d.open_track is not None or size > d.free():
            raise _sense(INVALID_FIELD)
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
            raise _sense(POWER_CALIBRATION_ERROR)
        n = len(data) // SECTOR
        if lba < 0 or lba + n > d.type.capacity:
            raise _sense(LBA_OUT_OF_RANGE)
        fail = self.faults.fail_write_at
        if not self.locked:
            self.writes_unlocked += 1
        if self.faults.eject_during_write and self.eject_refused_while_writing is None:
            self.eject_refused_while_writing = not self.eject()
            if not self.eject_refused_while_writing:
                raise _sense(NOT_READY_NO_MEDIUM)
        stop = self.faults.interrupt_write_at
        if d.type.overwritable:
            if fail is not None and lba <= fail < lba + n:
                raise _sense(WRITE_ERROR)
            if not self.test_write:
                self._store(d, lba, data)
                d.written_max = max(d.written_max, lba + n)
            return b""
        t = d.open_track
        if t is None:
            nwa = d.nwa()
            if nwa is None or lba != nwa:
                raise _sense(INVALID_ADDRESS)
            if self.test_write:
                return b""
            sess = d.closed_sessions + 1
            t = Track(len(d.tracks) + 1, sess, nwa)
            d.tracks.append(t)
            self.track_write_types.append(self.write_type)
        if t.damaged or lba != t.start + t.written:
            raise _sense(INVALID_ADDRESS)
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
                raise _sense(WRITE_ERROR)
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
                raise _sense(LBA_OUT_OF_RANGE)
        if lba + n > end:
            raise _sense(LBA_OUT_OF_RANGE)
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
            raise _sense(INVALID_FIELD)
        d.save()
        return b""

    # BLANK
    def _op_a1(self, cdb: bytes, data: bytes) -> bytes:
        d = self._medium(write=True)
        if not d.type.rewritable or d.type.overwritable:
            raise _sense(INVALID_FIELD)
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
            raise _sense(INVALID_FIELD)
        d.formatted = True
        d.save()
        return b""
