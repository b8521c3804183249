"""pycdlib (pinned to 1.22.0) placed at an absolute sector, its directory
records made directly under the parent records the caller holds.

This module owns every use of pycdlib internals in cdfs outside the Rock
Ridge layout rules of its base class (:class:`cdfs.iso.rockridge.RockRidgeLayout`):

- layout from sector ``start + 16`` instead of 16 (:meth:`SessionIso._layout_globals`);
- the records of files and symlinks made under their parent's record
  (:meth:`SessionIso.iso_file`, :meth:`SessionIso.joliet_file`): pycdlib's
  public API takes a path for each one, parses it and looks every parent up
  again, which was most of the time of mastering a large tree;
- records without data (files kept from earlier sessions, empty files) and
  Joliet records linked to the ISO record's data;
- times, owners and modes set as a record is made, instead of pycdlib's
  "now" (its public API has no way to give them); one date object per
  distinct second, and one Rock Ridge PX, TF and RR entry per distinct
  value, shared by the file records that have it and encoded once;
- a session's records let go of when it is disposed of (pycdlib's close()
  keeps them), so that the collector frees them at once;
- Joliet's 64-character limit counted in characters, not UTF-8 bytes;
- a Joliet volume id of its own (pycdlib writes the ISO one in both).

Directories are still added through pycdlib's API (by path): they are few,
and it handles Rock Ridge relocation.  The caller adds each directory's
children in the order of the tree being built (ISO identifiers, Joliet
names), so that pycdlib appends instead of inserting.

It does not decide names (:mod:`cdfs.iso.isonames`) or what goes into a session
(:mod:`cdfs.iso.mastering`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Protocol, cast

import pycdlib.dr
import pycdlib.inode
from pycdlib import dates as pycdlib_dates
from pycdlib import rockridge as pycdlib_rockridge
from pycdlib import utils as pycdlib_utils

from cdfs.iso import rockridge
from cdfs.units import SECTOR_SIZE, sectors_for

_VD_START = 16
"""ECMA-119 6.2.1: the volume descriptors follow the 16-sector system area."""

_RR_VERSION = "1.12"
"""RRIP 1.12: its PX entries carry a file serial number (st_ino), which is
how readers (libisofs, libarchive) tell hard links apart from copies."""


class Stat(Protocol):
    """What a record shows of an entry (:class:`cdfs.iso.mastering.MasterEntry`)."""

    @property
    def st_mode(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def atime_ns(self) -> int: ...


# -- dates ---------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_RANGE = (-2_208_988_800, 5_869_584_000 - 1)
"""ECMA-119 9.1.5 dates: 1900-01-01 to 2155-12-31, in seconds since the epoch."""


class _Date(pycdlib_dates.DirectoryRecordDate):
    """A directory record date (whole seconds, UTC) that encodes itself once:
    one is shared by every record with that second."""

    __slots__ = ("_encoded",)
    _encoded: bytes

    def record(self) -> bytes:
        return self._encoded


def _new_date(seconds: int) -> _Date:
    t = _EPOCH + timedelta(seconds=min(max(seconds, _DATE_RANGE[0]), _DATE_RANGE[1]))
    d = cast(_Date, _Date.from_fields(t.year - 1900, t.month, t.day, t.hour, t.minute, t.second, 0))
    d._encoded = pycdlib_dates.DirectoryRecordDate.record(d)
    return d


class _Dates(dict[int, _Date]):
    """Dates by second, made once each (many files share their times)."""

    def __missing__(self, seconds: int) -> _Date:
        d = self[seconds] = _new_date(seconds)
        return d

    def of(self, ns: int) -> _Date:
        return self[ns // 1_000_000_000]


class _Unset:
    """The date pycdlib makes from "now" for a new record: not computed, as
    the record gets its own at once (:meth:`SessionIso._stamp`); writing one
    that did not would fail."""

    __slots__ = ()

    def new(self, _seconds: float) -> None:
        pass


_UNSET = _Unset()
_no_dates = rockridge.module_with(pycdlib_dates, DirectoryRecordDate=lambda: _UNSET)


class _UndatedTF(pycdlib_rockridge.RRTFRecord):
    __slots__ = ()
    new = rockridge.with_globals(pycdlib_rockridge.RRTFRecord.new, dates=_no_dates)


class _UndatedRockRidge(rockridge.ExactSymlinks):
    __slots__ = ()
    _assign_entries = rockridge.with_globals(
        pycdlib_rockridge.RockRidge._assign_entries, RRTFRecord=_UndatedTF
    )


class _Record(pycdlib.dr.DirectoryRecord):
    """pycdlib's directory record, made without its dates (see :class:`_Unset`)."""

    __slots__ = ()

    _new = rockridge.with_globals(pycdlib.dr.DirectoryRecord._new, dates=_no_dates)
    _rr_new = rockridge.with_globals(
        pycdlib.dr.DirectoryRecord._rr_new,
        rockridge=rockridge.module_with(pycdlib_rockridge, RockRidge=_UndatedRockRidge),
    )


