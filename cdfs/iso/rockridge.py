"""Rock Ridge layout rules that pycdlib 1.22.0 does not follow and readers need.

This module owns the parts of the ISO 9660 tree that exist because of Rock
Ridge, as the base class of :class:`cdfs.iso.sessioniso.SessionIso` (it uses
pycdlib internals, like that class, and nothing else in cdfs does).  The
rules come from what libarchive (bsdtar, file managers) accepts: it reads a
disc in one pass, in sector order, and acts on a directory record as it
parses it.  xorriso, isoinfo, 7z, pycdlib and the kernel accept them too.

- Relocation of deep directories (RRIP 4.1.5).  ECMA-119 6.8.2.1 allows 8
  levels, the root included, so a directory whose ISO path would have 8
  components moves to ``/RR_MOVED`` (ISO depth 2) and leaves a CL
  placeholder.  pycdlib relocates when the path it is given has a multiple
  of 8 components; :meth:`RockRidgeLayout.add_dir` gives it real ISO paths
  (inside ``/RR_MOVED`` below a relocated directory), so directories are
  relocated at Rock Ridge levels 8, 14, 20..., as genisoimage does.
- The relocation directory is named ``.rr_moved`` (hidden, as ``mkisofs
  -hide-rr-moved``), else ``rr_moved``: libarchive recognises it by these
  names only and refuses a relocated directory anywhere else.  A root with
  both names taken by the user is refused, as genisoimage refuses it.
- Directories are laid out breadth first with RR_MOVED's tree ahead of the
  rest (libarchive links a CL inside a relocated directory only before the
  outermost one is linked), the path table numbered in its own order.
- CL, RE, PX and TF stay in the directory record; only a long name goes on
  into a continuation area (SUSP CE), as libisofs writes it.
- Each directory's continuation areas are in blocks of its own, right after
  its extent: libarchive takes a CE area only at or after the end of the
  directory holding the record, and reads it only when it gets there.
  pycdlib shared blocks between all directories, so one could lie before a
  directory that used it.
- Symlink targets are cut into SL entries by :mod:`cdfs.iso.rrlinks`, which
  every reader reads back exactly; pycdlib's own cutting loses a ``/`` to
  libarchive where an entry ends, turns a piece of a name that is ``.`` or
  ``..`` into a directory reference, and writes ``a//b`` in a way libisofs
  reads as ``a/b``.

It does not name ISO 9660 entries (:mod:`cdfs.iso.isonames`) or decide what
goes into a session.
"""

from __future__ import annotations

import collections
import types
from collections.abc import Callable, Collection
from typing import Any

import pycdlib
import pycdlib.dr
import pycdlib.pycdlib
from pycdlib import rockridge as pycdlib_rockridge

from cdfs.errors import UsageError
from cdfs.iso import rrlinks
from cdfs.iso.isonames import ISO_DIR_DEPTH

RR_MOVED = "RR_MOVED"
"""ISO name of the directory deep directories are relocated into."""

RELOCATION_NAMES = (".rr_moved", "rr_moved")
"""Rock Ridge names of that directory by preference: hidden, as ``mkisofs
-hide-rr-moved`` names it, else mkisofs's default; the only two libarchive
recognises."""


def relocation_name(root: Collection[bytes], deepest: int) -> str | None:
    """The Rock Ridge name of the relocation directory, given the names in
    the root and the depth of the deepest directory; None when nothing is
    relocated.  Raises UsageError when the user has both names."""
    if deepest <= ISO_DIR_DEPTH:
        return None
    for name in RELOCATION_NAMES:
        if name.encode() not in root:
            return name
    raise UsageError(
        f"directories deeper than {ISO_DIR_DEPTH + 1} levels need a Rock Ridge relocation "
        f"directory named {' or '.join(RELOCATION_NAMES)} in the root, and both names are "
        "taken: rename one of them"
    )


