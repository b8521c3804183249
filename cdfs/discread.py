"""Reading sessions back: the tree of one ISO 9660 session as DiscEntry records.

This module owns parsing the session that starts at a given sector of a disc
(or disc image) and describing its files the way the rest of cdfs sees them:
names from Rock Ridge, else Joliet, else ISO 9660; modes, owners and times
from Rock Ridge PX/TF, else read-only defaults and the directory record date;
symlinks from Rock Ridge SL; multi-extent files as one file with several
extents; Rock Ridge relocation undone.  Extents are absolute sectors, so the
view reads file data straight from the disc.

It does not read the table of contents (the recorders do), file data (the
view does) or write anything (:mod:`cdfs.mastering`).

pycdlib parses.  It always reads the volume descriptors at sector 16; a later
session's descriptors are at its start + 16, so :class:`_SessionReader` shows
pycdlib those sectors there and passes every other read through unchanged
(every extent in the session is absolute).
"""

from __future__ import annotations

import logging
import stat
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, BinaryIO, cast

import pycdlib
from pycdlib import pycdlibexception

from .errors import InvalidImageError, MediaError
from .mastering import Kind, susp_entry
from .media import DiscInfo
from .units import SECTOR_SIZE, Lba

__all__ = ["DiscEntry", "Kind", "read_session", "read_tree", "walk"]

log = logging.getLogger(__name__)

