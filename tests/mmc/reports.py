"""What the simulated recorder reports about itself and its disc: GET
CONFIGURATION (profiles and features), READ DISC INFORMATION, READ TRACK
INFORMATION, READ TOC/PMA/ATIP (formatted TOC, session info, full TOC,
ATIP), READ CAPACITY, READ FORMAT CAPACITIES, MODE SENSE (capabilities and
the write parameters page), GET PERFORMANCE, READ BUFFER CAPACITY, MECHANISM
STATUS and READ DISC STRUCTURE.

:class:`Reports` holds those command handlers, which change nothing; the
drive (:class:`tests.mmc.model.Drive`) inherits them and owns the state they
read.  The numbers follow MMC-5; the disc's own geometry is
:class:`tests.mmc.disc.Disc`'s.
"""

from __future__ import annotations

import struct

from cdfs.recorders.media import Family
from tests.mmc.disc import Disc
from tests.mmc.scsi import INVALID_FIELD, PROFILES, SECTOR, msf, sense


class Reports:
    """The reporting commands of :class:`tests.mmc.model.Drive`."""

    disc: Disc | None
    write_type: int
    multi: int
    test_write: bool

    def _medium(self, write: bool = False) -> Disc:
        raise NotImplementedError

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
            raise sense(INVALID_FIELD)
        if number < 1 or number > max(invisible_no, len(tracks)):
            raise sense(INVALID_FIELD)
        out = bytearray(48)
        struct.pack_into(">H", out, 0, 46)
        mode = 4 if d.is_cd else 5  # data track; DVD/BD: incremental data
        if number > len(tracks):
            nwa = d.nwa()
            if nwa is None and number > 1 and d.status == 2:
                raise sense(INVALID_FIELD)
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
                raise sense(INVALID_FIELD)
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
                raise sense(INVALID_FIELD)
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
                raise sense(INVALID_FIELD)
            sess = d.sessions()[: d.closed_sessions]
            first = sess[-1][0]
            addr = bytes([0, *msf(first.start)]) if time_ else struct.pack(">i", first.start)
            return struct.pack(">HBB", 10, 1, len(sess)) + bytes([0, 0x14, first.number, 0]) + addr
        if fmt == 0:
            if not closed:
                raise sense(INVALID_FIELD)
            body = b""
            for t in closed:
                a = bytes([0, *msf(t.start)]) if time_ else struct.pack(">i", t.start)
                body += bytes([0, 0x14, t.number, 0]) + a
            end = d.track_end(closed[-1])
            a = bytes([0, *msf(end)]) if time_ else struct.pack(">i", end)
            body += bytes([0, 0x14, 0xAA, 0]) + a
            return struct.pack(">HBB", 2 + len(body), 1, closed[-1].number) + body
        raise sense(INVALID_FIELD)

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
            raise sense(INVALID_FIELD)
        return struct.pack(">HxxxxH", 6 + len(body), 0) + body

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
        raise sense(INVALID_FIELD)

    # READ BUFFER CAPACITY
    def _op_5c(self, cdb: bytes, data: bytes) -> bytes:
        return struct.pack(">HxxII", 10, 4 << 20, 4 << 20)

    # MECHANISM STATUS
    def _op_bd(self, cdb: bytes, data: bytes) -> bytes:
        return struct.pack(">BBxxxBH", 0, 0x20 if self.disc else 0x10, 1, 4)

    # READ DISC STRUCTURE
    def _op_ad(self, cdb: bytes, data: bytes) -> bytes:
        raise sense(INVALID_FIELD)
