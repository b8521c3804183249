"""Reading sessions back: the tree of one ISO 9660 session as DiscEntry records.

This module owns parsing the session that starts at a given sector of a disc
(or disc image) and describing its files the way the rest of cdfs sees them:
names from Rock Ridge, else Joliet, else ISO 9660; modes, owners and times
from Rock Ridge PX/TF, else read-only defaults and the directory record date;
symlinks from Rock Ridge SL; multi-extent files as one file with several
extents; Rock Ridge relocation (CL/RE) undone.  Extents are absolute sectors,
so the view reads file data straight from the disc.

Which session a disc shows is :mod:`cdfs.iso.disccontents`'s: a session
whose tree or data points beyond ``end`` (the disc's written area) is
reported here as damaged (InvalidImageError).

It does not read the table of contents (the recorders do), file data (the
view does) or write anything (:mod:`cdfs.iso.mastering`); dates, TF entries
and where records are are decoded by :mod:`cdfs.iso.isofields`.

It reads the on-disc structures itself rather than through pycdlib: pycdlib
always starts at sector 16 and can only resolve Rock Ridge links within the
tree it walked, while sessions appended by ``genisoimage -M`` link relocated
directories into the previous session (the kernel and xorriso follow such
links by absolute sector, and so does this reader).  References: ECMA-119
(ISO 9660) 8.4 and 9.1, SUSP 1.12, RRIP 1.12 (IEEE P1282) section 4, Joliet.
"""

from __future__ import annotations

import logging
import stat
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import BinaryIO

from cdfs.errors import InvalidImageError, MediaError
from cdfs.iso import rrlinks
from cdfs.iso.discentry import DiscEntry, Known, Placed, SessionFacts, walk
from cdfs.iso.entries import Kind
from cdfs.iso.isofields import dr_date, positions, tf_times
from cdfs.units import SECTOR_SIZE, Lba

__all__ = ["DiscEntry", "Kind", "Known", "Placed", "SessionFacts", "read_session", "walk"]

log = logging.getLogger(__name__)

_VD_START = 16
_VD_MAX = 64
_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
_RRIP_IDS = (b"RRIP_1991A", b"IEEE_P1282", b"IEEE_1282")
_MAX_DIR_BYTES = 64 << 20
"""A directory larger than this is taken for corruption, not read."""
_MAX_CE = 64
"""Continuation areas followed per record (a loop guard)."""

# ECMA-119 9.1.6 file flags
_F_DIR, _F_ASSOCIATED, _F_MULTI_EXTENT = 0x02, 0x04, 0x80

_F_NOT_PLAIN = _F_DIR | _F_ASSOCIATED | _F_MULTI_EXTENT
_GENERAL_ONLY = frozenset((b"SL", b"CE", b"CL", b"RE"))
"""Rock Ridge entries of a file record that only the general path reads."""
_S_IFREG = stat.S_IFREG

QUICK = True
"""Make plain files' entries in one step (:meth:`_Builder._plain_file`); the
tests turn it off to compare with the general path."""

_PX = struct.Struct("<I4xI4xI4xI")
_U32 = struct.Struct("<I")
_LBA_SIZE = struct.Struct("<I4xI")

_DEFAULT_PERMS = {Kind.FILE: 0o444, Kind.DIR: 0o555, Kind.SYMLINK: 0o777}


# -- raw records ----------------------------------------------------------------------


_NO_TIMES: Mapping[int, int | None] = MappingProxyType({})


@dataclass(slots=True)
class _Rock:
    """The Rock Ridge entries of one directory record (RRIP 4.1)."""

    name: bytes | None = None
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    serial: int = 0
    times: Mapping[int, int | None] = field(default_factory=lambda: _NO_TIMES)
    """TF timestamps by flag bit: 1 MODIFY, 2 ACCESS, 3 ATTRIBUTES."""
    target: bytes | None = None
    child: int | None = None
    """CL: where the relocated directory really is."""
    relocated: bool = False
    """RE: this is a relocated directory, shown at its CL placeholder."""


@dataclass(slots=True)
class _Record:
    ident: bytes
    flags: int
    lba: int
    size: int
    date: int | None
    rock: _Rock | None

    @property
    def is_dir(self) -> bool:
        return bool(self.flags & _F_DIR)


