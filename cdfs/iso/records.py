"""The bytes of directory records, Rock Ridge (SUSP) entries and path table
records, as cdfs' sessions carry them.

This module owns encoding one record at a time, without building an object
per record: :mod:`cdfs.iso.streamwriter` lays a session out and writes it
directory by directory with these.  The bytes are exactly those pycdlib
1.22.0 writes for the records :mod:`cdfs.iso.sessioniso` makes (which
Rock Ridge entries go into the directory record and which into a
continuation area, where a long name is cut, the padding), so that a session
is the same whichever writes it (tests/test_streamwriter.py compares them
byte for byte).  References: ECMA-119 9.1 (directory records) and 9.4 (path
table records), SUSP 1.12 section 5, RRIP 1.12 section 4.

It does not decide names (:mod:`cdfs.iso.isonames`), cut symlink targets
(:mod:`cdfs.iso.rrlinks`) or lay anything out.
"""

from __future__ import annotations

import functools
import struct
from datetime import UTC, datetime, timedelta

from cdfs.iso import rrlinks
from cdfs.units import SECTOR_SIZE

RECORD_MAX = 254
"""Longest directory record pycdlib makes (its ALLOWED_DR_SIZE): an even
length, so that the padding byte still fits in 255."""

PX_LEN = 44
"""RRIP 1.12 4.1.1: PX with the file serial number."""
TF_LEN = 26
"""RRIP 4.1.6: TF with MODIFY, ACCESS and ATTRIBUTES, short form."""
CE_LEN = 28
SP_LEN = 7
NM_MAX = 250
"""Longest piece of a name in one NM entry."""

_TF_FLAGS = 0x0E
_ER_ID = b"IEEE_P1282"
_ER_DES = b"THE IEEE P1282 PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
_ER_SRC = (
    b"PLEASE CONTACT THE IEEE STANDARDS DEPARTMENT, PISCATAWAY, NJ, USA FOR THE P1282 SPECIFICATION"
)
ER = (
    b"ER"
    + struct.pack(
        "<BBBBBB",
        8 + len(_ER_ID) + len(_ER_DES) + len(_ER_SRC),
        1,
        len(_ER_ID),
        len(_ER_DES),
        len(_ER_SRC),
        1,
    )
    + _ER_ID
    + _ER_DES
    + _ER_SRC
)
"""RRIP 1.12 4.3: the ER entry announcing Rock Ridge (in the root's "."
record's continuation area)."""

SP = b"SP\x07\x01\xbe\xef\x00"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_RANGE = (-2_208_988_800, 5_869_584_000 - 1)
"""ECMA-119 9.1.5 dates: 1900-01-01 to 2155-12-31, in seconds since the epoch."""

MAX_EXTENT = 0xFFFFF800
"""Largest extent of one directory record (:data:`cdfs.iso.mastering.MAX_EXTENT`)."""

F_DIR = 0x02
F_MULTI_EXTENT = 0x80

_LE32 = struct.Struct("<L").pack
_BE32 = struct.Struct(">L").pack
# Both-endian fields (ECMA-119 7.2.3, 7.3.3) are packed as a little endian
# number and the bytes of the big endian one: one ``pack`` call for the
# big endian half is twice as quick as swapping the number's bytes.


def both32(n: int) -> bytes:
    """ECMA-119 7.3.3: little then big endian."""
    return _LE32(n) + _BE32(n)


@functools.lru_cache(maxsize=8192)
def date(seconds: int) -> bytes:
    """ECMA-119 9.1.5: a directory record date (UTC, clamped to its range)."""
    t = _EPOCH + timedelta(seconds=min(max(seconds, _DATE_RANGE[0]), _DATE_RANGE[1]))
    return bytes((t.year - 1900, t.month, t.day, t.hour, t.minute, t.second, 0))


