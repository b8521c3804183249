"""Mastering: the next session as one ISO 9660 image (the stash file).

This module owns turning the frozen tree of a session (:class:`MasterEntry`
records) into an image whose first byte is sector ``start`` of the disc:
ISO 9660 level 3 + Joliet + Rock Ridge 1.12, every extent absolute, files
kept from earlier sessions pointing at their old extents (no data emitted for
them), the session's own size in the volume descriptors and 150 sectors of
padding.  It also owns the cheap upper bound of that size
(:func:`estimate_sectors`), and the rewrite of a whole disc as one session:
with ``copy_from``, kept files are copied from the old disc into the new
session instead of being pointed at (:class:`cdfs.iso.sources.ExtentReader`).

It does not decide what goes into a session (:mod:`cdfs.burn.job`), read discs
(:mod:`cdfs.iso.discread`), invent ISO/Joliet names (:mod:`cdfs.iso.isonames`), lay
out Rock Ridge relocation and continuation areas (:mod:`cdfs.iso.rockridge`),
make pycdlib's records (:mod:`cdfs.iso.sessioniso`) or record anything (the
recorders).

Sessions are written by cdfs' own encoder (:mod:`cdfs.iso.streamwriter`),
directory by directory, without an object per record: a session of 100,000
files would otherwise hold some 3 KiB of pycdlib objects per entry.  It
writes byte for byte what pycdlib (pinned to 1.22.0) writes for the same
plan, and pycdlib still writes the sessions it does not handle (Rock Ridge
relocation of deep directories, a record needing several continuation
areas) and the volume descriptors.  pycdlib has no multisession support and
stamps everything with "now", so :class:`cdfs.iso.sessioniso.SessionIso` uses
a few of its internals; every such use is in that class and its base
(:class:`cdfs.iso.rockridge.RockRidgeLayout`), and the tests read sessions back
with xorriso, isoinfo and bsdtar to guard the pin (and compare the two
writers' images, tests/test_streamwriter.py).
"""

from __future__ import annotations

import collections
import gc
import itertools
import logging
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import compress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from pycdlib import pycdlibexception

from cdfs.errors import CdfsError, UsageError
from cdfs.iso import isonames, rockridge
from cdfs.iso.entries import MAX_EXTENT as MAX_EXTENT
from cdfs.iso.entries import Kind as Kind
from cdfs.iso.entries import MasterEntry as MasterEntry
from cdfs.iso.imagefile import no_follow, write_pycdlib
from cdfs.iso.sessioniso import SessionIso
from cdfs.iso.sources import ExtentReader, Reader, SourceReader
from cdfs.iso.streamtypes import Unsupported
from cdfs.iso.streamwriter import StreamWriter
from cdfs.recorders.media import SESSION_PADDING
from cdfs.units import SECTOR_SIZE, Lba, Sectors, sectors_for

if TYPE_CHECKING:
    from cdfs.iso.discentry import Placed, SessionFacts
    from cdfs.iso.reuse import Reused

log = logging.getLogger(__name__)

volume_ids = isonames.volume_ids

ProgressFn = Callable[[int, int], None]

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
    if not e.path:
        raise UsageError("an entry has an empty path (the root is not an entry)")
    isonames.check_name(e.path[-1], e.path)
    where = isonames.show_path  # only when refusing: most entries are fine
    if not (0 <= e.uid < 2**32 and 0 <= e.gid < 2**32) or e.size < 0:
        raise UsageError(f"invalid owner or size for {where(e.path)!r}")
    if e.kind is Kind.SYMLINK:
        isonames.check_target(e.target, e.path)
    if e.kind is not Kind.FILE:
        return
    extents = e.extents
    if e.source is None and e.size and not extents:
        raise UsageError(f"{where(e.path)!r} has {e.size} bytes but neither a source nor extents")
    if len(extents) == 1:  # most kept files: no generators
        lba, n = extents[0]
        total, valid = n, lba >= 0 and 0 <= n < 2**32
    else:
        total = sum(n for _lba, n in extents)
        valid = all(lba >= 0 and 0 <= n < 2**32 for lba, n in extents)
    if extents and total != e.size:
        raise UsageError(f"the extents of {where(e.path)!r} do not add up to its size")
    if not valid:
        raise UsageError(f"invalid extent for {where(e.path)!r}")


