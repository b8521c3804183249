"""Writing a session straight from its plan, directory by directory.

This module owns laying out and writing the session :mod:`cdfs.iso.mastering`
planned (the ``_Dir`` of every directory, with its children's ISO 9660 and
Joliet names) without building an object per record: it computes the size of
every directory first (from the lengths of its records), places the
directories, their continuation areas and the files' data, and then writes
each directory's records as it comes to it, in path table order, with
:mod:`cdfs.iso.records`.  What it keeps besides the plan is a few numbers per
directory, and per hard-linked file.

The image is byte for byte what the pycdlib path (:class:`cdfs.iso.sessioniso.SessionIso`)
writes for the same plan -- the volume descriptors still come from pycdlib
(a tree with nothing in it), everything after them from here -- so the two
stay interchangeable (tests/test_streamwriter.py).  Trees that need Rock
Ridge relocation (directories deeper than eight levels) are left to
pycdlib: :func:`handles` says which.

Layout, as pycdlib lays a session out: system area, primary and Joliet
volume descriptors, terminator, pycdlib's version descriptor, the path
tables (little and big endian, ISO then Joliet, each in pairs of sectors),
the ISO 9660 directories breadth first (each followed by the blocks holding
its records' continuation areas), the Joliet directories, the sector of the
root's ER entry, the files' data in the order of the ISO 9660 records, and
the padding.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

from cdfs.iso import olddirs
from cdfs.iso import records as R
from cdfs.iso.olddirs import OldDir
from cdfs.iso.sources import ExtentReader, Reader, SourceReader, read_small
from cdfs.iso.streamtypes import DirInfo, Layout, MasterEntry, PlannedDir, Unsupported
from cdfs.units import SECTOR_SIZE, sectors_for

if TYPE_CHECKING:
    from cdfs.iso.reuse import Reused

ProgressFn = Callable[[int, int], None]
Path_ = tuple[bytes, ...]

_ZEROS = bytes(SECTOR_SIZE)
_SHORT = R.RECORD_MAX - 5 - R.PX_LEN - R.TF_LEN
"""A record whose base length plus name is at most this holds NM, PX and
TF itself (files and directories alike)."""
_CHUNK = 1 << 20


class StreamWriter:
    """One session from a plan (see the module)."""

    def __init__(
        self,
        plan: Mapping[Path_, PlannedDir],
        start: int,
        root_attrs: tuple[bytes, bytes, bytes, int],
        copy_from: BinaryIO | None = None,
        *,
        dir_kind: object,
        reused: Reused | None = None,
    ) -> None:
        """``root_attrs``: what pycdlib gives the root (no entry describes
        it): its ISO and Joliet record dates, its TF entry, its mode.
        ``dir_kind``: the ``kind`` of directories (``Kind.DIR``).
        ``reused``: the directories whose records are copied from the last
        session (:mod:`cdfs.iso.reuse`)."""
        self.plan, self.copy_from = plan, copy_from
        self.dir_kind = dir_kind
        self.copied = copy_from is not None
        self.layout = Layout(start)
        self.root_date, self.joliet_root_date, self.root_tf, self.root_mode = root_attrs
        self.info: dict[Path_, DirInfo] = {p: DirInfo() for p in plan}
        self.reused = reused
        self.old_iso: dict[Path_, OldDir] = {}
        """Writer key -> a directory copied from the last session's ISO 9660
        tree: a reused directory's key is its path, those below it have
        keys of their own (its key and a name no path can hold)."""
        self.old_joliet: dict[Path_, OldDir] = {}
        if reused is not None:
            self._keys(reused)
        self.iso_sorted = {p: _iso_sorted(d) for p, d in plan.items()}
        """Each directory's children in ISO 9660 record order (sorted once:
        the layout and the writing go through them several times)."""
        self.joliet_sorted = {p: _joliet_sorted(d) for p, d in plan.items()}
        self.iso_order = self._order(self.iso_sorted, self.old_iso)
        """Every directory, as the path table lists them (copied ones too)."""
        self.joliet_order = self._order(self.joliet_sorted, self.old_joliet)
        nlinks: collections.Counter[int] = collections.Counter()
        self.link_first: dict[int, MasterEntry] = {}
        """Hard-link number -> its first name in plan order (whose PX,
        data and size every name shows)."""
        self.link_serial: dict[int, int] = {}
        self.link_data: dict[int, int] = {}
        self.nlinks = nlinks
        self._serials()
        self._lay_out()

    # -- layout -----------------------------------------------------------------

    def _keys(self, reused: Reused) -> None:
        for path, trees in reused.dirs.items():
            for old, tag in zip(trees, (b"\0i", b"\0j"), strict=True):
                table = self.old_iso if tag == b"\0i" else self.old_joliet
                old.key = path
                for d in old.walk():
                    table[d.key] = d
                    for n, sub in enumerate(d.subdirs):
                        sub.key = (*d.key, tag + str(n).encode())
                        self.info.setdefault(sub.key, DirInfo())
            self.info[path].nlink = 2 + len(trees[0].subdirs)

    def _order(
        self, order: Mapping[Path_, list[bytes]], old: Mapping[Path_, OldDir]
    ) -> list[Path_]:
        """Directories breadth first, children in record order."""
        out: list[Path_] = []
        dk = self.dir_kind
        todo: collections.deque[Path_] = collections.deque([()])
        while todo:
            p = todo.popleft()
            out.append(p)
            if p in old:
                todo.extend(d.key for d in old[p].subdirs)
                continue
            d = self.plan[p]
            todo.extend(c.path for c in map(d.children.__getitem__, order[p]) if c.kind is dk)
        return out

    def _serials(self) -> None:
        """PX serial numbers, given as :class:`cdfs.iso.mastering._Builder`
        gives them: the root 1, then in plan order each directory's children
        in ISO order, a hard-linked file only at its first name."""
        base = self.reused.serial_base if self.reused is not None else 1
        counter = itertools.count(base + 1)
        self.info[()].serial = base
        for d in self.plan.values():
            info = self.info[d.path]
            info.serial_base = -1
            first = True
            for name in self.iso_sorted[d.path]:
                e = d.children[name]
                if e.link:
                    self.nlinks[e.link] += 1
                    if e.link in self.link_serial:
                        continue
                    self.link_first[e.link] = e
                serial = next(counter)
                if first:
                    info.serial_base, first = serial, False
                if e.kind is self.dir_kind:
                    self.info[e.path].serial = serial
                    info.nlink += 1
                elif e.link:
                    self.link_serial[e.link] = serial

    def _iso_records(self, d: PlannedDir) -> Iterator[tuple[MasterEntry, int, int, int]]:
        """(entry, record length, continuation area length, records) of
        the children of ``d`` in record order."""
        dk = self.dir_kind
        children, iso = d.children, d.iso
        for name in self.iso_sorted[d.path]:
            e = children[name]
            ident = iso[name]
            head = 33 + len(ident)  # R.base_length, inline: this runs for every record
            base = head + head % 2
            if e.target or e.kind is dk or (e.size <= R.MAX_EXTENT and len(e.extents) <= 1):
                count = 1
            else:
                count = len(self._lengths(e))
            if not e.target and base + len(name) <= _SHORT:
                length = base + 5 + len(name) + R.PX_LEN + R.TF_LEN
                yield e, length + length % 2, 0, count
                continue
            susp = R.placed(len(ident), name, e.target, e.kind is dk)
            yield e, susp.length, susp.area_length() if susp.there is not None else 0, count

    def _lay_out(self) -> None:
        lay = self.layout
        iso_pt = sum(R.path_record_length(len(self._pt_ident(p))) for p in self.iso_order)
        jol_pt = sum(R.path_record_length(len(self._jpt_ident(p))) for p in self.joliet_order)
        n_iso, n_jol = R.pt_sectors(iso_pt), R.pt_sectors(jol_pt)
        at = lay.start + 16 + 4
        lay.pt_iso = (iso_pt, at, at + n_iso)
        at += 2 * n_iso
        lay.pt_joliet = (jol_pt, at, at + n_jol)
        at += 2 * n_jol
        lay.pt_sectors = (n_iso, n_jol)
        for p in self.iso_order:
            info = self.info[p]
            if p in self.old_iso:
                at = _place(self.old_iso[p], info, at, joliet=False)
                continue
            d = self.plan[p]
            blocks, areas = R.Packer(), R.Packer()
            blocks.add(140 if not p else 104)
            blocks.add(104)
            for e, length, area, count in self._iso_records(d):
                for _ in range(count):
                    blocks.add(length)
                    if area:
                        if area > SECTOR_SIZE:
                            raise Unsupported(e.path)
                        areas.add(area)
                if e.kind is self.dir_kind:
                    self.info[e.path].up_blocks = blocks.blocks
            info.extent, info.size, info.ce_blocks = at, blocks.size, areas.blocks
            at += blocks.blocks + areas.blocks
        for p in self.joliet_order:
            info = self.info[p]
            if p in self.old_joliet:
                at = _place(self.old_joliet[p], info, at, joliet=True)
                continue
            d = self.plan[p]
            blocks = R.Packer()
            blocks.add(34)
            blocks.add(34)
            children, joliet, dk = d.children, d.joliet, self.dir_kind
            for name in self.joliet_sorted[p]:
                e = children[name]
                head = 33 + 2 * len(joliet[name])  # R.base_length, inline
                one = e.kind is dk or e.target or (e.size <= R.MAX_EXTENT and len(e.extents) <= 1)
                for _ in range(1 if one else len(self._lengths(e))):
                    blocks.add(head + head % 2)
                if e.kind is dk:
                    self.info[e.path].j_up_blocks = blocks.blocks
            info.j_extent, info.j_size = at, blocks.size
            at += blocks.blocks
        lay.er = at
        at += 1
        lay.data = at
        for p in self.iso_order:
            if p not in self.plan:
                continue  # below a reused directory
            d, info = self.plan[p], self.info[p]
            info.data_base = at
            for name in self.iso_sorted[d.path]:
                e = d.children[name]
                if not e.link and e.source is None and not self.copied:
                    continue  # kept, a directory, a symlink: no data (most entries)
                if self._has_data(e):
                    if e.link:
                        if e.link in self.link_data:
                            continue
                        self.link_data[e.link] = at
                    at += sectors_for(self._source(e).size)
        lay.end = at
        root = self.info[()]
        lay.iso_root = (root.extent, root.size)
        lay.joliet_root = (root.j_extent, root.j_size)

    def _up_size(self, p: Path_, joliet: bool) -> int:
        """The size a directory's ".." record shows: pycdlib makes it one
        block, and makes it the parent's size whenever the parent grows
        later (not when the directory's own record made it grow)."""
        info, up = self.info[p], self.info[p[:-1]]
        if not p:
            return up.j_size if joliet else up.size
        if joliet:
            return up.j_size if up.j_size > info.j_up_blocks * SECTOR_SIZE else SECTOR_SIZE
        return up.size if up.size > info.up_blocks * SECTOR_SIZE else SECTOR_SIZE

    def _source(self, e: MasterEntry) -> MasterEntry:
        """The entry whose data and PX a name shows (the first name of a hard link)."""
        return self.link_first[e.link] if e.link else e

    def _has_data(self, e: MasterEntry) -> bool:
        if e.target or e.kind is self.dir_kind:
            return False
        s = self._source(e)
        return s.size > 0 and (s.source is not None or (self.copied and bool(s.extents)))

    def _pt_ident(self, p: Path_) -> bytes:
        if p and p[-1][:1] == b"\0":
            return self.old_iso[p].ident
        return self.plan[p[:-1]].iso[p[-1]] if p else b"\x00"

    def _jpt_ident(self, p: Path_) -> bytes:
        if p and p[-1][:1] == b"\0":
            return self.old_joliet[p].ident
        return self.plan[p[:-1]].joliet[p[-1]].encode("utf-16_be") if p else b"\x00"

    # -- writing ------------------------------------------------------------------

    def write(
        self, out: BinaryIO, descriptors: list[bytes], padding: int, progress: ProgressFn | None
    ) -> None:
        """Write the session into ``out`` (its first byte is the session's
        first), ``padding`` sectors of zeros after it."""
        lay = self.layout
        total = (lay.end - lay.start + padding) * SECTOR_SIZE
        sink = _Sink(out, total, progress)
        sink.write(_ZEROS * 16)
        for vd in descriptors:
            sink.write(vd)
        self._path_tables(sink)
        for p in self.iso_order:
            self._iso_dir(sink, p)
        for p in self.joliet_order:
            self._joliet_dir(sink, p)
        sink.write(R.ER.ljust(SECTOR_SIZE, b"\x00"))
        for p in self.iso_order:
            if p in self.plan:
                self._data(sink, p)
        for _ in range(padding):
            sink.write(_ZEROS)
        assert sink.done == total, (sink.done, total)

    def _path_tables(self, sink: _Sink) -> None:
        for order, ident, (_size, _le, _be), n in (
            (self.iso_order, self._pt_ident, self.layout.pt_iso, self.layout.pt_sectors[0]),
            (self.joliet_order, self._jpt_ident, self.layout.pt_joliet, self.layout.pt_sectors[1]),
        ):
            numbers = {p: i for i, p in enumerate(order, 1)}
            joliet = order is self.joliet_order
            for big in (False, True):
                parts = []
                for p in order:
                    info = self.info[p]
                    parts.append(R.path_record(ident(p), info.j_extent if joliet else info.extent,
                                               numbers[p[:-1]] if p else 1, big=big))  # fmt: skip
                sink.write(b"".join(parts).ljust(n * SECTOR_SIZE, b"\x00"))

    def _dir_px(self, p: Path_) -> bytes:
        info = self.info[p]
        e = self.plan[p].entry
        if e is None:
            return R.px(self.root_mode, info.nlink, 0, 0, info.serial)
        return R.px(e.st_mode, info.nlink, e.uid, e.gid, info.serial)

    def _dir_tf(self, p: Path_) -> bytes:
        e = self.plan[p].entry
        if e is None:
            return self.root_tf
        return R.tf(R.date_ns(e.mtime_ns), R.date_ns(e.atime_ns))

    def _dir_date(self, p: Path_) -> bytes:
        e = self.plan[p].entry
        return self.root_date if e is None else R.date_ns(e.mtime_ns)

    def _copy(self, sink: _Sink, old: OldDir, p: Path_, joliet: bool) -> None:
        """The records of a directory copied from the last session."""
        up = self.info[p[:-1]]
        assert self.reused is not None and self.reused.fp is not None
        parent = (up.j_extent, up.j_size) if joliet else (up.extent, up.size)
        sink.write(olddirs.copy(self.reused.fp, old, parent))

    def _iso_dir(self, sink: _Sink, p: Path_) -> None:
        if p in self.old_iso:
            return self._copy(sink, self.old_iso[p], p, joliet=False)
        d, info = self.plan[p], self.info[p]
        block = R.Block(info.extent)
        areas = R.Areas(info.extent + -(-info.size // SECTOR_SIZE))
        up = p[:-1] if p else p
        dot_px = self._dir_px(p)
        if not p:
            dot_su = R.SP + dot_px + self.root_tf + R.ce(self.layout.er, 0, len(R.ER))
            up_px = R.px(self.root_mode, info.nlink, 0, 0, 0)
        elif not up:
            # pycdlib's own ".." of a directory in the root: the directory's
            # mode, the root's link count and serial number, no owner
            dot_su = dot_px + self._dir_tf(p)
            root = self.info[()]
            up_px = R.px(self.plan[p].entry.st_mode, root.nlink, 0, 0, root.serial)  # type: ignore[union-attr]
        else:
            dot_su = dot_px + self._dir_tf(p)
            up_px = self._dir_px(up)
        date = self._dir_date(p)
        block.add(R.record(info.extent, info.size, date, R.F_DIR, b"\x00", dot_su))
        up_info = self.info[up]
        up_su = up_px + self._dir_tf(up)
        up_size = self._up_size(p, False)
        block.add(R.record(up_info.extent, up_size, self._dir_date(up), R.F_DIR, b"\x01", up_su))
        serial = info.serial_base
        data = info.data_base
        dk = self.dir_kind
        add, record, px, tf_, date_ns, nm = block.add, R.record, R.px, R.tf, R.date_ns, R.nm
        base_length, copied, children, iso = R.base_length, self.copied, d.children, d.iso
        for name in self.iso_sorted[d.path]:
            e = children[name]
            ident = iso[name]
            if e.kind is dk:
                sub = self.info[e.path]
                su = self._susp(ident, name, e, self._dir_px(e.path), self._dir_tf(e.path), areas)
                add(record(sub.extent, sub.size, date_ns(e.mtime_ns), R.F_DIR, ident, su))
                serial += 1
                continue
            when = date_ns(e.mtime_ns)
            tf = tf_(when, date_ns(e.atime_ns))
            if e.target:
                pxe = px(e.st_mode, 1, e.uid, e.gid, serial)
                serial += 1
                add(record(0, 0, when, 0, ident, self._susp(ident, name, e, pxe, tf, areas)))
                continue
            if not e.link and e.source is None and len(e.extents) == 1 and not copied:
                # A kept file of one extent (most files of an appended
                # session): what the general case below does, in short.
                lba, length = e.extents[0]
                pxe = px(e.st_mode, 1, e.uid, e.gid, serial)
                serial += 1
                if base_length(len(ident)) + len(name) <= _SHORT:  # :meth:`_susp`'s short case
                    su = nm(name) + pxe + tf
                else:
                    su = self._susp(ident, name, e, pxe, tf, areas)
                add(record(lba if length else 0, length, when, 0, ident, su))
                continue
            s = self._source(e)
            if e.link and self.link_first[e.link] is not e:
                own = self.link_serial[e.link]
            else:
                own, serial = serial, serial + 1
            pxe = R.px(s.st_mode, self.nlinks[e.link] if e.link else 1, s.uid, s.gid, own)
            where, data = self._extents(e, data)
            lengths = self._lengths(e)
            count = len(lengths)
            if count == 1:
                su = self._susp(ident, name, e, pxe, tf, areas)
                block.add(R.record(where[0] if lengths[0] else 0, lengths[0], when, 0, ident, su))
                continue
            for i, length in enumerate(lengths):
                flags = R.F_MULTI_EXTENT if i < count - 1 else 0
                su = self._susp(ident, name, e, pxe, tf, areas)
                block.add(R.record(where[i] if length else 0, length, when, flags, ident, su))
        sink.write(block.finish(info.size))
        sink.write(areas.finish())

    def _lengths(self, e: MasterEntry) -> tuple[int, ...]:
        """:meth:`cdfs.iso.mastering.MasterEntry.lengths_in`, quicker for
        the common cases (a new file or a kept one, of one extent)."""
        extents = e.extents
        if not extents:
            return (e.size,) if e.size <= R.MAX_EXTENT else e.lengths_in(copied=self.copied)
        if len(extents) == 1 and e.source is None and not self.copied:
            return (extents[0][1],)
        return e.lengths_in(copied=self.copied)

    def _extents(self, e: MasterEntry, data: int) -> tuple[list[int], int]:
        """Where each extent of a file's records is, and the next data
        sector of the directory (``data``: this one's, if it has data)."""
        lengths = self._lengths(e)
        if e.extents and not self.copied and e.source is None:
            return [lba for lba, _n in e.extents], data
        if not self._has_data(e):
            return [0] * len(lengths), data
        if e.link and self.link_data[e.link] != data:
            # a hard link whose data is elsewhere (the directory's next data
            # sector is that of its first record only where that record is)
            base = self.link_data[e.link]
        else:
            base = data
            data += sectors_for(self._source(e).size)
        out, at = [], base
        for length in lengths:
            out.append(at)
            at += length // SECTOR_SIZE
        return out, data

    def _susp(
        self, ident: bytes, name: bytes, e: MasterEntry, pxe: bytes, tfe: bytes, areas: R.Areas
    ) -> bytes:
        if not e.target and R.base_length(len(ident)) + len(name) <= _SHORT:
            return R.nm(name) + pxe + tfe  # all in the record (most records)
        is_dir = e.kind is self.dir_kind
        susp = R.place(len(ident), name, pxe, tfe, target=e.target, fixed_first=is_dir)
        if susp.there is None:
            return R.susp_bytes(susp, None)
        body = b"".join(susp.there)
        return R.susp_bytes(susp, areas.add(body))

    def _joliet_dir(self, sink: _Sink, p: Path_) -> None:
        if p in self.old_joliet:
            return self._copy(sink, self.old_joliet[p], p, joliet=True)
        d, info = self.plan[p], self.info[p]
        block = R.Block(info.j_extent)
        up = p[:-1] if p else p
        up_info = self.info[up]
        date = self.joliet_root_date if not p else R.date_ns(d.entry.mtime_ns)  # type: ignore[union-attr]
        up_date = self.joliet_root_date if not up else self._dir_date(up)
        block.add(R.record(info.j_extent, info.j_size, date, R.F_DIR, b"\x00"))
        block.add(R.record(up_info.j_extent, self._up_size(p, True), up_date, R.F_DIR, b"\x01"))
        where = self._iso_extents(d)
        add, record, date_ns, dk = block.add, R.record, R.date_ns, self.dir_kind
        children, joliet = d.children, d.joliet
        for name in self.joliet_sorted[p]:
            e = children[name]
            ident = joliet[name].encode("utf-16_be")
            when = date_ns(e.mtime_ns)
            if e.kind is dk:
                sub = self.info[e.path]
                add(record(sub.j_extent, sub.j_size, when, R.F_DIR, ident))
                continue
            if name not in where:  # a kept file of one extent (see _iso_extents)
                lba, length = e.extents[0]
                add(record(lba if length else 0, length, when, 0, ident))
                continue
            lengths = self._lengths(e)
            for i, length in enumerate(lengths):
                flags = R.F_MULTI_EXTENT if i < len(lengths) - 1 else 0
                block.add(R.record(where[name][i] if length else 0, length, when, flags, ident))
        sink.write(block.finish(info.j_size))

    def _iso_extents(self, d: PlannedDir) -> dict[bytes, list[int]]:
        """Where the records of the files of ``d`` point (as its ISO 9660
        records); kept files of one extent (no hard link) are left out:
        their record points at that extent, and they take no data sector."""
        out: dict[bytes, list[int]] = {}
        data = self.info[d.path].data_base
        copied = self.copied
        for name in self.iso_sorted[d.path]:
            e = d.children[name]
            if e.target or e.kind is self.dir_kind:
                continue
            if not e.link and e.source is None and len(e.extents) == 1 and not copied:
                continue
            out[name], data = self._extents(e, data)
        return out

    def _data(self, sink: _Sink, p: Path_) -> None:
        d = self.plan[p]
        for name in self.iso_sorted[d.path]:
            e = d.children[name]
            if not self._has_data(e):
                continue
            if e.link:  # the data of a hard link goes where its first record is
                if e.link in sink.placed:
                    continue
                sink.placed.add(e.link)
            s = self._source(e)
            if s.source is not None and s.size <= _CHUNK:
                sink.write(read_small(s.source, s.size))
                if s.size % SECTOR_SIZE:
                    sink.write(_ZEROS[: SECTOR_SIZE - s.size % SECTOR_SIZE])
                continue
            reader = self._reader(s)
            try:
                left = s.size
                while left > 0:
                    chunk = reader.read(min(left, _CHUNK))
                    sink.write(chunk)
                    left -= len(chunk)
            finally:
                reader.close()
            if s.size % SECTOR_SIZE:
                sink.write(_ZEROS[: SECTOR_SIZE - s.size % SECTOR_SIZE])

    def _reader(self, e: MasterEntry) -> Reader:
        if e.source is not None:
            return SourceReader(e.source, e.size)
        assert self.copy_from is not None
        return ExtentReader(self.copy_from, e.path, e.extents, e.size)


def _place(old: OldDir, info: DirInfo, at: int, *, joliet: bool) -> int:
    """Lay out a copied directory at ``at``; the sector after it."""
    old.new = at
    if joliet:
        info.j_extent, info.j_size = at, old.size
    else:
        info.extent, info.size = at, old.size
    return at + sectors_for(old.size)


def _iso_sorted(d: PlannedDir) -> list[bytes]:
    return sorted(d.children, key=d.iso.__getitem__)


def _joliet_sorted(d: PlannedDir) -> list[bytes]:
    # In UTF-16BE byte order, which for Joliet's characters (the Basic
    # Multilingual Plane, no surrogates: cdfs.iso.isonames) is the order of
    # the names themselves.
    return sorted(d.joliet, key=d.joliet.__getitem__)


class _Sink:
    """The output, counted for progress."""

    _STEP = 1 << 18

    def __init__(self, out: BinaryIO, total: int, progress: ProgressFn | None) -> None:
        self.out, self.total, self.progress = out, total, progress
        self.done = self._reported = 0
        self.placed: set[int] = set()

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.done += len(data)
        if self.progress is not None and self.done - self._reported >= self._STEP:
            self._reported = self.done
            self.progress(min(self.done, self.total), self.total)
