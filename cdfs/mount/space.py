"""Space accounting: what a next session needs and what the disc has left.

Owns the one estimate of a session's size that ``df``, the ENOSPC checks on
writes and the burn's capacity check all use, so that a burn that ``df``
said would fit does fit.  The estimate is an upper bound: file data rounded
up to sectors plus a generous allowance for the three directory trees (ISO
9660, Joliet, Rock Ridge continuation areas) and the path tables.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from cdfs import names
from cdfs.errors import NoSpaceError
from cdfs.iso.discread import DiscEntry, walk
from cdfs.mount.staging import Upper, is_reserved
from cdfs.recorders.media import SESSION_PADDING, DiscInfo
from cdfs.units import SECTOR_SIZE, Sectors, sectors_for

# Directory records are at most 255 bytes and never cross a sector, so one
# entry costs at most 255 bytes in the ISO tree and 255 in the Joliet tree;
# Rock Ridge fields that overflow the record go to continuation areas
# (NM of a 255-byte name, PX, TF, SL).  1,024 bytes covers all of it.
ENTRY_BYTES = 1024
DIR_SECTORS = 4  # ISO + Joliet extents, a CE sector, rounding
SYMLINK_SECTORS = 2  # long targets spill into continuation areas
FIXED_SECTORS = 16 + 8  # system area + volume descriptors + terminator
PATH_TABLE_ENTRY = 8 + 128  # header + longest Joliet name


@dataclass(frozen=True)
class Counts:
    """What a session holds, in the terms the estimate needs."""

    entries: int = 0
    dirs: int = 0
    symlinks: int = 0
    data: int = 0
    """Sectors of file data new in this session."""


def meta_sectors(entries: int, dirs: int, symlinks: int) -> Sectors:
    """An upper bound of the sectors a session's metadata takes."""
    tables = 4 * (sectors_for((dirs + 1) * PATH_TABLE_ENTRY) + 1)
    return Sectors(
        FIXED_SECTORS
        + tables
        + sectors_for(entries * ENTRY_BYTES)
        + (dirs + 1) * DIR_SECTORS
        + symlinks * SYMLINK_SECTORS
    )


def session_sectors(counts: Counts) -> Sectors:
    """Upper bound of a whole session: data, metadata and padding."""
    meta = meta_sectors(counts.entries, counts.dirs, counts.symlinks)
    return Sectors(counts.data + meta + SESSION_PADDING)


def room(info: DiscInfo) -> Sectors:
    """Sectors a next session may take.  A disc that cannot take one more
    (closed, full) is measured as a blank disc of its type: the staging area
    stays usable for the next disc."""
    if info.writable:
        return Sectors(info.free + SESSION_PADDING)
    blank = info.media.capacity - SESSION_PADDING - info.media.run_out
    return Sectors(blank + SESSION_PADDING)


def blank_room(info: DiscInfo) -> Sectors:
    """Sectors one session may take on a blank disc of this type."""
    return Sectors(info.media.capacity - info.media.run_out)


def disc_counts(root: DiscEntry | None) -> Counts:
    """Entries of a disc tree; ``data`` is the sectors its files take (a
    hard-linked file's once)."""
    entries = dirs = links = data = 0
    seen: set[object] = set()
    if root is not None:
        for _path, e in walk(root):
            entries += 1
            dirs += stat.S_ISDIR(e.mode)
            links += stat.S_ISLNK(e.mode)
            if e.link is not None:  # the names of a hard-linked file: its data once
                if e.link in seen:
                    continue
                seen.add(e.link)
            data += sectors_for(e.size) if stat.S_ISREG(e.mode) else 0
    return Counts(entries, dirs, links, data)


def deleted_counts(root: DiscEntry | None, upper: Upper) -> Counts:
    """What staged deletions (whiteouts) take away from the disc's tree."""
    total = Counts()
    if root is None:
        return total
    for rel, _dnames, fnames, _fd in upper.walk():
        for name in fnames:
            if not name.startswith(names.WHITEOUT_PREFIX):
                continue
            entry: DiscEntry | None = root
            for part in [*(rel.split(b"/") if rel else []), name[len(names.WHITEOUT_PREFIX) :]]:
                entry = entry.children.get(part) if entry is not None else None
            if entry is None:
                continue
            gone = disc_counts(entry)
            own = Counts(
                1,
                int(stat.S_ISDIR(entry.mode)),
                int(stat.S_ISLNK(entry.mode)),
                sectors_for(entry.size) if stat.S_ISREG(entry.mode) else 0,
            )
            total = Counts(
                total.entries + gone.entries + own.entries,
                total.dirs + gone.dirs + own.dirs,
                total.symlinks + gone.symlinks + own.symlinks,
                total.data + gone.data + own.data,
            )
    return total