_by_path = operator.attrgetter("path")


def _burned(e: MasterEntry) -> bool:
    """A file from an earlier session (no source)."""
    return e.kind is Kind.FILE and not e.source


def _burned_in(d: _Dir) -> set[str]:
    """Files from earlier sessions (no source): they keep their Joliet names."""
    return {n.decode() for n, e in d.children.items() if _burned(e)}


def _plan(entries: Sequence[MasterEntry]) -> dict[tuple[bytes, ...], _Dir]:
    """Group the entries by directory (parents first) and name their children."""
    dirs: dict[tuple[bytes, ...], _Dir] = {(): _Dir((), None)}
    for e in sorted(entries, key=_by_path):
        _check_entry(e)
        if e.link and e.kind is not Kind.FILE:
            raise UsageError(f"{isonames.show_path(e.path)!r}: only files can be hard links")
        parent = dirs.get(e.path[:-1])
        if parent is None:
            raise UsageError(f"the directory of {isonames.show_path(e.path)!r} is not in the tree")
        if e.path[-1] in parent.children:
            raise UsageError(f"{isonames.show_path(e.path)!r} is listed twice")
        if parent.entry is not None and parent.entry.reuse is not None:
            raise UsageError(f"{isonames.show_path(e.path)!r} is in a directory kept as it is")
        parent.children[e.path[-1]] = e
        if e.kind is Kind.DIR:
            dirs[e.path] = _Dir(e.path, e)
    rr_moved = (rockridge.RR_MOVED,)
    for d in dirs.values():
        names, entries_ = list(d.children), list(d.children.values())
        kinds = [e.kind for e in entries_]
        is_dir = [k is Kind.DIR for k in kinds]
        idents = isonames.idents_of(names, is_dir, () if d.path else rr_moved)
        d.iso = dict(zip(names, idents, strict=True))
        if Kind.SYMLINK in kinds:  # Joliet cannot show symlinks
            shown = [k is not Kind.SYMLINK for k in kinds]
            names, is_dir = list(compress(names, shown)), list(compress(is_dir, shown))
        joliet = isonames.joliet_of(names, is_dir, partial(_burned_in, d))
        d.joliet = dict(zip(names, joliet, strict=True))
    return dirs


# -- size bound ---------------------------------------------------------------


def estimate_sectors(entries: Sequence[MasterEntry], *, copied: bool = False) -> Sectors:
    """An upper bound of the sectors :func:`master_session` writes for
    ``entries`` (padding included), computed without pycdlib.  ``copied``:
    for a session mastered with ``copy_from``, whose kept files are data too.
    The data of hard-linked names counts once."""
    meta = isonames.MetadataBound()
    data = 0
    links: set[int] = set()
    for e in entries:
        records = len(e.lengths_in(copied=copied)) if e.kind is Kind.FILE else 1
        meta.add(e.path, is_dir=e.kind is Kind.DIR, records=records, target=e.target)
        if e.link:
            if e.link in links:
                continue
            links.add(e.link)
        if e.kind is Kind.FILE and (e.source is not None or (copied and e.kept)):
            data += sectors_for(e.size)
    return Sectors(meta.sectors() + data + SESSION_PADDING)


# -- building the session -----------------------------------------------------