_NOTHING = ()


def _compact(rec: Any) -> None:
    """Share one empty tuple for the lists a file's record holds empty and
    nobody adds to once it is made (children, Rock Ridge entries it does not
    have, continuation areas): a dozen lists per file otherwise."""
    rec.children = rec.rr_children = rec._subdir_children = _NOTHING
    rr = rec.rock_ridge
    if rr is None:
        return
    if not rr.ce_areas:
        rr.ce_areas = _NOTHING
    for entries in (rr.dr_entries, rr.ce_entries):
        if entries is not None:
            if not entries.es_records:
                entries.es_records = _NOTHING
            if not entries.sl_records:
                entries.sl_records = _NOTHING
            if not entries.pd_records:
                entries.pd_records = _NOTHING
            if not entries.al_records:
                entries.al_records = _NOTHING
            if not entries.nm_records:
                entries.nm_records = _NOTHING


def _rr_name(rec: Any) -> bytes:
    name: bytes = rec.rock_ridge.name()
    return name


class _SharedPX(pycdlib_rockridge.RRPXRecord):
    """A PX entry (mode, owner, link count, serial number) shared by the
    records of one file (its names and extents), encoded once.  Files' PX
    entries are never changed once made (only directories count links)."""

    __slots__ = ("_encoded",)
    _encoded: bytes

    def record(self, rr_version: str) -> bytes:
        if rr_version != _RR_VERSION:
            return super().record(rr_version)
        return self._encoded


class _SharedTF(pycdlib_rockridge.RRTFRecord):
    """A TF entry shared by every file and symlink record with these times."""

    __slots__ = ("_encoded",)
    _encoded: bytes

    def record(self) -> bytes:
        return self._encoded


class _SharedRR(pycdlib_rockridge.RRRRRecord):
    """An RR entry (which entries a record has) shared by records alike."""

    __slots__ = ("_encoded",)
    _encoded: bytes

    def record(self) -> bytes:
        return self._encoded


class _Shared:
    """The shared PX, TF and RR entries of a session, by value."""

    def __init__(self) -> None:
        self._tf: dict[tuple[int, int, int], _SharedTF] = {}
        self._rr: dict[int, _SharedRR] = {}

    @staticmethod
    def px(mode: int, uid: int, gid: int, nlink: int, serial: int) -> _SharedPX:
        """A PX entry for one file (every file has a serial number of its own)."""
        px = _SharedPX()
        px.new(mode)
        px.posix_user_id, px.posix_group_id = uid, gid
        px.posix_file_links, px.posix_serial_number = nlink, serial
        px._encoded = pycdlib_rockridge.RRPXRecord.record(px, _RR_VERSION)
        return px

    def tf(self, flags: int, changed: _Date, accessed: _Date) -> _SharedTF:
        # RRIP 4.1.6: TF flag bit 1 is MODIFY and bit 2 ACCESS; pycdlib names
        # the fields for those bits the other way round.
        key = (flags, id(changed), id(accessed))  # one date object per second
        tf = self._tf.get(key)
        if tf is None:
            tf = self._tf[key] = _SharedTF()
            tf.time_flags, tf._initialized = flags, True
            tf.access_time = tf.attribute_change_time = changed
            tf.modification_time = accessed
            tf._encoded = pycdlib_rockridge.RRTFRecord.record(tf)
        return tf

    def rr(self, flags: int) -> _SharedRR:
        rr = self._rr.get(flags)
        if rr is None:
            rr = self._rr[flags] = _SharedRR()
            rr.new()
            rr.rr_flags = flags
            rr._encoded = pycdlib_rockridge.RRRRRecord.record(rr)
        return rr


def _susp(rec: Any, name: str) -> Any:
    """A Rock Ridge entry (``px_record``, ``tf_record``...) of a pycdlib
    directory record, wherever pycdlib put it (the record or its continuation
    area)."""
    rr = rec.rock_ridge
    found = getattr(rr.dr_entries, name)
    if found is None and rr.ce_entries is not None:
        found = getattr(rr.ce_entries, name)
    return found


# -- the session ---------------------------------------------------------------