_EMPTY: Mapping[bytes, DiscEntry] = MappingProxyType({})
_VD_START = 16
_VD_TYPES = (0, 1, 2, 255)
_VD_IDENTS = (b"CD001", b"CDW02", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2")
_MULTI_EXTENT = 0x80
"""ECMA-119 9.1.6 file flag bit 7: another record of this file follows."""
_RR_MOVED_NAMES = (b"rr_moved", b".rr_moved", b"RR_MOVED")


@dataclass(frozen=True, eq=False)
class DiscEntry:
    """One file, directory or symlink of a session (the root has name b"")."""

    name: bytes
    kind: Kind
    mode: int
    """Full st_mode, type bits included."""
    uid: int
    gid: int
    nlink: int
    size: int
    mtime_ns: int
    atime_ns: int
    ctime_ns: int
    extents: tuple[tuple[int, int], ...]
    """(absolute LBA, byte length) of a file's data, in order."""
    target: bytes = b""
    children: Mapping[bytes, DiscEntry] = field(default_factory=lambda: _EMPTY)
    """Directories: entries by the name shown to the user."""


# -- pointing pycdlib at a session ---------------------------------------------


class _SessionReader:
    """A reader for pycdlib: the system area and volume descriptors of the
    session at ``start`` appear at sectors 0..16+n, everything else is the
    disc itself."""

    mode = "rb"

    def __init__(self, fp: BinaryIO, start: int) -> None:
        self._fp, self._shift, self._pos = fp, start * SECTOR_SIZE, 0
        self._end = (_VD_START + self._count_descriptors() + 1) * SECTOR_SIZE if start else 0

    def _count_descriptors(self) -> int:
        """How many sectors pycdlib will read as descriptors (it stops at the
        first sector that is not one); raises for a session without any."""
        n = 0
        while True:
            self._fp.seek(self._shift + (_VD_START + n) * SECTOR_SIZE)
            head = self._fp.read(6)
            if len(head) < 6 or head[0] not in _VD_TYPES or head[1:6] not in _VD_IDENTS:
                break
            n += 1
        if n == 0:
            sector = self._shift // SECTOR_SIZE + _VD_START
            raise InvalidImageError(f"no ISO 9660 volume descriptor at sector {sector}")
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            offset += self._fp.seek(0, 2)
        elif whence == 1:
            offset += self._pos
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = max(0, self._fp.seek(0, 2) - self._pos)
        out = b""
        if self._pos < self._end:
            here = min(n, self._end - self._pos)
            self._fp.seek(self._pos + self._shift)
            out = self._fp.read(here)
            self._pos += len(out)
            n -= len(out)
            if len(out) < here:
                return out
        if n > 0:
            self._fp.seek(self._pos)
            more = self._fp.read(n)
            self._pos += len(more)
            out += more
        return out


def _open(fp: BinaryIO, start: int) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(cast(BinaryIO, _SessionReader(fp, start)))
    except (
        pycdlibexception.PyCdlibException,
        KeyError,
        IndexError,
        ValueError,
        struct.error,
        UnicodeError,
    ) as e:
        raise InvalidImageError(
            f"the session at sector {start} is not readable ISO 9660: {e}"
        ) from e
    except OSError as e:
        raise MediaError(f"cannot read the session at sector {start}: {e}") from e
    return iso


# -- dates ----------------------------------------------------------------------


def _date_ns(d: Any) -> int | None:
    """Nanoseconds since the epoch of a pycdlib directory record date
    (ECMA-119 9.1.5) or volume descriptor style date (8.4.26.1); None when
    unset or invalid."""
    if d is None:
        return None
    if hasattr(d, "years_since_1900"):
        fields = (d.years_since_1900 + 1900, d.month, d.day_of_month, d.hour, d.minute, d.second)
        hundredths = 0
    else:
        fields = (d.year, d.month, d.dayofmonth, d.hour, d.minute, d.second)
        hundredths = d.hundredthsofsecond
    try:
        tz = timezone(timedelta(minutes=15 * d.gmtoffset))
        t = datetime(*fields, tzinfo=tz)
    except (ValueError, TypeError, OverflowError):
        return None
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + hundredths * 10**7


# -- turning records into entries -----------------------------------------------


def _groups(recs: list[Any]) -> Iterator[list[Any]]:
    """Directory records grouped by file: a multi-extent file has several."""
    group: list[Any] = []
    for rec in recs:
        group.append(rec)
        if not rec.file_flags & _MULTI_EXTENT:
            yield group
            group = []
    if group:
        yield group


def _iso_name(rec: Any) -> bytes:
    name: bytes = rec.file_identifier()
    if not rec.is_dir():
        name = name.rsplit(b";", 1)[0]
        name = name[:-1] if name.endswith(b".") else name
    return name


def _joliet_name(rec: Any) -> bytes:
    name = _iso_name(rec).decode("utf-16-be", "replace")
    return name.encode("utf-8", "surrogateescape")


def _clean(name: bytes) -> bytes:
    """A name that can be shown as a path component."""
    return name.replace(b"/", b"_").replace(b"\0", b"_")


class _Converter:
    """Builds DiscEntry trees from one parsed session, through one of its
    trees: Rock Ridge (``rr``), Joliet or plain ISO 9660."""

    def __init__(self, rr: bool, joliet: bool) -> None:
        self.rr, self.joliet = rr, joliet

    def tree(self, root: Any) -> DiscEntry:
        # Iterative post-order, so that deep trees need no recursion and each
        # directory is made once its children (and link count) are known.
        frames: list[tuple[bytes, Any, Iterator[tuple[bytes, list[Any]]], dict[bytes, DiscEntry]]]
        frames = [(b"", root, self._children(root, True), {})]
        while True:
            name, rec, it, kids = frames[-1]
            child = next(it, None)
            if child is None:
                frames.pop()
                entry = self._dir(name, rec, kids)
                if not frames:
                    return entry
                frames[-1][3][name] = entry
                continue
            cname, recs = child
            real = self._moved(recs[0])
            if real is not None or recs[0].is_dir():
                target = real if real is not None else recs[0]
                frames.append((cname, target, self._children(target, False), {}))
            else:
                kids[cname] = self._leaf(cname, recs)

    def _children(self, dir_rec: Any, is_root: bool) -> Iterator[tuple[bytes, list[Any]]]:
        for recs in _groups(dir_rec.children[2:]):
            first = recs[0]
            if first.is_associated_file():
                continue
            rr = first.rock_ridge if self.rr else None
            if rr is not None and rr.relocated_record():
                continue  # shown where its CL placeholder is
            if is_root and self.rr and self._is_rr_moved(first):
                continue
            name = _clean(self._name(first))
            if name in (b"", b".", b".."):
                log.debug("skipping a record with an unusable name %r", name)
                continue
            yield name, recs

    def _name(self, rec: Any) -> bytes:
        if self.rr and rec.rock_ridge is not None:
            name: bytes = rec.rock_ridge.name()
            if name:
                return name
        return _joliet_name(rec) if self.joliet else _iso_name(rec)

    def _moved(self, rec: Any) -> Any:
        """The real directory of a Rock Ridge CL placeholder, or None."""
        rr = rec.rock_ridge if self.rr else None
        if rr is None or not rr.child_link_record_exists():
            return None
        return rr.cl_to_moved_dr

    def _is_rr_moved(self, rec: Any) -> bool:
        """The directory Rock Ridge relocated deep directories into."""
        if not rec.is_dir() or self._moved(rec) is not None:
            return False
        kids = rec.children[2:]
        if not kids:
            return self._name(rec) in _RR_MOVED_NAMES or _iso_name(rec) in _RR_MOVED_NAMES
        return all(k.rock_ridge is not None and k.rock_ridge.relocated_record() for k in kids)

    def _attrs(self, rec: Any, kind: Kind) -> tuple[int, int, int, int, int, int, int]:
        """(mode, uid, gid, nlink, mtime, atime, ctime) of a record."""
        default = {Kind.DIR: 0o555, Kind.FILE: 0o444, Kind.SYMLINK: 0o777}[kind]
        perm, uid, gid, nlink = default, 0, 0, 1
        date = _date_ns(rec.date) or 0
        mtime = atime = ctime = date
        if self.rr and rec.rock_ridge is not None:
            px, tf = susp_entry(rec, "px_record"), susp_entry(rec, "tf_record")
            if px is not None:
                perm = stat.S_IMODE(px.posix_file_mode)
                uid, gid, nlink = px.posix_user_id, px.posix_group_id, px.posix_file_links
            if tf is not None:
                # RRIP 4.1.6: bit 1 is MODIFY, bit 2 ACCESS; pycdlib swaps the names.
                mtime = _date_ns(tf.access_time) or date
                atime = _date_ns(tf.modification_time) or mtime
                ctime = _date_ns(tf.attribute_change_time) or mtime
        mode = {Kind.DIR: stat.S_IFDIR, Kind.FILE: stat.S_IFREG, Kind.SYMLINK: stat.S_IFLNK}[kind]
        return mode | perm, uid, gid, nlink, mtime, atime, ctime

    def _dir(self, name: bytes, rec: Any, kids: dict[bytes, DiscEntry]) -> DiscEntry:
        mode, uid, gid, _n, mtime, atime, ctime = self._attrs(rec, Kind.DIR)
        nlink = 2 + sum(e.kind is Kind.DIR for e in kids.values())
        children = MappingProxyType(dict(sorted(kids.items())))
        return DiscEntry(
            name,
            Kind.DIR,
            mode,
            uid,
            gid,
            nlink,
            rec.get_data_length(),
            mtime,
            atime,
            ctime,
            (),
            children=children,
        )

    def _leaf(self, name: bytes, recs: list[Any]) -> DiscEntry:
        first = recs[0]
        rr = first.rock_ridge if self.rr else None
        if rr is not None and rr.is_symlink():
            target: bytes = rr.symlink_path()
            mode, uid, gid, nlink, mtime, atime, ctime = self._attrs(first, Kind.SYMLINK)
            return DiscEntry(
                name,
                Kind.SYMLINK,
                mode,
                uid,
                gid,
                nlink,
                len(target),
                mtime,
                atime,
                ctime,
                (),
                target=target,
            )
        mode, uid, gid, nlink, mtime, atime, ctime = self._attrs(first, Kind.FILE)
        extents = tuple((r.extent_location(), r.get_data_length()) for r in recs)
        size = sum(n for _lba, n in extents)
        return DiscEntry(
            name,
            Kind.FILE,
            mode,
            uid,
            gid,
            nlink,
            size,
            mtime,
            atime,
            ctime,
            tuple(x for x in extents if x[1]),
        )


def read_session(fp: BinaryIO, start: Lba) -> DiscEntry:
    """The root of the tree of the session whose volume descriptors are at
    ``start + 16``.  ``fp`` reads the disc: byte ``lba * 2048`` is sector
    ``lba``.  Raises InvalidImageError when there is no readable session."""
    iso = _open(fp, start)
    try:
        conv = _Converter(rr=bool(iso.rock_ridge), joliet=iso.joliet_vd is not None)
        vd = iso.pvd if conv.rr or iso.joliet_vd is None else iso.joliet_vd
        return conv.tree(vd.root_directory_record())
    except (pycdlibexception.PyCdlibException, KeyError, IndexError, ValueError, UnicodeError) as e:
        raise InvalidImageError(f"the session at sector {start} is damaged: {e}") from e
    finally:
        iso.close()


def read_tree(fp: BinaryIO, info: DiscInfo) -> DiscEntry | None:
    """The tree of the last session of a disc, or None when it is blank."""
    last = info.last_session
    if last is None:
        return None
    return read_session(fp, last.start)


def walk(root: DiscEntry) -> Iterator[tuple[tuple[bytes, ...], DiscEntry]]:
    """Every entry below ``root`` with its path, parents before children,
    siblings in name order."""
    todo: list[tuple[tuple[bytes, ...], DiscEntry]] = [
        ((name,), e) for name, e in sorted(root.children.items(), reverse=True)
    ]
    while todo:
        path, e = todo.pop()
        yield path, e
        todo.extend(((*path, name), c) for name, c in sorted(e.children.items(), reverse=True))
