"""Mastering: the next session as one ISO 9660 image (the stash file).

This module owns turning the frozen tree of a session (:class:`MasterEntry`
records) into an image whose first byte is sector ``start`` of the disc:
ISO 9660 level 3 + Joliet + Rock Ridge 1.09, every extent absolute, files
kept from earlier sessions pointing at their old extents (no data emitted for
them), the session's own size in the volume descriptors and 150 sectors of
padding.  It also owns the cheap upper bound of that size
(:func:`estimate_sectors`), and the rewrite of a whole disc as one session:
with ``copy_from``, kept files are copied from the old disc into the new
session instead of being pointed at (:class:`_ExtentReader`).

It does not decide what goes into a session (:mod:`cdfs.burn`), read discs
(:mod:`cdfs.discread`), invent ISO/Joliet names (:mod:`cdfs.isonames`), lay
out Rock Ridge relocation and continuation areas (:mod:`cdfs.rockridge`) or
record anything (the recorders).

pycdlib (pinned to 1.22.0) does the encoding.  It has no multisession support
and stamps everything with "now", so :class:`_SessionIso` uses a few of its
internals; every such use is in that class and its base
(:class:`cdfs.rockridge.RockRidgeLayout`), and the tests read sessions back
with xorriso, isoinfo and bsdtar to guard the pin.
"""

from __future__ import annotations

import bisect
import enum
import gc
import itertools
import logging
import stat
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast

from pycdlib import dates as pycdlib_dates
from pycdlib import pycdlibexception
from pycdlib import utils as pycdlib_utils

from . import isonames, rockridge
from .errors import CdfsError, NotFoundError, UsageError
from .media import SESSION_PADDING
from .units import SECTOR_SIZE, Lba, Sectors, sectors_for

log = logging.getLogger(__name__)

volume_ids = isonames.volume_ids

ProgressFn = Callable[[int, int], None]

MAX_EXTENT = 0xFFFFF800
"""Largest extent of one directory record; bigger files are split into
several (ISO 9660 level 3 multi-extent), as pycdlib and xorriso do."""

_VD_START = 16
"""ECMA-119 6.2.1: the volume descriptors follow the 16-sector system area."""


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"

    @property
    def type_bits(self) -> int:
        """The S_IFMT part of an st_mode of this kind."""
        return {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}[self.value]


@dataclass(frozen=True)
class MasterEntry:
    """One entry of the session's tree (the root itself is not an entry)."""

    path: tuple[bytes, ...]
    kind: Kind
    mode: int
    """Permission bits (the 0o7777 part); the type comes from ``kind``."""
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int
    size: int = 0
    source: Path | None = None
    """A new file: its data is read from here (exactly ``size`` bytes)."""
    extents: tuple[tuple[int, int], ...] = ()
    """A file kept from an earlier session: (absolute LBA, byte length)."""
    target: bytes = b""
    """Symlink target."""

    @property
    def st_mode(self) -> int:
        return self.kind.type_bits | (self.mode & 0o7777)

    @property
    def kept(self) -> bool:
        """A file kept from an earlier session (its data is on the disc)."""
        return self.kind is Kind.FILE and self.source is None and bool(self.extents)

    @property
    def lengths(self) -> tuple[int, ...]:
        """Byte length of each directory record of a file (one per extent)."""
        if self.kept:
            return tuple(length for _lba, length in self.extents)
        return _chunks(self.size)

    def lengths_in(self, *, copied: bool) -> tuple[int, ...]:
        """:attr:`lengths` in a session that copies kept files (``copied``):
        their data is then laid out anew, in extents of at most MAX_EXTENT."""
        return _chunks(self.size) if copied and self.kept else self.lengths


def _chunks(size: int) -> tuple[int, ...]:
    return tuple(min(MAX_EXTENT, size - at) for at in range(0, size, MAX_EXTENT)) or (0,)


# -- the plan: validated tree with its names ---------------------------------


