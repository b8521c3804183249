"""Reusing what the next session leaves unchanged of the last one.

Appending to a disc of 100,000 files writes a whole new directory tree, but
a session that adds one file changes one directory and its parents; every
other directory's records can be the last session's, copied (the extents of
its files do not change).  This module owns that decision and the entries
of the disc as entries of the next session:

- :func:`disc_entry` makes a :class:`~cdfs.iso.mastering.MasterEntry` of a
  :class:`~cdfs.iso.discentry.DiscEntry`; :func:`reused_entry` one that
  stands for the directory and everything below it (its ``reuse``), whose
  entries are then not listed (:func:`cdfs.burn.snapshot.take_snapshot`
  lists those of directories that changed only);
- :func:`resolve` finds each such directory's records in both trees of the
  last session (ISO 9660 with Rock Ridge, and Joliet, by the name of the
  directory in its parent's Joliet records) with :func:`cdfs.iso.olddirs.scan`;
  a directory it cannot reuse is listed entry by entry instead
  (:func:`expand`), and so is every one when the session is written by
  pycdlib.

What makes a directory reusable is :class:`~cdfs.iso.discentry.DiscEntry`'s
``where``: the reader sets it only in a session with Rock Ridge and Joliet
and no relocated directories, and only above no file with several names
(whose link count and serial number the next session may change).  New
records get serial numbers above the last session's highest, so that no
two files of the new tree share one (:attr:`Reused.serial_base`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from cdfs.iso import olddirs
from cdfs.iso.discentry import DiscEntry, Placed, SessionFacts, walk
from cdfs.iso.entries import Kind, MasterEntry
from cdfs.iso.olddirs import OldDir

log = logging.getLogger(__name__)

Path_ = tuple[bytes, ...]

ENABLED = True
"""Let the snapshot mark directories for reuse; the tests turn it off to
compare with sessions written entry by entry."""


def disc_entry(path: Path_, e: DiscEntry, link: int = 0) -> MasterEntry:
    """A file, directory or symlink of the disc as an entry of the next
    session (kept files pointing at their extents; ``link``: its hard-link
    number in the session, :attr:`MasterEntry.link`)."""
    kind = e.kind  # the reader's, from the same bits as e.mode's type
    # Positional: this runs for every entry of the disc (MasterEntry's order).
    return MasterEntry(
        path,
        kind,
        e.mode & 0o7777,
        e.uid,
        e.gid,
        e.mtime_ns,
        e.atime_ns,
        e.size,
        None,
        e.extents if kind is Kind.FILE else (),
        e.target,
        link,
    )


def reused_entry(path: Path_, e: DiscEntry) -> MasterEntry:
    """A directory of the disc that the next session keeps as it is, with
    everything below it (``e.where`` must be set)."""
    assert e.kind is Kind.DIR and e.where
    return replace(disc_entry(path, e), reuse=e)


@dataclass
class Reused:
    """The directories a session reuses and what its writer needs for them."""

    dirs: dict[Path_, tuple[OldDir, OldDir]] = field(default_factory=dict)
    """Path -> its records in the last session's ISO 9660 and Joliet trees."""
    fp: BinaryIO | None = None
    """Reads the disc (to copy the records)."""
    serial_base: int = 1
    """The serial number of the root; the new records' follow it."""
    trees: dict[Path_, DiscEntry] = field(default_factory=dict)
    """Path -> the reused directory's tree, as read from the last session."""

    def placed(self) -> dict[int, Placed]:
        """Where the session put each reused directory's ISO 9660 records
        (once written), for reading the session back
        (:func:`cdfs.iso.discread.read_session`'s ``known``)."""
        return {
            iso.new: Placed(self.trees[path], self.serial_base - 1)
            for path, (iso, _joliet) in self.dirs.items()
        }


def resolve(
    entries: Sequence[MasterEntry], fp: BinaryIO | None, facts: SessionFacts | None
) -> tuple[list[MasterEntry], Reused]:
    """``entries`` with each reused directory either kept (its records found
    in both trees) or listed entry by entry; and the directories kept."""
    out: list[MasterEntry] = []
    reused = Reused(fp=fp, serial_base=(facts.max_serial + 1) if facts else 1)
    joliet = _JolietDirs(fp, facts.joliet) if fp is not None and facts and facts.joliet else None
    for e in entries:
        old = e.reuse
        if old is None:
            out.append(e)
            continue
        iso = jol = None
        if joliet is not None and fp is not None and old.where:
            iso = olddirs.scan(fp, old.where, old.size, b"")
            where = joliet.find(e.path) if iso is not None else None
            jol = olddirs.scan(fp, *where, b"") if where is not None else None
        if iso is None or jol is None:
            log.info("directory %r written anew: its records cannot be reused", e.path)
            out.extend(_listed(e))
            continue
        out.append(e)
        reused.dirs[e.path] = (iso, jol)
        reused.trees[e.path] = old
    if not reused.dirs:
        reused.serial_base = 1
    else:
        log.info("reusing the records of %d directories of the last session", len(reused.dirs))
    return out, reused


def expand(entries: Iterable[MasterEntry]) -> list[MasterEntry]:
    """``entries`` with every reused directory listed entry by entry."""
    out: list[MasterEntry] = []
    for e in entries:
        if e.reuse is None:
            out.append(e)
        else:
            out.extend(_listed(e))
    return out


def _listed(e: MasterEntry) -> list[MasterEntry]:
    """A reused directory and all below it, as the snapshot lists changed
    ones (no hard links: the reader allows reuse only where there are none)."""
    assert e.reuse is not None
    out = [replace(e, reuse=None)]
    out.extend(disc_entry((*e.path, *path), d) for path, d in walk(e.reuse))
    return out


def files_below(
    e: MasterEntry,
) -> Iterator[tuple[Path_, tuple[tuple[int, int], ...]]]:
    """(path, extents) of the files with data below a reused directory."""
    if e.reuse is not None:
        for sub, d in walk(e.reuse):
            if d.kind is Kind.FILE and d.extents:
                yield (*e.path, *sub), d.extents


class _JolietDirs:
    """The last session's Joliet directories, found by path from its root."""

    def __init__(self, fp: BinaryIO, root: tuple[int, int]) -> None:
        self.fp = fp
        self.found: dict[Path_, tuple[int, int] | None] = {(): root}
        self.kids: dict[int, dict[bytes, tuple[int, int]] | None] = {}

    def find(self, path: Path_) -> tuple[int, int] | None:
        if path in self.found:
            return self.found[path]
        parent = self.find(path[:-1])
        where = None
        if parent is not None:
            kids = self._kids(*parent)
            where = None if kids is None else kids.get(path[-1])
        self.found[path] = where
        return where

    def _kids(self, lba: int, size: int) -> dict[bytes, tuple[int, int]] | None:
        """Subdirectory name (UTF-8, as Rock Ridge names are) -> (sector, size)."""
        if lba not in self.kids:
            data = olddirs.read_dir(self.fp, lba, size)
            found = None if data is None else olddirs.records(data)
            kids: dict[bytes, tuple[int, int]] | None = None
            if data is not None and found is not None:
                kids = {}
                for pos, ident in found[2:]:
                    try:
                        name = ident.decode("utf-16-be").encode()
                    except UnicodeError:
                        continue
                    lba_, size_ = olddirs.LBA_SIZE.unpack_from(data, pos + 2)
                    kids[name] = (lba_, size_)
            self.kids[lba] = kids
        return self.kids[lba]