class SessionIso(rockridge.RockRidgeLayout):
    """pycdlib with what cdfs needs and pycdlib 1.22.0 lacks (see the module)."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.cdfs_start = start
        self._dates = _Dates()
        self._shared = _Shared()
        self._sectors_added = 0
        """Space added by records made here, in sectors; given to pycdlib
        once (:meth:`finish_records`), as it rounds each addition up."""
        self._placeholders: list[Any] = []
        self._rr_unsorted: dict[int, Any] = {}
        self._seqnum = 1

    def new_session(self, iso_id: str, joliet_id: str, rr_moved: str | None) -> None:
        self.new(interchange_level=3, joliet=3, rock_ridge=_RR_VERSION, app_ident_str="CDFS")
        self._seqnum = self.pvd.sequence_number()
        if rr_moved is not None:
            self.set_relocated_name(rockridge.RR_MOVED, rr_moved)
        for vd, ident in ((self.pvd, iso_id), (self.joliet_vd, joliet_id)):
            assert vd is not None
            vd.volume_identifier = pycdlib_utils.encode_space_pad(ident.encode(), 32, vd.encoding)
        # Extents are absolute: the sectors before the session count too, so
        # that pycdlib's own "extent beyond the ISO" check still holds.
        self._finish_add(0, self.cdfs_start * SECTOR_SIZE)

    @property
    def end(self) -> int:
        """Absolute sector after the session as laid out so far."""
        return int(self.pvd.space_size)

    def dispose(self) -> None:
        """Let go of the records (cyclic garbage for the collector)."""
        if self._initialized:
            self.close()
        # pycdlib's close() keeps the primary volume descriptor, and with it
        # every record of the session.
        with contextlib.suppress(AttributeError):
            del self.pvd
        self._placeholders.clear()
        self._rr_unsorted.clear()
        self._cdfs_ce_blocks.clear()

    def pad(self, sectors: int) -> None:
        self._finish_add(0, sectors * SECTOR_SIZE)

    @property
    def iso_root(self) -> Any:
        return self.pvd.root_directory_record()

    @property
    def joliet_root(self) -> Any:
        assert self.joliet_vd is not None
        return self.joliet_vd.root_directory_record()

    # -- directories (through pycdlib's API) --

    def iso_dir(
        self, path: str, name: bytes, st: Stat, parent: Stat | None, serials: tuple[int, int]
    ) -> tuple[str, Any]:
        """Add the directory at ISO ``path`` (below its parent's real ISO
        path) with Rock Ridge name ``name``, showing ``st`` (its ``..``
        showing ``parent``, None for the root: pycdlib's defaults); returns
        its real ISO path (in ``/RR_MOVED`` when it was relocated) and its
        record.  ``serials``: the PX serial numbers of the directory and of
        its parent."""
        real_path = self.add_dir(path, name.decode(), st.st_mode)
        rec: Any = self._find_iso_record(real_path.encode())
        serial, up = serials
        moved_from = rec.rock_ridge.moved_to_cl_dr
        if moved_from is not None:
            self._stamp(moved_from, st, serial)
            self._placeholders.append(moved_from)
        self._stamp(rec, st, serial)
        self._stamp(rec.children[0], st, serial)
        if parent is not None:
            self._stamp(rec.children[1], parent, up)
        else:
            _susp(rec.children[1], "px_record").posix_serial_number = up
        return real_path, rec

    def root_serial(self, serial: int) -> None:
        """The PX serial number of the root (its "." record)."""
        _susp(self.iso_root.children[0], "px_record").posix_serial_number = serial

    def joliet_dir(self, path: str, st: Stat, parent: Stat | None) -> Any:
        """Add the directory at Joliet ``path``; returns its record."""
        self.add_directory(joliet_path=path)
        rec = self._find_joliet_record(pycdlib_utils.normpath(path))
        date = self._dates.of(st.mtime_ns)
        rec.date = rec.children[0].date = date
        if parent is not None:
            rec.children[1].date = self._dates.of(parent.mtime_ns)
        return rec

    # -- files and symlinks (made here) --

    def new_inode(self, fp: BinaryIO, length: int) -> Any:
        """The data of a new file, read from ``fp`` when the session is written."""
        ino = pycdlib.inode.Inode()
        ino.new(length, fp, False, 0)
        self.inodes.append(ino)
        self._sectors_added += sectors_for(length)
        return ino

    def iso_file(
        self,
        parent: Any,
        ident: bytes,
        name: bytes,
        st: Stat,
        lengths: Sequence[int],
        ino: Any = None,
        at: Sequence[int] | None = None,
        px: Any = None,
    ) -> None:
        """The records of one file in ISO directory ``parent`` (one per
        extent), pointing at ``ino``'s data -- or at nothing when ``ino`` is
        None: pycdlib then neither lays out nor writes data for them (empty
        files, kept files).  ``at``: where each extent of a file kept from an
        earlier session is.  ``px``: its PX entry (:meth:`px`), shared by
        every name of a hard-linked file."""

        def record(length: int) -> Any:
            rec = _Record()
            rec.new_file(self.pvd, length, ident, parent, self._seqnum, _RR_VERSION, name,
                         False, st.st_mode, 0.0)  # fmt: skip
            self._stamp_file(rec, st, px)
            return rec

        self._file_records(record, lengths, ino, at, is_pvd=True)

    def iso_symlink(
        self, parent: Any, ident: bytes, name: bytes, target: bytes, st: Stat, serial: int
    ) -> None:
        rec = _Record()
        rec.new_symlink(self.pvd, ident, parent, target, self._seqnum, _RR_VERSION, name,
                        False, 0.0)  # fmt: skip
        self._stamp_file(rec, st, self.px(st, 1, serial))
        self._add_record(rec, False, None, True)

    def joliet_file(
        self,
        parent: Any,
        name: str,
        st: Stat,
        lengths: Sequence[int],
        ino: Any = None,
        at: Sequence[int] | None = None,
    ) -> None:
        """The Joliet records of one file (see :meth:`iso_file`)."""
        vd, ident = self.joliet_vd, name.encode("utf-16_be")
        assert vd is not None
        date = self._dates.of(st.mtime_ns)

        def record(length: int) -> Any:
            rec = _Record()
            rec.new_file(vd, length, ident, parent, self._seqnum, "", b"", False,
                         0, 0.0)  # fmt: skip
            rec.date = date
            return rec

        self._file_records(record, lengths, ino, at, is_pvd=False)

    def _file_records(
        self,
        record: Callable[[int], Any],
        lengths: Sequence[int],
        ino: Any,
        at: Sequence[int] | None,
        *,
        is_pvd: bool,
    ) -> None:
        """One record per extent (``record(length)`` makes it), pointing at
        its part of ``ino``'s data, or at the kept extent in ``at``."""
        offset = 0
        for i, length in enumerate(lengths):
            rec = record(length)
            rec.data_extent_offset = offset
            offset += length // SECTOR_SIZE
            if at is not None:
                rec.set_data_location(at[i], at[i])
            self._add_record(rec, i > 0, ino, is_pvd)

    def _add_record(self, rec: Any, more: bool, ino: Any, is_pvd: bool) -> None:
        # What pycdlib's _add_hard_link_to_inode does once it has the parent.
        # ``more``: a further extent of the same file (same name).
        if self._append_child(rec.parent, rec, more):
            self._sectors_added += 1
        self._sectors_added += self._update_rr_ce_entry(rec) // SECTOR_SIZE
        if ino is not None:
            ino.linked_records.append((rec, is_pvd))
            rec.inode = ino
        _compact(rec)

    def _append_child(self, parent: Any, rec: Any, more: bool) -> bool:
        """pycdlib's DirectoryRecord.add_child for a record that goes last
        (children are added in order): no search for its place, nothing laid
        out again but the record itself.  True when the directory grew by a
        block.  Anything else is left to pycdlib."""
        children = parent.children
        last = children[-1]
        if more and last.file_ident == rec.file_ident:
            # the next extent of a multi-extent file
            last.data_continuation = rec
            last.file_flags |= 1 << pycdlib.dr.DirectoryRecord.FILE_FLAG_MULTI_EXTENT_BIT
        elif more or not last._sort_key < rec._sort_key:
            return bool(parent.add_child(rec, self.logical_block_size, more))
        block = self.logical_block_size
        extents, offset = last.extents_to_here, last.offset_to_here
        if offset + rec.dr_len > block:
            extents, offset = extents + 1, 0
        rec.extents_to_here, rec.offset_to_here = extents, offset + rec.dr_len
        rec.index_in_parent = len(children)
        children.append(rec)
        if rec.rock_ridge is not None:
            # pycdlib keeps these sorted by Rock Ridge name (for lookups by
            # Rock Ridge path, which cdfs does not make): sorted once, at the end.
            parent.rr_children.append(rec)
            self._rr_unsorted[id(parent)] = parent
        if extents * block <= parent.data_length:
            return False
        # the directory's next block, in every record that shows its size
        parent.data_length += block
        children[0].data_length = parent.data_length
        if parent.parent is None:
            children[1].data_length = parent.data_length
        for sub in parent._subdir_children:
            if len(sub.children) > 1:
                sub.children[1].data_length = parent.data_length
        return True

    def finish_records(self) -> None:
        """Account for the records made here; empty the placeholders of
        relocated directories (:meth:`empty_placeholder`)."""
        self._finish_add(0, self._sectors_added * SECTOR_SIZE)
        self._sectors_added = 0
        for d in self._rr_unsorted.values():
            d.rr_children.sort(key=_rr_name)
        self._rr_unsorted.clear()
        for rec in self._placeholders:
            self.empty_placeholder(rec)

    @staticmethod
    def px(st: Stat, nlink: int, serial: int) -> Any:
        """The PX entry of a file or symlink with ``nlink`` names."""
        return _Shared.px(st.st_mode, st.uid, st.gid, nlink, serial)

    def _stamp(self, rec: Any, st: Stat, serial: int) -> None:
        """Set the record's date, Rock Ridge owner, mode, serial number and times."""
        rec.date = date = self._dates.of(st.mtime_ns)
        px, tf = _susp(rec, "px_record"), _susp(rec, "tf_record")
        px.posix_file_mode, px.posix_user_id, px.posix_group_id = st.st_mode, st.uid, st.gid
        px.posix_serial_number = serial
        # RRIP 4.1.6: TF flag bit 1 is MODIFY and bit 2 ACCESS; pycdlib names
        # the fields for those bits the other way round.
        tf.access_time = tf.attribute_change_time = date
        tf.modification_time = self._dates.of(st.atime_ns)

    def _stamp_file(self, rec: Any, st: Stat, px: Any) -> None:
        """:meth:`_stamp` for a file or symlink record: its TF and RR
        entries are shared with the records alike (:class:`_Shared`), its PX
        entry ``px`` with the other names and extents of the file."""
        rec.date = date = self._dates.of(st.mtime_ns)
        accessed = self._dates.of(st.atime_ns)
        rr = rec.rock_ridge
        for entries in (rr.dr_entries, rr.ce_entries):
            if entries is None:
                continue
            if entries.px_record is not None:
                entries.px_record = px
            if entries.tf_record is not None:
                flags = entries.tf_record.time_flags
                entries.tf_record = self._shared.tf(flags, date, accessed)
            if entries.rr_record is not None:
                entries.rr_record = self._shared.rr(entries.rr_record.rr_flags)

    # -- for cdfs.iso.streamwriter: a session with nothing in it --

    def stream_root(self) -> tuple[bytes, bytes, bytes, int]:
        """What pycdlib gives the root: its ISO and Joliet record dates, the
        TF entry and the mode of its "." record."""
        dot = self.iso_root.children[0]
        tf: bytes = _susp(dot, "tf_record").record()
        return (self.iso_root.date.record(), self.joliet_root.date.record(), tf,
                _susp(dot, "px_record").posix_file_mode)  # fmt: skip

    def descriptors(
        self, sectors: int, tables: Sequence[tuple[int, int, int, int, int]]
    ) -> list[bytes]:
        """The volume descriptors of a session of ``sectors`` sectors:
        ``tables`` gives, for the ISO 9660 and then the Joliet tree, the
        path table's size, its little and big endian sectors, and the
        root's extent and size."""
        vds = (self.pvd, self.joliet_vd)
        for vd, (size, le, be, extent, length) in zip(vds, tables, strict=True):
            assert vd is not None
            vd.space_size, vd.path_tbl_size = sectors, size
            vd.path_table_location_le, vd.path_table_location_be = le, be
            root = vd.root_directory_record()
            root.set_data_location(extent, 0)
            root.data_length = length
        rest: list[bytes] = [vd.record() for vd in self.vdsts]
        assert self.version_vd is not None
        rest.append(self.version_vd.record())
        return [vd.record() for vd in vds if vd is not None] + rest

    # -- pycdlib overrides --

    def _joliet_name_and_parent_from_path(self, joliet_path: bytes) -> tuple[bytes, Any]:
        # pycdlib checks Joliet's 64-character limit on UTF-8 bytes, which
        # rejects valid names in most scripts; isonames keeps names within
        # 64 UCS-2 characters.
        parts = pycdlib_utils.split_path(joliet_path)
        name = parts.pop()
        parent = self._find_joliet_record(b"/" + b"/".join(parts))
        return name.decode("utf-8").encode("utf-16_be"), parent

    def _layout_globals(self) -> dict[str, object]:
        # pycdlib lays the volume out from its module constant
        # _VOLUME_DESCRIPTOR_SET_START_SECTOR (16): move it to start + 16.
        start = _VD_START + self.cdfs_start
        return {**super()._layout_globals(), "_VOLUME_DESCRIPTOR_SET_START_SECTOR": start}