class _Session:
    """One session of a disc: its descriptors, directories and Rock Ridge."""

    def __init__(self, fp: BinaryIO, start: int, end: int | None = None) -> None:
        self.fp, self.start, self.end = fp, start, end
        """``end``: the first sector past the disc's written area, if known."""
        self.skip = 0
        """SUSP SP: bytes to skip at the start of every system use area."""
        self.rock_ridge = False
        self.rrip_110 = False
        """Some record's PX has no serial number (RRIP 1.10): the session's
        directories are not reused by one that writes RRIP 1.12 records."""
        pvd, self.joliet = self._descriptors()
        self.root = self._parse_record(pvd[156:190], rock=False)
        self._probe_rock_ridge()

    def read(self, lba: int, offset: int, length: int) -> bytes:
        if self.end is not None and lba * SECTOR_SIZE + offset + length > self.end * SECTOR_SIZE:
            last = lba + (offset + length - 1) // SECTOR_SIZE
            raise InvalidImageError(
                f"the session at sector {self.start} refers to sector {last}, beyond the"
                f" written area of the disc (which ends at sector {self.end - 1})"
            )
        try:
            self.fp.seek(lba * SECTOR_SIZE + offset)
            data = self.fp.read(length)
        except OSError as e:
            raise MediaError(f"cannot read sector {lba} of the disc: {e}") from e
        if len(data) != length:
            raise InvalidImageError(
                f"the session at sector {self.start} refers to sector {lba}, beyond the disc"
            )
        return data

    def _descriptors(self) -> tuple[bytes, _Record | None]:
        pvd: bytes | None = None
        joliet = None
        for n in range(_VD_START, _VD_START + _VD_MAX):
            try:
                vd = self.read(self.start + n, 0, SECTOR_SIZE)
            except InvalidImageError:
                break
            if vd[1:6] != b"CD001" or vd[0] == 255:
                break
            if vd[0] == 1 and pvd is None:
                pvd = vd
            elif vd[0] == 2 and vd[88:91] in _JOLIET_ESCAPES and not vd[7] & 1:
                joliet = self._parse_record(vd[156:190], rock=False)
        if pvd is None:
            raise InvalidImageError(
                f"no ISO 9660 volume descriptor at sector {self.start + _VD_START}"
            )
        return pvd, joliet

    def _probe_rock_ridge(self) -> None:
        """SUSP 5.3: an SP entry in the root's "." record announces SUSP;
        RRIP 4.3: an ER entry (or, for 1.09, PX/RR entries) announces Rock Ridge."""
        first = self.read(self.root.lba, 0, min(self.root.size, SECTOR_SIZE))
        n = first[0]
        if n < 34 or n > len(first):
            raise InvalidImageError(f"the root directory of the session at {self.start} is damaged")
        su = first[34:n]
        if su[:2] != b"SP" or len(su) < 7 or su[4:6] != b"\xbe\xef":
            return
        self.skip = su[6]
        ids = []
        for sig, body in self._susp(su):
            if sig == b"ER" and len(body) >= 4:
                ids.append(body[4 : 4 + body[0]])
            if sig in (b"PX", b"RR") or (ids and ids[-1] in _RRIP_IDS):
                self.rock_ridge = True
        if self.rock_ridge:  # the root's own attributes are in its "." record
            self.root = self._parse_record(first[:n], skip=0)

    def _susp(self, area: bytes) -> Iterator[tuple[bytes, bytes]]:
        """(signature, body) of each SUSP entry of a system use area,
        continuation areas (CE) followed."""
        areas, followed = [area], 0
        while areas:
            data, i = areas.pop(0), 0
            while i + 4 <= len(data):
                sig, length = data[i : i + 2], data[i + 2]
                if length < 4 or i + length > len(data) or sig == b"ST":
                    break
                body = data[i + 4 : i + length]
                i += length
                if sig == b"CE" and len(body) >= 24 and followed < _MAX_CE:
                    block, offset, size = struct.unpack_from("<I4xI4xI", body)
                    if size <= SECTOR_SIZE:
                        followed += 1
                        areas.append(self.read(block, offset, size))
                    continue
                yield sig, body

    def _rock(self, area: bytes) -> _Rock:
        # The walk of :meth:`_susp`, inline and without slicing out each
        # entry's body: this runs for every record.
        mode: int | None = None
        uid = gid = serial = 0
        nlink = 1
        times = _NO_TIMES
        child: int | None = None
        relocated = False
        name: list[bytes] = []
        link: list[bytes] = []
        areas: list[bytes] = []
        followed, data, i, end = 0, area, 0, len(area)
        while True:
            if i + 4 > end:
                if not areas:
                    break
                data, i = areas.pop(0), 0
                end = len(data)
                continue
            sig, length = data[i : i + 2], data[i + 2]
            nxt = i + length
            if length < 4 or nxt > end or sig == b"ST":
                i = end
                continue
            if sig == b"NM":
                if length > 4 and not data[i + 4] & 0x06:
                    name.append(data[i + 5 : nxt])
            elif sig == b"PX":
                if length >= 36:
                    mode, nlink, uid, gid = _PX.unpack_from(data, i + 4)
                    if length >= 44:  # RRIP 1.12 4.1.1: the file serial number
                        serial = _U32.unpack_from(data, i + 36)[0]
                    else:
                        self.rrip_110 = True
            elif sig == b"TF":
                if length > 4:
                    more = tf_times(data[i + 4 : nxt])
                    times = {**times, **more} if times else more
            elif sig == b"SL":
                if length > 4:
                    link.append(data[i + 5 : nxt])
            elif sig == b"CE":
                if length >= 28 and followed < _MAX_CE:
                    block, offset, size = struct.unpack_from("<I4xI4xI", data, i + 4)
                    if size <= SECTOR_SIZE:
                        followed += 1
                        areas.append(self.read(block, offset, size))
            elif sig == b"CL":
                if length >= 8:
                    child = _U32.unpack_from(data, i + 4)[0]
            elif sig == b"RE":
                relocated = True
            i = nxt
        return _Rock(
            b"".join(name) if name else None,
            mode,
            uid,
            gid,
            nlink,
            serial,
            times,
            rrlinks.target(b"".join(link)) if link else None,
            child,
            relocated,
        )

    def _parse_record(self, rec: bytes, *, rock: bool = True, skip: int | None = None) -> _Record:
        n = rec[0]
        if n < 34 or n > len(rec) or 33 + rec[32] > n:
            raise InvalidImageError(f"a directory record in the session at {self.start} is damaged")
        ext_attr, lba, size = rec[1], *struct.unpack_from("<I4xI", rec, 2)
        ident = rec[33 : 33 + rec[32]]
        su_start = 33 + rec[32] + (1 - rec[32] % 2) + (self.skip if skip is None else skip)
        parsed = self._rock(rec[su_start:n]) if rock and self.rock_ridge else None
        return _Record(ident, rec[25], lba + ext_attr, size, dr_date(rec[18:25]), parsed)

    def directory(self, d: _Record) -> bytes:
        """The bytes of a directory's records."""
        if d.size > _MAX_DIR_BYTES:
            raise InvalidImageError(f"a directory of {d.size} bytes at sector {d.lba}")
        return self.read(d.lba, 0, d.size)

    def parse_at(self, data: bytes, pos: int, end: int) -> _Record | None:
        """The record at ``data[pos:end]`` (checked by :func:`_positions`);
        None for "." and "..".  :meth:`_parse_record`, without cutting the
        record out first."""
        id_len = data[pos + 32]
        ident = data[pos + 33 : pos + 33 + id_len]
        if ident in (b"\x00", b"\x01"):
            return None
        lba, length = _LBA_SIZE.unpack_from(data, pos + 2)
        su = pos + 33 + id_len + (1 - id_len % 2) + self.skip
        return _Record(ident, data[pos + 25], lba + data[pos + 1], length,
                       dr_date(data[pos + 18 : pos + 25]),
                       self._rock(data[su:end]) if self.rock_ridge else None)  # fmt: skip

    def check_data(self, name: bytes, extents: tuple[tuple[int, int], ...]) -> None:
        """A file's data must lie on the disc's written area too: a session
        cut short can keep its tree but not the data after it."""
        assert self.end is not None
        for lba, length in extents:
            last = lba + (length - 1) // SECTOR_SIZE
            if last >= self.end:
                raise InvalidImageError(
                    f"the session at sector {self.start} puts the data of"
                    f" {name.decode(errors='replace')!r} at sector {last}, beyond the written"
                    f" area of the disc (which ends at sector {self.end - 1})"
                )

    def directory_at(self, lba: int) -> _Record:
        """The "." record of the directory at ``lba`` (a CL target)."""
        first = self.read(lba, 0, SECTOR_SIZE)
        return self._parse_record(first[: first[0]])