def staged_counts(upper: Upper) -> Counts:
    """What is staged; the data of a hard-linked file counts once."""
    entries = dirs = links = data = 0
    seen: set[int] = set()
    for _rel, dnames, fnames, fd in upper.walk():
        fnames = [n for n in fnames if not is_reserved(n)]
        entries += len(dnames) + len(fnames)
        dirs += len(dnames)
        for name in fnames:
            st = os.lstat(name, dir_fd=fd)
            if stat.S_ISLNK(st.st_mode):
                links += 1
            elif st.st_nlink > 1 and st.st_ino in seen:
                continue
            else:
                seen.add(st.st_ino)
                data += sectors_for(st.st_size)
    return Counts(entries, dirs, links, data)


class Budget:
    """Live accounting of the staged data against the room on the disc.

    Counts staged and disc entries together (a new session lists every live
    file); directories staged only to hold new names inside disc directories
    are counted twice, which keeps the bound an upper one.
    """

    def __init__(self, info: DiscInfo) -> None:
        self.info = info
        self.room = room(info)
        self.entries = self.dirs = self.symlinks = self.data = 0
        self.disc_data = 0
        """Sectors of file data on the disc that a rewrite would copy."""

    def reset(self, info: DiscInfo, disc_root: DiscEntry | None, upper: Upper) -> None:
        self.info = info
        self.room = room(info)
        d, s = disc_counts(disc_root), staged_counts(upper)
        gone = deleted_counts(disc_root, upper) if info.media.rewritable else Counts()
        self.entries = d.entries - gone.entries + s.entries
        self.dirs = d.dirs - gone.dirs + s.dirs
        self.symlinks = d.symlinks - gone.symlinks + s.symlinks
        self.data = s.data
        self.disc_data = d.data - gone.data

    @property
    def capacity(self) -> int:
        return int(self.info.media.capacity)

    def needed(self) -> int:
        counts = Counts(self.entries, self.dirs, self.symlinks, self.data)
        return int(session_sectors(counts))

    def _limit(self) -> int:
        """Sectors the next session may take.  On a rewritable disc, what a
        rewrite (everything as one session on the blanked disc) could hold
        counts too: ``cdfs burn --rewrite`` is the way to burn it."""
        limit: int = self.room
        if self.info.media.rewritable:
            limit = max(limit, blank_room(self.info) - self.disc_data)
        return limit

    def available(self) -> int:
        """Sectors free for one more file, as ``df`` shows them: the room
        left after what is staged and the new file's own directory entry,
        so that a file of exactly that size fits."""
        with_one_more = Counts(self.entries + 1, self.dirs, self.symlinks, self.data)
        return max(0, self._limit() - int(session_sectors(with_one_more)))

    def _check(self, more: int) -> None:
        free = max(0, self._limit() - self.needed())
        if more > free:
            raise NoSpaceError(
                f"not enough room on the disc: {more * SECTOR_SIZE} bytes more needed, "
                f"{free * SECTOR_SIZE} bytes free"
            )

    def check_entries(self, n: int, *, is_dir: bool = False) -> None:
        before = self.needed()
        after = session_sectors(
            Counts(self.entries + n, self.dirs + (n if is_dir else 0), self.symlinks, self.data)
        )
        self._check(after - before)

    def add_entry(self, *, is_dir: bool = False, is_link: bool = False) -> None:
        self.entries += 1
        self.dirs += is_dir
        self.symlinks += is_link

    def drop_disc_entry(self, *, is_dir: bool, size: int = 0) -> None:
        """An entry of the disc will be left out of the next session."""
        self.entries -= 1
        self.dirs -= is_dir
        self.disc_data -= sectors_for(size)

    def remove_entry(self, st: os.stat_result, *, data: bool = True) -> None:
        """A staged entry is gone; ``data``: and with it the data of its
        file (not when other names of a hard-linked file remain)."""
        self.entries -= 1
        if stat.S_ISDIR(st.st_mode):
            self.dirs -= 1
        elif stat.S_ISLNK(st.st_mode):
            self.symlinks -= 1
        elif data:
            self.data -= sectors_for(st.st_size)

    def resize(self, old: int, new: int) -> None:
        grow = sectors_for(max(new, 0)) - sectors_for(max(old, 0))
        if grow > 0:
            self._check(grow)
        self.data += grow
