"""Directories of the last session, copied into the next one as they are.

This module owns the records side of reusing directories
(:mod:`cdfs.iso.reuse` decides which): finding the directories below one
directory of the last session by its records (:func:`scan`), and writing a
copy of a directory's records at its new place with what points at other
directories changed (:func:`copy`): its "." and ".." records and the
records of its subdirectories.  Everything else is copied byte for byte:
names, dates, Rock Ridge entries (their continuation areas stay where the
last session put them, on the disc), and the extents of files, which are on
the disc already.

A directory's records are read from the disc twice, when scanned and when
copied, so that only a few numbers per directory are held meanwhile.  One
that is not what it should be (a record crossing a sector, a directory with
extended attributes or several extents, a loop, a ".." that is not second)
makes :func:`scan` give up, and the directory is then written anew from its
entries instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from cdfs.errors import InvalidImageError
from cdfs.iso.isofields import positions
from cdfs.units import SECTOR_SIZE, sectors_for

_F_DIR, _F_MULTI_EXTENT = 0x02, 0x80
_MAX_DIR_BYTES = 64 << 20
_LE, _BE = struct.Struct("<I"), struct.Struct(">I")
LBA_SIZE = struct.Struct("<I4xI")


@dataclass(eq=False, slots=True)
class OldDir:
    """One directory of the last session, in its ISO 9660 or Joliet tree."""

    lba: int
    size: int
    ident: bytes
    """Its identifier in its parent (as its path table record shows it)."""
    subdirs: list[OldDir] = field(default_factory=list)
    """Its subdirectories, in record order."""
    spots: list[int] = field(default_factory=list)
    """Where the record of each subdirectory starts in its records."""
    key: tuple[bytes, ...] = ()
    """Its key in the writer's tables (:class:`cdfs.iso.streamwriter.StreamWriter`)."""
    new: int = 0
    """The sector it is written at in the next session."""

    def walk(self) -> list[OldDir]:
        """This directory and all below it, parents first."""
        out, at = [self], 0
        while at < len(out):
            out.extend(out[at].subdirs)
            at += 1
        return out


def read_dir(fp: BinaryIO, lba: int, size: int) -> bytes | None:
    """The records of the directory at ``lba``; None when it cannot be read
    whole (beyond the end of the disc, or larger than any real directory)."""
    if size > _MAX_DIR_BYTES or size <= 0:
        return None
    try:
        fp.seek(lba * SECTOR_SIZE)
        data = fp.read(size)
    except OSError:
        return None
    return data if len(data) == size else None


def records(data: bytes) -> list[tuple[int, bytes]] | None:
    """(position, identifier) of each directory record of a directory
    (".", "..", subdirectories; files are passed over), checked for
    records that cross a sector or are cut short; None if any does."""
    out: list[tuple[int, bytes]] = []
    try:
        for pos, end in positions(data, 0):
            if (end - 1) // SECTOR_SIZE != pos // SECTOR_SIZE:
                return None
            if data[pos + 25] & _F_DIR:
                out.append((pos, data[pos + 33 : pos + 33 + data[pos + 32]]))
    except InvalidImageError:
        return None
    return out


def scan(fp: BinaryIO, lba: int, size: int, ident: bytes) -> OldDir | None:
    """The directory at ``lba`` and every directory below it; None when one
    of them cannot be copied as it is (see the module)."""
    top = OldDir(lba, size, ident)
    seen = {lba}
    todo = [top]
    while todo:
        d = todo.pop()
        data = read_dir(fp, d.lba, d.size)
        found = None if data is None else records(data)
        if data is None or found is None or len(found) < 2:
            return None
        (dot, dot_id), (up, up_id) = found[0], found[1]
        if (
            dot != 0
            or up != data[0]
            or dot_id != b"\x00"
            or up_id != b"\x01"
            or not _plain(data, 0)
        ):
            return None
        if LBA_SIZE.unpack_from(data, 2)[0] != d.lba:
            return None
        for pos, sub_id in found[2:]:
            if sub_id in (b"\x00", b"\x01") or not _plain(data, pos):
                return None
            sub_lba, sub_size = LBA_SIZE.unpack_from(data, pos + 2)
            if sub_lba in seen:
                return None
            seen.add(sub_lba)
            sub = OldDir(sub_lba, sub_size, sub_id)
            d.subdirs.append(sub)
            d.spots.append(pos)
            todo.append(sub)
    return top


def _plain(data: bytes, pos: int) -> bool:
    """A directory record of one extent, no extended attributes, not interleaved."""
    return not (
        data[pos + 1] or data[pos + 25] & _F_MULTI_EXTENT or data[pos + 26 : pos + 28] != b"\0\0"
    )


def copy(fp: BinaryIO, d: OldDir, parent: tuple[int, int]) -> bytes:
    """The records of ``d`` at its new place (``d.new``), its ".." record
    pointing at ``parent`` (new sector, size), its subdirectories' records
    at theirs; whole sectors.  Raises OSError when the disc no longer reads
    as when it was scanned."""
    data = read_dir(fp, d.lba, d.size)
    if data is None or LBA_SIZE.unpack_from(data, 2)[0] != d.lba:
        raise OSError(f"the directory at sector {d.lba} of the disc changed while mastering")
    out = bytearray(data)
    _point(out, 0, d.new, d.size)
    _point(out, data[0], *parent)
    for pos, sub in zip(d.spots, d.subdirs, strict=True):
        if LBA_SIZE.unpack_from(data, pos + 2)[0] != sub.lba:
            raise OSError(f"the directory at sector {d.lba} of the disc changed while mastering")
        _point(out, pos, sub.new, sub.size)
    out.extend(bytes(sectors_for(d.size) * SECTOR_SIZE - d.size))
    return bytes(out)


def _point(out: bytearray, pos: int, lba: int, size: int) -> None:
    """Set a record's extent (ECMA-119 9.1.3 and 9.1.4, both byte orders)."""
    _LE.pack_into(out, pos + 2, lba)
    _BE.pack_into(out, pos + 6, lba)
    _LE.pack_into(out, pos + 10, size)
    _BE.pack_into(out, pos + 14, size)