# -- from records to entries ---------------------------------------------------------


@dataclass
class _Frame:
    """A directory being built: its record and what was found in it."""

    name: bytes
    rec: _Record
    todo: Iterator[DiscEntry | tuple[bytes, list[_Record]]]
    kids: dict[bytes, DiscEntry] = field(default_factory=dict)
    linked: bool = False
    """A file with several names is in it, or below it."""
    relocated: int = 0
    """Records of relocated (RE) directories in it, not shown here."""


class _Builder:
    """Builds the DiscEntry tree of a session through one of its trees:
    Rock Ridge (on the ISO 9660 tree), Joliet, or plain ISO 9660."""

    def __init__(
        self, session: _Session, root: _Record, joliet: bool, known: Known | None = None
    ) -> None:
        self.session, self.root, self.joliet = session, root, joliet
        self.seen: set[int] = set()
        self.known = known or {}
        self.max_serial = max((e.serial_max for e in self.known.values()), default=0)
        self.reusable = session.rock_ridge and session.joliet is not None and not joliet
        """Whether directories may be reused (no relocation seen so far)."""

    def tree(self) -> DiscEntry:
        # Iterative post-order: deep trees need no recursion, and each
        # directory is made once its children (and link count) are known.
        frames = [self._frame(b"", self.root)]
        while True:
            top = frames[-1]
            for child in top.todo:
                if isinstance(child, DiscEntry):  # a plain file, made at once
                    top.kids[child.name] = child
                    top.linked = top.linked or child.nlink > 1
                elif child[1][0].flags & _F_DIR:
                    old = self.known.get(child[1][0].lba)
                    if old is not None and old.tree.name == child[0]:
                        top.kids[child[0]] = old.tree  # reused: the same records
                        continue
                    frames.append(self._frame(*child))
                    break
                else:
                    leaf = top.kids[child[0]] = self._leaf(*child)
                    top.linked = top.linked or (leaf.nlink > 1 and leaf.kind is Kind.FILE)
            else:
                frames.pop()
                entry = self._dir(top.name, top.rec, top.kids, top.linked)
                if not frames:
                    joliet = self.session.joliet
                    facts = SessionFacts(
                        (joliet.lba, joliet.size) if joliet and self._reusable() else None,
                        self.max_serial,
                    )
                    return replace(entry, session=facts, where=entry.where * self._reusable())
                frames[-1].linked = frames[-1].linked or top.linked
                if len(frames) > 1 or not self._is_rr_moved(top):
                    frames[-1].kids[top.name] = entry

    def _reusable(self) -> bool:
        return self.reusable and not self.session.rrip_110

    def _frame(self, name: bytes, recs: _Record | list[_Record]) -> _Frame:
        rec = recs if isinstance(recs, _Record) else recs[0]
        if rec.lba in self.seen:
            raise InvalidImageError(f"directories loop at sector {rec.lba}")
        self.seen.add(rec.lba)
        frame = _Frame(name, rec, iter(()))
        frame.todo = self._children(frame)
        return frame

    def _children(self, frame: _Frame) -> Iterator[DiscEntry | tuple[bytes, list[_Record]]]:
        """The children of a directory: (name, its records) of each, or, for
        a plain file of a Rock Ridge tree (most records of a session), its
        entry made at once by :meth:`_plain_file`."""
        session = self.session
        data = session.directory(frame.rec)
        quick = QUICK and session.rock_ridge and not self.joliet
        group: list[_Record] = []
        for pos, end in positions(data, session.start):
            if quick and not group and not data[pos + 25] & _F_NOT_PLAIN:
                entry = self._plain_file(data, pos, end)
                if entry is not None:
                    yield entry
                    continue
            rec = session.parse_at(data, pos, end)
            if rec is None:
                continue
            group.append(rec)
            if rec.flags & _F_MULTI_EXTENT:  # the next record is its next extent
                continue
            recs, group = group, []
            if (child := self._child(frame, recs)) is not None:
                yield child
        if group and (child := self._child(frame, group)) is not None:
            yield child

    def _child(self, frame: _Frame, recs: list[_Record]) -> tuple[bytes, list[_Record]] | None:
        """(name, records) of one child (a multi-extent file has several
        records), None for one not shown here."""
        first = recs[0]
        if first.rock and first.rock.relocated:
            self.reusable = False
            frame.relocated += 1  # shown where its CL placeholder is
            return None
        if first.flags & _F_ASSOCIATED:
            return None
        if first.rock and first.rock.child is not None:
            self.reusable = False
            real = self.session.directory_at(first.rock.child)
            real.rock, real.date = first.rock, first.date
            recs = [real]
        name = self._name(first).replace(b"/", b"_").replace(b"\0", b"_")
        if name in (b"", b".", b".."):
            log.debug("skipping a record with the unusable name %r", name)
            return None
        return name, recs

    def _plain_file(self, data: bytes, pos: int, end: int) -> DiscEntry | None:
        """The entry of the record at ``data[pos:end]`` when it is a file of
        one extent whose Rock Ridge entries are NM, PX and TF (and others
        that carry nothing cdfs shows); None for any other record, left to
        the general path (:meth:`_Session.parse_at`, :meth:`_child`,
        :meth:`_leaf`), whose results these are.  Most records of a session
        are such files: this makes each in one step."""
        id_len = data[pos + 32]
        i = pos + 33 + id_len + (1 - id_len % 2) + self.session.skip
        pieces: list[bytes] = []
        mode: int | None = None
        uid = gid = serial = 0
        nlink = 1
        times = _NO_TIMES
        while i + 4 <= end:
            sig, length = data[i : i + 2], data[i + 2]
            nxt = i + length
            if length < 4 or nxt > end or sig == b"ST":
                break
            if sig == b"NM":
                if length > 4 and not data[i + 4] & 0x06:
                    pieces.append(data[i + 5 : nxt])
            elif sig == b"PX":
                if length >= 36:
                    mode, nlink, uid, gid = _PX.unpack_from(data, i + 4)
                    if length >= 44:  # RRIP 1.12 4.1.1: the file serial number
                        serial = _U32.unpack_from(data, i + 36)[0]
                    else:
                        self.session.rrip_110 = True
            elif sig == b"TF":
                if times:
                    return None  # several TF entries: merged by the general path
                if length > 4:
                    times = tf_times(data[i + 4 : nxt])
            elif sig in _GENERAL_ONLY:
                return None
            i = nxt
        name = b"".join(pieces).replace(b"/", b"_").replace(b"\0", b"_")
        if name in (b"", b".", b".."):
            return None
        date = dr_date(data[pos + 18 : pos + 25]) or 0
        mtime = times.get(1) or date
        lba, size = _LBA_SIZE.unpack_from(data, pos + 2)
        extents = ((lba + data[pos + 1], size),) if size else ()
        if extents and self.session.end is not None:
            self.session.check_data(name, extents)
        perms = _DEFAULT_PERMS[Kind.FILE] if mode is None else stat.S_IMODE(mode)
        if serial > self.max_serial:
            self.max_serial = serial
        return DiscEntry(name, Kind.FILE, _S_IFREG | perms, uid, gid, nlink, size, mtime,
                         times.get(2) or mtime, times.get(3) or mtime, extents,
                         serial=serial)  # fmt: skip

    @staticmethod
    def _is_rr_moved(frame: _Frame) -> bool:
        """At the root: the directory Rock Ridge relocated deep directories
        into, hidden when it holds nothing else (whatever its name: a user's
        empty directory called rr_moved stays visible)."""
        return not frame.kids and frame.relocated > 0

    def _name(self, rec: _Record) -> bytes:
        if rec.rock is not None and rec.rock.name:
            return rec.rock.name
        name = rec.ident
        if self.joliet:
            name = name.decode("utf-16-be", "replace").encode()
        if not rec.is_dir:
            name = name.rsplit(b";", 1)[0]
            name = name[:-1] if name.endswith(b".") else name
        return name

    def _attrs(self, rec: _Record, kind: Kind) -> tuple[int, int, int, int, int, int, int]:
        """(mode, uid, gid, nlink, mtime, atime, ctime) of a record."""
        rock, date = rec.rock, rec.date or 0
        if rock is None:
            return kind.type_bits | _DEFAULT_PERMS[kind], 0, 0, 1, date, date, date
        perms = _DEFAULT_PERMS[kind] if rock.mode is None else stat.S_IMODE(rock.mode)
        times = rock.times
        mtime = times.get(1) or date
        atime = times.get(2) or mtime
        ctime = times.get(3) or mtime
        return kind.type_bits | perms, rock.uid, rock.gid, rock.nlink, mtime, atime, ctime

    def _dir(
        self, name: bytes, rec: _Record, kids: dict[bytes, DiscEntry], linked: bool
    ) -> DiscEntry:
        mode, uid, gid, _links, mtime, atime, ctime = self._attrs(rec, Kind.DIR)
        nlink = 2 + sum(e.kind is Kind.DIR for e in kids.values())
        children = MappingProxyType(dict(sorted(kids.items())))
        serial = self._serial(rec)
        where = 0 if linked or not self.reusable else rec.lba
        return DiscEntry(name, Kind.DIR, mode, uid, gid, nlink, rec.size, mtime, atime, ctime,
                         (), children=children, serial=serial, where=where)  # fmt: skip

    def _serial(self, rec: _Record) -> int:
        serial = rec.rock.serial if rec.rock is not None else 0
        if serial > self.max_serial:
            self.max_serial = serial
        return serial

    def _leaf(self, name: bytes, recs: list[_Record]) -> DiscEntry:
        first = recs[0]
        if first.rock is not None and first.rock.target is not None:
            target = first.rock.target
            mode, uid, gid, nlink, mtime, atime, ctime = self._attrs(first, Kind.SYMLINK)
            return DiscEntry(name, Kind.SYMLINK, mode, uid, gid, nlink, len(target),
                             mtime, atime, ctime, (), target=target,
                             serial=self._serial(first))  # fmt: skip
        mode, uid, gid, nlink, mtime, atime, ctime = self._attrs(first, Kind.FILE)
        extents: tuple[tuple[int, int], ...]
        if len(recs) == 1:  # most files
            size = first.size
            extents = ((first.lba, size),) if size else ()
        else:
            size = sum(r.size for r in recs)
            extents = tuple((r.lba, r.size) for r in recs if r.size)
        if extents and self.session.end is not None:
            self.session.check_data(name, extents)
        serial = self._serial(first)
        return DiscEntry(name, Kind.FILE, mode, uid, gid, nlink, size,
                         mtime, atime, ctime, extents, serial=serial)  # fmt: skip


def read_session(
    fp: BinaryIO, start: Lba, end: int | None = None, known: Known | None = None
) -> DiscEntry:
    """The root of the tree of the session whose volume descriptors are at
    ``start + 16``.  ``fp`` reads the disc: byte ``lba * 2048`` is sector
    ``lba``; ``end``, when known, is the first sector past the disc's
    written area.  ``known``: directories the session reused, by where
    their records are, whose trees are taken as read before (the session
    was verified byte for byte against its image, whose reused records are
    those trees' own).  Raises InvalidImageError when there is no readable
    session."""
    try:
        session = _Session(fp, start, end)
        if session.rock_ridge or session.joliet is None:
            return _Builder(session, session.root, joliet=False, known=known).tree()
        return _Builder(session, session.joliet, joliet=True).tree()
    except (struct.error, IndexError, UnicodeError) as e:
        raise InvalidImageError(f"the session at sector {start} is damaged ({e})") from e