class _Builder:
    """Adds a planned tree to a :class:`SessionIso`, in the order pycdlib
    needs to stay linear: each directory's children sorted by the name of the
    tree being built, the ISO/Rock Ridge tree first, then Joliet.  With
    ``copy_from``, kept files are added as data read from that disc."""

    def __init__(
        self,
        iso: SessionIso,
        copy_from: BinaryIO | None = None,
    ) -> None:
        self.iso, self.copy_from = iso, copy_from
        self.readers: list[Reader] = []
        self.inodes: dict[tuple[bytes, ...], Any] = {}
        self.serials: dict[tuple[bytes, ...], int] = {(): 1}
        """PX serial numbers of directories; each file and symlink gets the
        next one, the names of a hard-linked file share theirs."""
        self._serial = itertools.count(2)
        self.links: dict[int, tuple[Any, Any]] = {}
        """Hard-link number -> (pycdlib inode or None, PX entry) of its first name."""
        self.nlinks: collections.Counter[int] = collections.Counter()

    def build(self, plan: dict[tuple[bytes, ...], _Dir]) -> None:
        self.nlinks.update(e.link for d in plan.values() for e in d.children.values() if e.link)
        self.iso.root_serial(1)
        iso_dirs: dict[tuple[bytes, ...], tuple[str, Any]] = {(): ("", self.iso.iso_root)}
        for d in plan.values():
            self._add_iso_children(d, iso_dirs)
        joliet_dirs: dict[tuple[bytes, ...], tuple[str, Any]] = {(): ("", self.iso.joliet_root)}
        for d in plan.values():
            self._add_joliet_children(d, joliet_dirs)
        self.iso.finish_records()
        self.inodes.clear()
        self.links.clear()

    def _add_iso_children(self, d: _Dir, dirs: dict[tuple[bytes, ...], tuple[str, Any]]) -> None:
        path, rec = dirs[d.path]
        copied = self.copy_from is not None
        for name in sorted(d.children, key=d.iso.__getitem__):
            e = d.children[name]
            ident = d.iso[name]
            if e.kind is Kind.DIR:
                serial = self.serials[e.path] = next(self._serial)
                serials = (serial, self.serials[d.path])
                dirs[e.path] = self.iso.iso_dir(
                    f"{path}/{ident.decode()}", name, e, d.entry, serials
                )
            elif e.kind is Kind.SYMLINK:
                self.iso.iso_symlink(rec, ident, name, e.target, e, next(self._serial))
            else:
                ino, px = self._data(e)
                if ino is not None:
                    self.inodes[e.path] = ino
                lengths, at = _extents(e, copied)
                self.iso.iso_file(rec, ident, name, e, lengths, ino, at, px)

    def _data(self, e: MasterEntry) -> tuple[Any, Any]:
        """The pycdlib inode of a file's data (None when the session holds
        none) and its PX entry: those of its first name for a hard link."""
        if e.link in self.links:
            return self.links[e.link]
        ino = None
        if (reader := self._reader(e)) is not None:
            self.readers.append(reader)
            ino = self.iso.new_inode(cast(BinaryIO, reader), e.size)
        found = ino, self.iso.px(e, self.nlinks[e.link] if e.link else 1, next(self._serial))
        if e.link:
            self.links[e.link] = found
        return found

    def _reader(self, e: MasterEntry) -> Reader | None:
        """Where a file's data comes from, if the session holds it."""
        if e.size == 0:
            return None
        if e.source is not None:
            return SourceReader(e.source, e.size)
        if self.copy_from is not None:
            return ExtentReader(self.copy_from, e.path, e.extents, e.size)
        return None

    def _add_joliet_children(self, d: _Dir, dirs: dict[tuple[bytes, ...], tuple[str, Any]]) -> None:
        path, rec = dirs[d.path]
        copied = self.copy_from is not None
        for name in sorted(d.joliet, key=d.joliet.__getitem__):
            e = d.children[name]
            jname = d.joliet[name]
            if e.kind is Kind.DIR:
                sub = f"{path}/{jname}"
                dirs[e.path] = sub, self.iso.joliet_dir(sub, e, d.entry)
            else:
                lengths, at = _extents(e, copied)
                self.iso.joliet_file(rec, jname, e, lengths, self.inodes.get(e.path), at)

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.inodes.clear()


def _extents(e: MasterEntry, copied: bool) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """The byte length of each record of a file, and where each extent is
    when the file is kept where it is (None: the session lays it out)."""
    lengths = e.lengths_in(copied=copied)
    if copied or not e.kept:
        return lengths, None
    return lengths, tuple(lba for lba, _n in e.extents)