def date_ns(ns: int) -> bytes:
    return date(ns // 1_000_000_000)


_PX = struct.Struct("<2sBBL4sL4sL4sL4sL4s")


def px(mode: int, nlink: int, uid: int, gid: int, serial: int) -> bytes:
    be = _BE32
    return _PX.pack(b"PX", PX_LEN, 1, mode, be(mode), nlink, be(nlink), uid, be(uid),
                    gid, be(gid), serial, be(serial))  # fmt: skip


@functools.lru_cache(maxsize=8192)
def tf(modified: bytes, accessed: bytes) -> bytes:
    """TF with MODIFY, ACCESS and ATTRIBUTES (the last one the modification time)."""
    return b"TF\x1a\x01\x0e" + modified + accessed + modified


def ce(extent: int, offset: int, length: int) -> bytes:
    return b"CE\x1c\x01" + both32(extent) + both32(offset) + both32(length)


def nm(name: bytes, flags: int = 0) -> bytes:
    return b"NM" + bytes((5 + len(name), 1, flags)) + name


def sl(body: bytes) -> bytes:
    return b"SL" + bytes((4 + len(body), 1)) + body


_DR = struct.Struct("<BBL4sL4s7sBBBH2sB")
_SEQ = struct.Struct(">H").pack


def record(
    extent: int, length: int, when: bytes, flags: int, ident: bytes, su: bytes = b"", seq: int = 1
) -> bytes:
    """ECMA-119 9.1: one directory record; ``su`` its system use area."""
    n = len(ident)
    size = 33 + n + (~n & 1) + len(su)  # the identifier padded to an even length
    odd = size & 1
    be = _BE32
    head = _DR.pack(size + odd, 0, extent, be(extent), length, be(length), when,
                    flags, 0, 0, seq, _SEQ(seq), n)  # fmt: skip
    return b"".join((head, ident, _PAD[~n & 1], su, _PAD[odd]))


_PAD = (b"", b"\x00")


def base_length(ident_length: int) -> int:
    """Length of a directory record before its system use area."""
    head = 33 + ident_length
    return head + head % 2


# -- Rock Ridge entries: which go where ---------------------------------------------


class Susp:
    """The Rock Ridge entries of one record, placed as pycdlib places them:
    ``here`` in the directory record, ``there`` in its continuation area
    (None: it has none).  ``length`` is the record's whole length."""

    __slots__ = ("here", "length", "there")

    def __init__(self, here: list[bytes], there: list[bytes] | None, length: int) -> None:
        self.here, self.there, self.length = here, there, length

    def area_length(self) -> int:
        return sum(map(len, self.there)) if self.there is not None else 0


def place(
    ident_length: int,
    name: bytes,
    px_entry: bytes,
    tf_entry: bytes,
    *,
    target: bytes = b"",
    fixed_first: bool = False,
    root: bool = False,
) -> Susp:
    """Place the entries of a record: SP (root's "." only), NM, PX, SL, TF,
    ER (root's "." only) in that order, each in the record while it fits,
    else -- once one does not -- all over again with a CE entry, the ones
    that do not fit going on into the continuation area.  ``fixed_first``
    (directories): the name leaves room for PX and TF (see
    :class:`cdfs.iso.rockridge._FixedFieldsFirst`)."""
    start = base_length(ident_length)
    got = _assign(start, False, name, px_entry, tf_entry, target, fixed_first, root)
    if got is None:
        got = _assign(start + CE_LEN, True, name, px_entry, tf_entry, target, fixed_first, root)
        assert got is not None
    return got


def _assign(
    curr: int,
    with_ce: bool,
    name: bytes,
    px_entry: bytes,
    tf_entry: bytes,
    target: bytes,
    fixed_first: bool,
    root: bool,
) -> Susp | None:
    here: list[bytes] = []
    there: list[bytes] = []

    def put(entry: bytes) -> bool:
        nonlocal curr
        if curr + len(entry) > RECORD_MAX:
            if not with_ce:
                return False
            there.append(entry)
        else:
            curr += len(entry)
            here.append(entry)
        return True

    if root and not put(SP):
        return None
    if name:
        kept = (PX_LEN + TF_LEN) if fixed_first else 0
        room = RECORD_MAX - (curr + kept) - 5
        if room < len(name):
            if not with_ce:
                return None
            room = max(room, 0)
        pieces = []
        if room > 0:
            pieces.append((name[:room], True))
        at = room
        while at < len(name):
            n = min(len(name) - at, NM_MAX)
            pieces.append((name[at : at + n], False))
            at += n
        for i, (piece, in_record) in enumerate(pieces):
            entry = nm(piece, 1 if i < len(pieces) - 1 else 0)
            if in_record:
                curr += len(entry)
                here.append(entry)
            else:
                there.append(entry)
    if not put(px_entry):
        return None
    if target:
        got = _symlink(curr, with_ce, target, here, there)
        if got is None:
            return None
        curr = got
    if not put(tf_entry):
        return None
    if root and not put(ER):
        return None
    if with_ce:
        here.append(
            b""
        )  # the CE entry (counted in ``curr`` from the start), made once the area has its place
    curr += curr % 2
    return Susp(here, there if with_ce else None, curr)


def _symlink(
    curr: int, with_ce: bool, target: bytes, here: list[bytes], there: list[bytes]
) -> int | None:
    """:meth:`cdfs.iso.rockridge.ExactSymlinks._new_symlink`."""
    room = RECORD_MAX - curr - rrlinks.HEADER
    whole = rrlinks.entries(target)
    if len(whole) == 1 and len(whole[0]) - 1 <= room:
        bodies, in_record = whole, 1
    elif not with_ce:
        return None
    elif room >= 4:
        bodies, in_record = rrlinks.entries(target, room), 1
    else:
        bodies, in_record = whole, 0
    for i, body in enumerate(bodies):
        entry = sl(body)
        if i < in_record:
            here.append(entry)
            curr += len(entry)
        else:
            there.append(entry)
    return curr


def susp_bytes(susp: Susp, ce_at: tuple[int, int] | None) -> bytes:
    """The system use area of a record, its CE entry pointing at ``ce_at``
    (extent, offset) of an area of :meth:`Susp.area_length` bytes."""
    if susp.there is None:
        return b"".join(susp.here)
    assert ce_at is not None
    return b"".join(susp.here[:-1]) + ce(ce_at[0], ce_at[1], susp.area_length())


# -- directories' sectors ---------------------------------------------------------------


class Packer:
    """Counts the blocks records (or areas) take: none crosses a sector."""

    __slots__ = ("blocks", "used")

    def __init__(self) -> None:
        self.blocks, self.used = 0, SECTOR_SIZE

    def add(self, length: int) -> None:
        if self.used + length > SECTOR_SIZE:
            self.blocks += 1
            self.used = 0
        self.used += length

    @property
    def size(self) -> int:
        return self.blocks * SECTOR_SIZE


class Block:
    """The records of one directory, packed into its sectors when it is
    finished (none crosses a sector)."""

    __slots__ = ("add", "records")

    def __init__(self, _extent: int) -> None:
        self.records: list[bytes] = []
        self.add = self.records.append
        """Add a record (the list's own append: no call of ours per record)."""

    def finish(self, size: int) -> bytes:
        parts: list[bytes] = []
        used = 0
        for rec in self.records:
            if used + len(rec) > SECTOR_SIZE:
                parts.append(bytes(SECTOR_SIZE - used))
                used = 0
            parts.append(rec)
            used += len(rec)
        out = b"".join(parts)
        return out + bytes(size - len(out))


class Areas:
    """The continuation areas of one directory's records, in blocks right
    after it: each in the last block while it fits, else in a new one."""

    __slots__ = ("blocks", "first", "used")

    def __init__(self, first: int) -> None:
        self.first = first
        self.blocks: list[bytearray] = []
        self.used = 0

    def add(self, body: bytes) -> tuple[int, int]:
        if not self.blocks or len(self.blocks[-1]) + len(body) > SECTOR_SIZE:
            self.blocks.append(bytearray())
        block = self.blocks[-1]
        at = len(block)
        block += body
        return self.first + len(self.blocks) - 1, at

    def finish(self) -> bytes:
        return b"".join(bytes(b).ljust(SECTOR_SIZE, b"\x00") for b in self.blocks)


# -- path tables ----------------------------------------------------------------------


def path_record(ident: bytes, extent: int, parent: int, *, big: bool) -> bytes:
    """ECMA-119 9.4: one path table record."""
    fmt = ">BBLH" if big else "<BBLH"
    pad = b"\x00" if len(ident) % 2 else b""
    return struct.pack(fmt, len(ident), 0, extent, parent) + ident + pad


def path_record_length(ident_length: int) -> int:
    return 8 + ident_length + ident_length % 2


def pt_sectors(size: int) -> int:
    """pycdlib allocates a path table in pairs of sectors."""
    blocks = -(-size // SECTOR_SIZE)
    return (blocks + 1) // 2 * 2


_PLACED: dict[tuple[int, int, int, bool], Susp] = {}
_PX0 = bytes(PX_LEN)
_TF0 = bytes(TF_LEN)


def placed(ident_length: int, name: bytes, target: bytes, is_dir: bool) -> Susp:
    """The placement of a record's entries, for its lengths (cached by the
    lengths that decide it, but for symlinks)."""
    if target:
        return place(ident_length, name, _PX0, _TF0, target=target)
    key = (ident_length, len(name), 0, is_dir)
    got = _PLACED.get(key)
    if got is None:
        got = _PLACED[key] = place(ident_length, name, _PX0, _TF0, fixed_first=is_dir)
    return got