@dataclass
class _Dir:
    path: tuple[bytes, ...]
    entry: MasterEntry | None
    """None for the root."""
    children: dict[bytes, MasterEntry] = field(default_factory=dict)
    iso: dict[bytes, bytes] = field(default_factory=dict)
    """Child name -> ISO 9660 identifier."""
    joliet: dict[bytes, str] = field(default_factory=dict)
    """Child name -> Joliet name (symlinks have none: Joliet cannot show them)."""


def _check_entry(e: MasterEntry) -> None:
    where = isonames.show_path(e.path)
    if not e.path:
        raise UsageError("an entry has an empty path (the root is not an entry)")
    isonames.check_name(e.path[-1], e.path)
    if not (0 <= e.uid < 2**32 and 0 <= e.gid < 2**32) or e.size < 0:
        raise UsageError(f"invalid owner or size for {where!r}")
    if e.kind is Kind.SYMLINK:
        isonames.check_target(e.target, e.path)
    if e.kind is not Kind.FILE:
        return
    if e.source is None and e.size and not e.extents:
        raise UsageError(f"{where!r} has {e.size} bytes but neither a source nor extents")
    if e.extents and sum(n for _lba, n in e.extents) != e.size:
        raise UsageError(f"the extents of {where!r} do not add up to its size")
    if any(lba < 0 or not 0 <= n < 2**32 for lba, n in e.extents):
        raise UsageError(f"invalid extent for {where!r}")


def _plan(entries: Sequence[MasterEntry]) -> dict[tuple[bytes, ...], _Dir]:
    """Group the entries by directory (parents first) and name their children."""
    dirs: dict[tuple[bytes, ...], _Dir] = {(): _Dir((), None)}
    for e in sorted(entries, key=lambda e: e.path):
        _check_entry(e)
        parent = dirs.get(e.path[:-1])
        if parent is None:
            raise UsageError(f"the directory of {isonames.show_path(e.path)!r} is not in the tree")
        if e.path[-1] in parent.children:
            raise UsageError(f"{isonames.show_path(e.path)!r} is listed twice")
        parent.children[e.path[-1]] = e
        if e.kind is Kind.DIR:
            dirs[e.path] = _Dir(e.path, e)
    for d in dirs.values():
        kinds = [(n.decode(), e.kind is Kind.DIR) for n, e in d.children.items()]
        iso = isonames.iso_names(kinds, reserved=() if d.path else (rockridge.RR_MOVED,))
        d.iso = {n.encode(): ident for n, ident in iso.items()}
        shown = [k for k in kinds if d.children[k[0].encode()].kind is not Kind.SYMLINK]
        # Files from earlier sessions (no source) keep their Joliet names.
        burned = {n.decode() for n, e in d.children.items() if e.kind is Kind.FILE and not e.source}
        d.joliet = {n.encode(): j for n, j in isonames.joliet_names(shown, burned).items()}
    return dirs


# -- size bound ---------------------------------------------------------------


def estimate_sectors(entries: Sequence[MasterEntry], *, copied: bool = False) -> Sectors:
    """An upper bound of the sectors :func:`master_session` writes for
    ``entries`` (padding included), computed without pycdlib.  ``copied``:
    for a session mastered with ``copy_from``, whose kept files are data too."""
    meta = isonames.MetadataBound()
    data = 0
    for e in entries:
        records = len(e.lengths_in(copied=copied)) if e.kind is Kind.FILE else 1
        meta.add(e.path, is_dir=e.kind is Kind.DIR, records=records, target=e.target)
        if e.kind is Kind.FILE and (e.source is not None or (copied and e.kept)):
            data += sectors_for(e.size)
    return Sectors(meta.sectors() + data + SESSION_PADDING)


# -- times --------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_RANGE = (-2_208_988_800, 5_869_584_000 - 1)
"""ECMA-119 9.1.5 dates: 1900-01-01 to 2155-12-31, in seconds since the epoch."""