class _GcPause:
    """Pauses the cyclic garbage collector while sessions are mastered.

    pycdlib builds a large cyclic object graph (records point at their
    parents), and the collector rescanning it while it grows made mastering
    superlinear: 50,000 entries took 12.5 s, 4.4 s without it.  Reference
    counting still frees everything else meanwhile; nested and concurrent
    masterings share one pause, and the last one collects what they left
    (the graph of a session is garbage once :meth:`SessionIso.dispose` let
    go of it: before, pycdlib kept it and the collection freed nothing)."""

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
    reuse_from: tuple[BinaryIO, SessionFacts | None] | None = None,
    placed: dict[int, Placed] | None = None,
) -> Sectors:
    """Master ``entries`` as one session starting at sector ``start`` into
    ``out`` (whose first byte is that sector).  Returns the sectors written,
    padding included; raises UsageError for names or entries that cannot be
    recorded.

    Files kept from earlier sessions (entries with ``extents``) are pointed
    at where they are, unless ``copy_from`` is given: a seekable reader of
    the old disc (byte ``lba * 2048`` is sector ``lba``), from which their
    data is then copied into the new session, so that it no longer depends
    on the old one (``cdfs burn --rewrite`` before a disc is blanked).

    Directories with ``reuse`` have their records copied from the last
    session: ``reuse_from`` reads the disc and tells of that session
    (:mod:`cdfs.iso.reuse`); those it cannot copy are listed entry by entry.
    ``placed`` is given where the session put the records it copied."""
    if start < 0:
        raise UsageError(f"invalid session start {start}")
    iso_id, joliet_id = volume_ids(label)
    reused: Reused | None = None
    if any(e.reuse is not None for e in entries):
        from cdfs.iso import reuse  # it builds on this module

        fp, facts = reuse_from if reuse_from and copy_from is None else (None, None)
        entries, reused = reuse.resolve(entries, fp, facts)
    plan = _plan(entries)
    deepest = max(map(len, plan))
    rr_moved = rockridge.relocation_name(plan[()].children, deepest)
    if rr_moved is None and STREAMING:
        try:
            sectors = _master_streaming(
                plan, out, start, (iso_id, joliet_id), progress, copy_from, reused
            )
        except Unsupported:
            pass  # left to pycdlib
        else:
            log.info("mastered %d entries at sector %d: %d sectors", len(entries), start, sectors)
            if placed is not None and reused is not None:
                placed.update(reused.placed())
            return sectors
    if reused is not None:
        from cdfs.iso import reuse

        entries = reuse.expand(entries)
        plan = _plan(entries)
        rr_moved = rockridge.relocation_name(plan[()].children, max(map(len, plan)))
    iso = SessionIso(start)
    builder = _Builder(iso, copy_from)
    with _gc_paused:
        try:
            iso.new_session(iso_id, joliet_id, rr_moved)
            builder.build(plan)
            del plan  # not needed for writing: its memory is reused meanwhile
            iso.pad(SESSION_PADDING)
            sectors = Sectors(iso.end - start)
            write_pycdlib(iso, out, start, sectors, progress)
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


STREAMING = True
"""Master with :class:`cdfs.iso.streamwriter.StreamWriter` where it can (no
Rock Ridge relocation); the tests turn it off to compare with pycdlib."""


def _master_streaming(
    plan: dict[tuple[bytes, ...], _Dir],
    out: Path,
    start: int,
    ids: tuple[str, str],
    progress: ProgressFn | None,
    copy_from: BinaryIO | None,
    reused: Reused | None,
) -> Sectors:
    """The session written by :mod:`cdfs.iso.streamwriter`, with pycdlib's
    volume descriptors (from a session with nothing in it)."""
    iso = SessionIso(start)
    try:
        iso.new_session(*ids, None)
        writer = StreamWriter(
            plan, start, iso.stream_root(), copy_from, dir_kind=Kind.DIR, reused=reused
        )
        lay = writer.layout
        sectors = Sectors(lay.end - start + SESSION_PADDING)
        tables = [(*lay.pt_iso, *lay.iso_root), (*lay.pt_joliet, *lay.joliet_root)]
        descriptors = iso.descriptors(sectors, tables)
    finally:
        iso.dispose()
    try:
        with open(out, "w+b", buffering=1 << 20, opener=no_follow) as raw:
            writer.write(raw, descriptors, SESSION_PADDING, progress)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(sectors * SECTOR_SIZE, sectors * SECTOR_SIZE)
    return sectors