class RockRidgeLayout(pycdlib.PyCdlib):
    """pycdlib building a Rock Ridge tree by the rules above."""

    def __init__(self) -> None:
        super().__init__()
        self._cdfs_ce_blocks: dict[int, list[Any]] = {}
        """id(directory record) -> the continuation blocks of its records."""

    @property
    def rr_moved(self) -> Any:
        """The directory deep directories were relocated into (if any)."""
        return self._rr_moved_record

    def add_dir(self, path: str, name: str, mode: int) -> str:
        """Add the directory at ISO ``path`` (below its parent's real ISO
        path); returns the real ISO path of the new directory, in
        ``/RR_MOVED`` when it was relocated."""
        depth = path.count("/")
        assert depth <= ISO_DIR_DEPTH + 1, path
        # pycdlib relocates when the path has a multiple of 8 components.
        _add_directory(self, iso_path=path, rr_name=name, file_mode=mode)
        if depth <= ISO_DIR_DEPTH:
            return path
        # The lookup follows the placeholder's CL to the relocated directory,
        # which pycdlib may have renamed (NAME000...) in RR_MOVED.
        real: Any = self._find_iso_record(path.encode())
        # pycdlib gives the placeholder no continuation area of its own: a
        # name too long for its record would go to sector 0, shared by all
        # placeholders (and before the session when it does not start at 0).
        self._finish_add(self._update_rr_ce_entry(real.rock_ridge.moved_to_cl_dr), 0)
        return f"/{RR_MOVED}/{real.file_identifier().decode()}"

    def _layout_globals(self) -> dict[str, object]:
        """What to replace in pycdlib's module globals while it lays out
        the volume (extended by subclasses)."""
        return {"_reassign_vd_dirrecord_extents": self._assign_directory_extents}

    def _reshuffle_extents(self) -> None:
        # pycdlib's own layout code, run through a private copy of its
        # module's globals, so that no other pycdlib user (another thread
        # reading a disc) sees the changes.
        with_globals(pycdlib.PyCdlib._reshuffle_extents, **self._layout_globals())(self)

    def _assign_directory_extents(self, vd: Any, extent: int, per_sector: int) -> Any:
        # Replaces pycdlib's _reassign_vd_dirrecord_extents for the ISO 9660
        # tree: returns the extent after the directories, the inodes of the
        # files with data, and the padding added (none: blocks are sectors).
        if vd is not self.pvd:
            return _pycdlib_assign(vd, extent, per_sector)
        assert per_sector == 1, per_sector
        order = _directories(vd.root_directory_record(), self._rr_moved_record)
        for d in order:
            d.set_data_location(extent, 0 if d.is_root else extent)
            extent += -(-d.data_length // self.logical_block_size)
            for block in self._cdfs_ce_blocks.get(id(d), ()):
                block.set_extent_location(extent)
                extent += 1
        files: list[Any] = []
        links: list[Callable[[], None]] = []
        for d in order:
            _locate_records(d, files, links)
        for update in links:
            update()
        _number_directories(vd.root_directory_record())
        return extent, files, 0

    @staticmethod
    def empty_placeholder(rec: Any) -> None:
        """Make the file record that stands for a relocated directory (the
        one with the Rock Ridge CL entry) empty, as mkisofs writes it.
        pycdlib gives it one sector at sector 0; ``genisoimage -M`` then takes
        it for a file with data and fails to append to the disc."""
        rec.set_data_length(0)

    def _update_rr_ce_entry(self, rec: Any) -> int:
        # pycdlib's own version allocates from blocks shared by the whole
        # volume, trying every block (quadratic: 30,000 long names took
        # minutes); this one from the last block of rec's directory (areas
        # are never freed while a session is built).  Two consecutive blocks
        # still hold more than one block's worth.
        rr = rec.rock_ridge
        if rr is None or rr.dr_entries.ce_record is None:
            return 0
        rr.clear_ce_areas()
        blocks = self._cdfs_ce_blocks.setdefault(id(rec.parent), [])
        added = 0
        for length in rr.ce_area_lengths(self.logical_block_size):
            offset = blocks[-1].add_entry(length) if blocks else None
            if offset is not None:
                block = blocks[-1]
            else:
                block = pycdlib_rockridge.RockRidgeContinuationBlock(-1, self.logical_block_size)
                offset = block.add_entry(length)
                blocks.append(block)  # laid out by _assign_directory_extents
                added += self.logical_block_size
            rr.add_ce_area(block, offset, length)
        first = rr.ce_areas[0]
        rr.dr_entries.ce_record.update_offset(first.offset)
        rr.dr_entries.ce_record.update_len(first.length)
        return added


_pycdlib_assign = pycdlib.pycdlib._reassign_vd_dirrecord_extents


def _directories(root: Any, moved: Any) -> list[Any]:
    """The directories below ``root`` (itself included) in the order they
    are laid out: breadth first, in record order, except that ``moved``
    (RR_MOVED) comes first among the root's.  libarchive links a CL found
    inside a relocated directory only while the outermost relocated
    directory is not yet linked to its own CL, which happens when it reads
    the directory holding that CL; so RR_MOVED's tree has to come before the
    directories at the same depth elsewhere (genisoimage puts all of it
    first)."""
    out, todo = [], collections.deque([root])
    while todo:
        d = todo.popleft()
        out.append(d)
        kids = [k for k in d.children[2:] if k.is_dir()]
        if d.is_root:
            kids.sort(key=lambda k: k is not moved)
        todo.extend(kids)
    return out


def _locate_records(d: Any, files: list[Any], links: list[Callable[[], None]]) -> None:
    """Point the records of directory ``d`` at their extents once every
    directory has one; collect the inodes of files with data (laid out
    next) and the Rock Ridge links to update once all is placed."""
    dot, dotdot, *records = d.children
    dot.set_data_location(d.extent_location(), 0)
    dotdot.set_data_location((d if d.is_root else d.parent).extent_location(), 0)
    if not d.is_root and dotdot.rock_ridge is not None:
        up = d.parent.children[0] if d.parent.is_root else d.parent
        dotdot.rock_ridge.copy_file_links(up.rock_ridge)
        if dotdot.rock_ridge.parent_link is not None:
            links.append(dotdot.rock_ridge.parent_link_update_from_dirrecord)
    for rec in records:
        rr = rec.rock_ridge
        if rr is not None and rr.cl_to_moved_dr is not None:
            links.append(rr.child_link_update_from_dirrecord)
        if rr is not None and rr.dr_entries.ce_record is not None and rr.ce_areas:
            rr.dr_entries.ce_record.update_extent(rr.ce_areas[0].extent_location())
        if rec.is_dir():
            continue
        if not rec.data_length or (
            rr is not None and (rr.child_link_record_exists() or rr.is_symlink())
        ):
            rec.set_data_location(0, 0)  # no data: empty, a CL placeholder, a symlink
        elif rec.inode is not None:
            files.append(rec.inode)  # a file kept from an earlier session has none


def _number_directories(root: Any) -> None:
    """Set the parent directory numbers of the path table records in the
    order pycdlib writes the path table (ECMA-119 6.9.1: by level, then
    parent, then name: breadth first in record order).  pycdlib numbers
    directories as it lays them out, which is no longer that order."""
    todo, number = collections.deque([root]), 0
    while todo:
        d = todo.popleft()
        number += 1
        for kid in d.children:
            if kid.ptr is not None:
                kid.ptr.update_parent_directory_number(number)
            if kid.is_dir() and not kid.is_dot() and not kid.is_dotdot():
                todo.append(kid)


class _FixedFieldsFirst(pycdlib_rockridge.RockRidge):
    """The Rock Ridge entries of a directory record with PX, TF, CL, RE and
    PL kept in the record: only the name goes on into a continuation area
    (as libisofs writes).  pycdlib spills everything after a long name;
    libarchive acts on CL and RE when it parses the record, before it reads
    continuation areas, and then mistakes a relocated directory for a plain
    one."""

    _cdfs_kept = 0

    def _assign_entries(
        self,
        first: bool,
        rr_name: bytes,
        file_mode: int,
        symlink_path: bytes,
        relocated_child: bool,
        relocated: bool,
        relocated_parent: bool,
        bytes_to_skip: int,
        curr_dr_len: int,
        attributes: dict[bytes, bytes],
        date_seconds: float,
        creation_seconds: float | None = None,
    ) -> int:
        rr = pycdlib_rockridge
        self._cdfs_kept = (
            rr.RRPXRecord.length(self.rr_version)
            + rr.RRTFRecord.length(rr.TF_FLAGS | (creation_seconds is not None))
            + relocated_child * rr.RRCLRecord.length()
            + relocated * rr.RRRERecord.length()
            + relocated_parent * rr.RRPLRecord.length()
        )
        got: int = super()._assign_entries(
            first, rr_name, file_mode, symlink_path, relocated_child, relocated,
            relocated_parent, bytes_to_skip, curr_dr_len, attributes, date_seconds,
            creation_seconds,
        )  # fmt: skip
        return got

    def _add_name(self, rr_name: bytes, curr_dr_len: int) -> int:
        got: int = super()._add_name(rr_name, curr_dr_len + self._cdfs_kept)
        return got if got < 0 else got - self._cdfs_kept


class _SLEntry(pycdlib_rockridge.RRSLRecord):
    """An SL entry made from :func:`cdfs.iso.rrlinks.entries`.  pycdlib counts a
    text component ``.`` or ``..`` as a directory reference (two bytes)."""

    __slots__ = ()

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.new()
        self.flags, pos = body[0], 1
        while pos < len(body):
            flags, size = body[pos], body[pos + 1]
            self.symlink_components.append(
                self.Component(flags, size, body[pos + 2 : pos + 2 + size])
            )
            pos += 2 + size

    def current_length(self) -> int:
        return rrlinks.HEADER + sum(2 + c.curr_length for c in self.symlink_components)


class ExactSymlinks(pycdlib_rockridge.RockRidge):
    """pycdlib's Rock Ridge entries of a record, with the SL entries of a
    symlink cut by :func:`cdfs.iso.rrlinks.entries`."""

    __slots__ = ()

    def _new_symlink(self, symlink_path: bytes, curr_dr_len: int) -> int:
        # The contract of pycdlib's own: the first entry in the directory
        # record if it has room for a few bytes of it, the rest in the
        # continuation area (counted on its CE record); -1 when that is
        # needed and the record has no CE yet (pycdlib then adds one and
        # starts over).
        room = pycdlib_rockridge.ALLOWED_DR_SIZE - curr_dr_len - rrlinks.HEADER
        whole = rrlinks.entries(symlink_path)
        ce = self.dr_entries.ce_record
        if len(whole) == 1 and len(whole[0]) - 1 <= room:  # the flags byte is in HEADER
            bodies, in_record = whole, 1
        elif ce is None:
            return -1
        elif room >= 4:
            bodies, in_record = rrlinks.entries(symlink_path, room), 1
        else:
            bodies, in_record = whole, 0
        for i, body in enumerate(bodies):
            entry = _SLEntry(body)
            if i < in_record:
                self.dr_entries.sl_records.append(entry)
                curr_dr_len += entry.current_length()
            else:
                assert ce is not None
                self._ensure_ce_entries().sl_records.append(entry)
                ce.add_record(entry.current_length())
        return curr_dr_len


def with_globals(func: Any, **names: Any) -> Any:
    """``func`` run with some of its module's globals replaced."""
    env = dict(func.__globals__, **names)
    return types.FunctionType(func.__code__, env, func.__name__, func.__defaults__)


def module_with(module: types.ModuleType, **names: Any) -> types.SimpleNamespace:
    """A stand-in for ``module`` with some of its names replaced."""
    return types.SimpleNamespace(**{**vars(module), **names})


class _DirectoryRecord(pycdlib.dr.DirectoryRecord):
    _rr_new = with_globals(
        pycdlib.dr.DirectoryRecord._rr_new,
        rockridge=module_with(pycdlib_rockridge, RockRidge=_FixedFieldsFirst),
    )


_add_directory = with_globals(
    pycdlib.PyCdlib.add_directory,
    dr=module_with(pycdlib.dr, DirectoryRecord=_DirectoryRecord),
)
"""pycdlib's add_directory, making the records above."""