def _dr_date(ns: int) -> Any:
    """A pycdlib directory record date (whole seconds, UTC), clamped."""
    t = _EPOCH + timedelta(seconds=min(max(ns // 10**9, _DATE_RANGE[0]), _DATE_RANGE[1]))
    return pycdlib_dates.DirectoryRecordDate.from_fields(
        t.year - 1900, t.month, t.day, t.hour, t.minute, t.second, 0
    )


# -- I/O wrappers -------------------------------------------------------------


class _SourceReader:
    """The data of one new file: opened only while pycdlib copies it, and
    checked to still hold ``size`` bytes (pycdlib would silently write a
    short file)."""

    mode = "rb"

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        self._fp: BinaryIO | None = None
        self._left = size

    def _open(self) -> BinaryIO:
        if self._fp is None:
            try:
                self._fp = open(self.path, "rb")  # noqa: SIM115 - closed by read/close
            except FileNotFoundError:
                raise NotFoundError(f"{self.path} vanished while it was mastered") from None
            except OSError as e:
                raise CdfsError(f"cannot read {self.path}: {e.strerror}") from e
        return self._fp

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self._open().seek(offset, whence)
        self._left = self.size - pos
        return pos

    def read(self, n: int) -> bytes:
        data = self._open().read(n)
        self._left -= len(data)
        if len(data) < n:
            raise CdfsError(f"{self.path} shrank while it was mastered")
        if self._left <= 0:
            self.close()
        return data

    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None


class _ExtentReader:
    """The data of one kept file, read from the old disc extent by extent
    while pycdlib copies it into a rewritten session.  ``disc`` is shared by
    all kept files, so every read seeks first; nothing is held in memory
    beyond the chunk pycdlib asks for."""

    mode = "rb"

    def __init__(self, disc: BinaryIO, e: MasterEntry) -> None:
        self._disc, self._entry = disc, e
        self.size = e.size
        self._pos = 0
        self._starts = list(itertools.accumulate((n for _lba, n in e.extents), initial=0))

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence == 2:
            offset += self.size
        self._pos = offset
        return offset

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        want = min(n, self.size - self._pos)
        while want > 0:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            lba, length = self._entry.extents[i]
            inner = self._pos - self._starts[i]
            step = min(want, length - inner)
            where = isonames.show_path(self._entry.path)
            try:
                self._disc.seek(lba * SECTOR_SIZE + inner)
                data = self._disc.read(step)
            except OSError as exc:
                raise CdfsError(f"cannot copy {where!r} from the disc: {exc.strerror}") from exc
            if len(data) != step:
                raise CdfsError(
                    f"cannot copy {where!r} from the disc: sector"
                    f" {lba + (inner + len(data)) // SECTOR_SIZE} could not be read"
                )
            parts.append(data)
            self._pos += step
            want -= step
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        """Nothing to close: ``disc`` belongs to the caller."""


_Reader = _SourceReader | _ExtentReader


class _SessionWriter:
    """The output for pycdlib: it seeks to absolute disc offsets, the image
    starts at sector ``start``.  Counts what is written for progress."""

    mode = "wb"
    _STEP = 1 << 18

    def __init__(self, raw: BinaryIO, start: int, total: int, progress: ProgressFn | None):
        self._raw, self._base = raw, start * SECTOR_SIZE
        self._pos, self._raw_pos = self._base, 0
        self._total, self._progress = total, progress
        self.done = self._reported = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            self._raw_pos = self._raw.seek(0, 2)
            offset += self._raw_pos + self._base
        elif whence == 1:
            offset += self._pos
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def write(self, data: bytes) -> int:
        rel = self._pos - self._base
        if rel < 0:
            raise CdfsError(f"mastering tried to write before the session (sector {rel // 2048})")
        if rel != self._raw_pos:
            self._raw.seek(rel)
        n = self._raw.write(data)
        self._pos += n
        self._raw_pos = rel + n
        self.done += n
        if self._progress is not None and self.done - self._reported >= self._STEP:
            self._reported = self.done
            self._progress(min(self.done, self._total), self._total)
        return n


def _record_session_size(raw: BinaryIO, sectors: int) -> None:
    """Store the session's own size as the Volume Space Size (ECMA-119 8.4.8,
    BP 81-88, both byte orders) of every primary and supplementary volume
    descriptor; pycdlib wrote the absolute end, which readers mis-size."""
    for sector in range(_VD_START, _VD_START + 32):
        raw.seek(sector * SECTOR_SIZE)
        head = raw.read(6)
        if head[1:6] != b"CD001" or head[0] == 255:
            return
        if head[0] in (1, 2):
            raw.seek(sector * SECTOR_SIZE + 80)
            raw.write(struct.pack("<I", sectors) + struct.pack(">I", sectors))


# -- pycdlib, placed at an absolute sector ------------------------------------


def _susp(rec: Any, name: str) -> Any:
    """A Rock Ridge entry (``px_record``, ``tf_record``...) of a pycdlib
    directory record, wherever pycdlib put it (the record or its continuation
    area)."""
    rr = rec.rock_ridge
    found = getattr(rr.dr_entries, name)
    if found is None and rr.ce_entries is not None:
        found = getattr(rr.ce_entries, name)
    return found


class _SessionIso(rockridge.RockRidgeLayout):
    """pycdlib with what cdfs needs and pycdlib 1.22.0 lacks.  Every use of
    pycdlib internals in cdfs is in this class and its base, which owns the
    Rock Ridge relocation and continuation areas (:mod:`cdfs.rockridge`):

    - layout from sector ``start + 16`` instead of 16 (:meth:`_layout_globals`);
    - directory records without data (files kept from earlier sessions) and
      Joliet records linked to the ISO record's data (:meth:`add_records`);
    - Joliet's 64-character limit counted in characters, not UTF-8 bytes;
    - times, owners and kept extents set on the records after adding
      (:meth:`stamp`, :meth:`locate`);
    - a Joliet volume id of its own (pycdlib writes the ISO one in both).
    """

    def __init__(self, start: int) -> None:
        super().__init__()
        self.cdfs_start = start

    def new_session(self, iso_id: str, joliet_id: str, rr_moved: str | None) -> None:
        self.new(interchange_level=3, joliet=3, rock_ridge="1.09", app_ident_str="CDFS")
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
        if self._initialized:
            self.close()

    def pad(self, sectors: int) -> None:
        self._finish_add(0, sectors * SECTOR_SIZE)

    def add_data(self, fp: _Reader, e: MasterEntry, path: str) -> Any:
        """A new file with data; returns its inode (for the Joliet record)."""
        name, data = e.path[-1].decode(), cast(BinaryIO, fp)
        self.add_fp(data, e.size, iso_path=path, rr_name=name, file_mode=e.st_mode)
        return self.inodes[-1]

    def add_records(self, ino: Any, lengths: Sequence[int], mode: int = 0, **path: str) -> None:
        """Directory records of one file, one per extent, pointing at ``ino``'s
        data -- or at nothing when ``ino`` is None: pycdlib then neither lays
        out nor writes data for them (empty files, kept files)."""
        added, offset = 0, 0
        for length in lengths:
            added += self._add_hard_link_to_inode(
                ino, length, mode, False, None, data_extent_offset_blocks=offset, **path
            )
            offset += length // SECTOR_SIZE
        self._finish_add(0, added)

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

    @staticmethod
    def stamp(rec: Any, e: MasterEntry | None, rock_ridge: bool = True) -> None:
        """Set the record's date (and its Rock Ridge owner, mode and times)
        from ``e``; None (the root) keeps pycdlib's defaults."""
        if e is None:
            return
        rec.date = _dr_date(e.mtime_ns)
        if not rock_ridge or rec.rock_ridge is None:
            return
        px, tf = _susp(rec, "px_record"), _susp(rec, "tf_record")
        px.posix_file_mode, px.posix_user_id, px.posix_group_id = e.st_mode, e.uid, e.gid
        # RRIP 4.1.6: TF flag bit 1 is MODIFY and bit 2 ACCESS; pycdlib names
        # the fields for those bits the other way round.
        tf.access_time = tf.attribute_change_time = rec.date
        tf.modification_time = _dr_date(e.atime_ns)

    @staticmethod
    def locate(recs: Sequence[Any], e: MasterEntry) -> None:
        """Point the records of a kept file at its extents."""
        for rec, (lba, length) in zip(recs, e.extents, strict=True):
            rec.set_data_location(lba, lba)
            rec.set_data_length(length)


# -- building the session -----------------------------------------------------


class _Builder:
    """Adds a planned tree to a :class:`_SessionIso`, in the order pycdlib
    needs to stay linear: each directory's children sorted by the name of the
    tree being built, the ISO/Rock Ridge tree first, then Joliet.  With
    ``copy_from``, kept files are added as data read from that disc."""

    def __init__(
        self,
        iso: _SessionIso,
        plan: dict[tuple[bytes, ...], _Dir],
        copy_from: BinaryIO | None = None,
    ) -> None:
        self.iso, self.plan, self.copy_from = iso, plan, copy_from
        self.readers: list[_Reader] = []
        self.inodes: dict[tuple[bytes, ...], Any] = {}

    def build(self) -> None:
        iso_paths: dict[tuple[bytes, ...], str] = {(): ""}
        joliet_paths: dict[tuple[bytes, ...], str] = {(): ""}
        for d in self.plan.values():
            self._add_iso_children(d, iso_paths)
        for d in self.plan.values():
            self._add_joliet_children(d, joliet_paths)
        self._stamp(self.iso.pvd.root_directory_record(), joliet=False)
        assert self.iso.joliet_vd is not None
        self._stamp(self.iso.joliet_vd.root_directory_record(), joliet=True)

    def _add_iso_children(self, d: _Dir, paths: dict[tuple[bytes, ...], str]) -> None:
        for name in sorted(d.children, key=d.iso.__getitem__):
            e = d.children[name]
            path = paths[d.path] + "/" + d.iso[name].decode()
            if e.kind is Kind.DIR:
                paths[e.path] = self.iso.add_dir(path, name.decode(), e.st_mode)
            elif e.kind is Kind.SYMLINK:
                self.iso.add_symlink(
                    symlink_path=path, rr_symlink_name=name.decode(), rr_path=e.target.decode()
                )
            elif (reader := self._reader(e)) is not None:
                self.readers.append(reader)
                self.inodes[e.path] = self.iso.add_data(reader, e, path)
            else:
                lengths = e.lengths_in(copied=self.copy_from is not None)
                self.iso.add_records(
                    None, lengths, iso_new_path=path, rr_name=name.decode(), mode=e.st_mode
                )

    def _reader(self, e: MasterEntry) -> _Reader | None:
        """Where a file's data comes from, if the session holds it."""
        if e.size == 0:
            return None
        if e.source is not None:
            return _SourceReader(e.source, e.size)
        if self.copy_from is not None:
            return _ExtentReader(self.copy_from, e)
        return None

    def _add_joliet_children(self, d: _Dir, paths: dict[tuple[bytes, ...], str]) -> None:
        for name in sorted(d.joliet, key=d.joliet.__getitem__):
            e = d.children[name]
            path = paths[d.path] + "/" + d.joliet[name]
            if e.kind is Kind.DIR:
                paths[e.path] = path
                self.iso.add_directory(joliet_path=path)
            else:
                lengths = e.lengths_in(copied=self.copy_from is not None)
                self.iso.add_records(self.inodes.get(e.path), lengths, joliet_new_path=path)

    def _stamp(self, root: Any, *, joliet: bool) -> None:
        """Times, owners and kept extents on every record of one tree."""
        todo: list[tuple[tuple[bytes, ...], Any]] = [((), root)]
        while todo:
            path, rec = todo.pop()
            d = self.plan[path]
            self.iso.stamp(rec.children[0], d.entry, not joliet)
            self.iso.stamp(
                rec.children[1], self.plan[path[:-1]].entry if path else None, not joliet
            )
            names = {j.encode("utf-16_be"): n for n, j in d.joliet.items()} if joliet else {}
            for ident, recs in _groups(rec.children[2:], joliet):
                if recs[0] is self.iso.rr_moved:
                    continue
                e = d.children[names.get(ident, ident)]
                real = None if joliet else recs[0].rock_ridge.cl_to_moved_dr
                for r in recs if real is None else (*recs, real):
                    self.iso.stamp(r, e, not joliet)
                if real is not None:
                    self.iso.empty_placeholder(recs[0])
                if e.kind is Kind.DIR:
                    todo.append((e.path, recs[0] if real is None else real))
                elif e.kept and self.copy_from is None:
                    self.iso.locate(recs, e)

    def close(self) -> None:
        for reader in self.readers:
            reader.close()


def _groups(recs: Sequence[Any], joliet: bool) -> Iterator[tuple[bytes, list[Any]]]:
    """Records grouped by name (the Rock Ridge name, or the Joliet identifier):
    a multi-extent file has one record per extent."""
    group: list[Any] = []
    last = b""
    for rec in recs:
        name: bytes = rec.file_identifier() if joliet else rec.rock_ridge.name()
        if group and name != last:
            yield last, group
            group = []
        group.append(rec)
        last = name
    if group:
        yield last, group


class _GcPause:
    """Pauses the cyclic garbage collector while sessions are mastered.

    pycdlib builds a large cyclic object graph (records point at their
    parents), and the collector rescanning it while it grows made mastering
    superlinear: 50,000 entries took 12.5 s, 4.4 s without it.  Reference
    counting still frees everything else meanwhile; nested and concurrent
    masterings share one pause, and the last one collects what they left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()
                gc.collect()  # the pycdlib graph just dropped is cyclic garbage


_gc_paused = _GcPause()


def master_session(
    entries: Sequence[MasterEntry],
    out: Path,
    *,
    start: Lba,
    label: str,
    progress: ProgressFn | None = None,
    copy_from: BinaryIO | None = None,
) -> Sectors:
    """Master ``entries`` as one session starting at sector ``start`` into
    ``out`` (whose first byte is that sector).  Returns the sectors written,
    padding included; raises UsageError for names or entries that cannot be
    recorded.

    Files kept from earlier sessions (entries with ``extents``) are pointed
    at where they are, unless ``copy_from`` is given: a seekable reader of
    the old disc (byte ``lba * 2048`` is sector ``lba``), from which their
    data is then copied into the new session, so that it no longer depends
    on the old one (``cdfs burn --rewrite`` before a disc is blanked)."""
    if start < 0:
        raise UsageError(f"invalid session start {start}")
    iso_id, joliet_id = volume_ids(label)
    plan = _plan(entries)
    deepest = max(map(len, plan))
    rr_moved = rockridge.relocation_name(plan[()].children, deepest)
    iso = _SessionIso(start)
    builder = _Builder(iso, plan, copy_from)
    with _gc_paused:
        try:
            iso.new_session(iso_id, joliet_id, rr_moved)
            builder.build()
            iso.pad(SESSION_PADDING)
            sectors = Sectors(iso.end - start)
            _write(iso, out, start, sectors, progress)
        except BaseException as e:
            out.unlink(missing_ok=True)
            if isinstance(e, pycdlibexception.PyCdlibException):
                raise CdfsError(f"mastering failed: {e}") from e
            raise
        finally:
            builder.close()
            iso.dispose()
    log.info("mastered %d entries at sector %d: %d sectors", len(entries), start, sectors)
    return sectors


def _write(
    iso: _SessionIso, out: Path, start: int, sectors: int, progress: ProgressFn | None
) -> None:
    total = sectors * SECTOR_SIZE
    with open(out, "w+b") as raw:
        writer = _SessionWriter(raw, start, total, progress)
        iso.write_fp(cast(BinaryIO, writer), blocksize=1 << 20)
        _record_session_size(raw, sectors)
        end = raw.seek(0, 2)
    if end != total:
        raise CdfsError(f"mastering wrote {end} bytes, expected {total}")
    if progress is not None:
        progress(total, total)
