"""Space accounting: the one definition of every space figure.

Owns the estimate of a session's size and the figures built on it, which
``df`` (statfs), ``.status``, ``cdfs status``, ``cdfs media info``, the
ENOSPC checks of writes and the burn's capacity check all take from here
(in sectors; shown in bytes):

capacity
    the disc's user-data sectors (the drive's figure; the nominal one for
    an emulated medium).
used
    what the recorded sessions and the gaps after them take: up to the
    next writable address; all of the disc once it is closed.
free
    what files of the next session can take: from the next writable
    address to the end, less what a session costs anyway (the recorder's
    padding, the track's run-out, and the image's own overhead: system
    area, volume descriptors, path tables, the padding that ends the image,
    and the directory records of everything already on the disc, which the
    new session lists again).  0 on a closed or full disc.
staged
    what the staged changes need in that session: their data rounded up to
    sectors plus an allowance for their directory records.
still fits
    free minus staged: ``df``'s available figure, and the limit of the
    ENOSPC check (a write is refused when the staged changes would need
    more than free).  A burn of what was accepted into staging is never
    refused for space.

On a rewritable disc, what would still fit after ``cdfs burn --rewrite``
(everything live as one session on the blanked disc) is a figure of its
own; staging never takes more than the next session can.

The estimate is an upper bound: file data rounded up to sectors plus a
generous allowance for the three directory trees (ISO 9660, Joliet, Rock
Ridge continuation areas) and the path tables.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace

from cdfs import names
from cdfs.errors import NoSpaceError
from cdfs.iso.discread import DiscEntry
from cdfs.mount.staging import Upper, is_reserved
from cdfs.recorders.media import SESSION_PADDING, DiscInfo, DiscState, Session, recorded_length
from cdfs.recorders.nodisc import is_no_disc
from cdfs.units import SECTOR_SIZE, Lba, Sectors, sectors_for

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


def _plus(a: Counts, b: Counts) -> Counts:
    return Counts(a.entries + b.entries, a.dirs + b.dirs, a.symlinks + b.symlinks, a.data + b.data)


def disc_counts(root: DiscEntry | None) -> Counts:
    """Entries of a disc tree; ``data`` is the sectors its files take (a
    hard-linked file's once)."""
    entries = dirs = links = data = 0
    seen: set[object] = set()
    todo = [root.children] if root is not None else []
    while todo:  # no paths: this runs for every entry of the disc after each burn
        for e in todo.pop().values():
            entries += 1
            if stat.S_ISDIR(e.mode):
                dirs += 1
                todo.append(e.children)
            elif stat.S_ISLNK(e.mode):
                links += 1
            elif stat.S_ISREG(e.mode):
                if e.nlink > 1 and (link := e.link) is not None:
                    if link in seen:  # the names of a hard-linked file: its data once
                        continue
                    seen.add(link)
                data += sectors_for(e.size)
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
            total = _plus(_plus(total, gone), own)
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


@dataclass(frozen=True)
class Figures:
    """The space figures of a disc and its staging area, in sectors."""

    capacity: int
    used: int
    free: int
    staged: int
    still_fits: int
    rewrite_fits: int | None
    """What would still fit after ``cdfs burn --rewrite``; None on
    write-once media."""
    entries: int
    """Names in the next session and its root directory (``df -i``'s
    used inodes)."""

    @property
    def free_entries(self) -> int:
        """How many more empty files would still fit (``df -i``'s free
        inodes): each costs :data:`ENTRY_BYTES` of directory records."""
        return self.still_fits * SECTOR_SIZE // ENTRY_BYTES

    def as_bytes(self) -> dict[str, int | None]:
        """The figures as the status publishes them."""
        rewrite = self.rewrite_fits
        return {
            "capacity_bytes": self.capacity * SECTOR_SIZE,
            "used_bytes": self.used * SECTOR_SIZE,
            "free_bytes": self.free * SECTOR_SIZE,
            "staged_need_bytes": self.staged * SECTOR_SIZE,
            "available_bytes": self.still_fits * SECTOR_SIZE,
            "rewrite_available_bytes": None if rewrite is None else rewrite * SECTOR_SIZE,
        }


class Budget:
    """Live accounting of the staged changes against the room on the disc.

    ``total`` counts the disc's entries and the staged ones together (a new
    session lists every live file).  Disc entries staged for deletion
    (rewritable discs) stay in it: the bound stays an upper one and still
    fits never exceeds free; they count in ``gone``, for the rewrite.
    Directories staged only to hold new names inside disc directories are
    counted twice, which keeps the bound an upper one too.
    """

    def __init__(self, info: DiscInfo) -> None:
        self.info = info
        self.disc = Counts()
        """The disc's last session (``data``: every sector of its files)."""
        self.total = Counts()
        """Disc and staged entries; ``data``: the staged data only."""
        self.gone = Counts()
        """Disc entries and data a rewrite would leave out (deleted)."""
        self.burning: tuple[DiscInfo, int] | None = None
        """While a burn runs: the disc as it will be after it, and the
        sectors of staged data that burn takes along."""

    def reset(self, info: DiscInfo, disc_root: DiscEntry | None, upper: Upper | None) -> None:
        self.info = info
        self.burning = None  # the disc as read now holds what a burn recorded
        self.disc = disc_counts(disc_root)
        staged = staged_counts(upper) if upper is not None else Counts()
        self.gone = Counts()
        if info.media.rewritable and upper is not None:
            self.gone = deleted_counts(disc_root, upper)
        self.total = Counts(
            self.disc.entries + staged.entries,
            self.disc.dirs + staged.dirs,
            self.disc.symlinks + staged.symlinks,
            staged.data,
        )

    @property
    def capacity(self) -> int:
        return int(self.info.media.capacity)

    def burn_started(self, after: DiscInfo, data: int) -> None:
        """A burn runs that leaves the disc as ``after`` and takes ``data``
        sectors of the staged data along: until the disc is read again,
        what is staged meanwhile is measured against the session after it
        (on CD, past the gap that session will cost), so that it fits then."""
        self.burning = (after, data)

    def burn_ended(self) -> None:
        self.burning = None

    def _basis(self) -> tuple[DiscInfo, Counts]:
        """The disc the next session goes on, and what it will hold."""
        if self.burning is None:
            return self.info, self.total
        after, data = self.burning
        return after, replace(self.total, data=max(0, self.total.data - data))

    def needed(self) -> int:
        """Sectors the next session's image takes, by the upper bound."""
        return int(session_sectors(self._basis()[1]))

    def _one_more(self, counts: Counts) -> int:
        """The bound of ``counts`` with room for one more (empty) name, so
        that a file of the size the figures show can still be created."""
        return int(session_sectors(replace(counts, entries=counts.entries + 1)))

    def figures(self) -> Figures:
        info, total = self._basis()
        room = int(info.room)
        base = Counts(self.disc.entries, self.disc.dirs, self.disc.symlinks, 0)
        free = max(0, room - self._one_more(base))
        staged = self._one_more(total) - self._one_more(base)
        rewrite = None
        if self.info.media.rewritable:
            # Everything live, its data copied: the disc's less what is
            # deleted, and everything staged (also what a running burn takes).
            t, d, g = self.total, self.disc, self.gone
            live = Counts(
                t.entries - g.entries,
                t.dirs - g.dirs,
                t.symlinks - g.symlinks,
                t.data + d.data - g.data,
            )
            rewrite = max(0, int(self.info.blank_room) - self._one_more(live))
        return Figures(
            capacity=self.capacity,
            used=int(info.used),
            free=free,
            staged=staged,
            still_fits=max(0, free - staged),
            rewrite_fits=rewrite,
            entries=total.entries + 1,
        )

    def _check(self, after: Counts) -> None:
        """Refuse (ENOSPC) a change that would leave the next session's
        image larger than the room on the disc."""
        info, _ = self._basis()
        if is_no_disc(info):
            return  # staging is not limited until a disc is in the drive
        if self.burning is not None:
            after = replace(after, data=max(0, after.data - self.burning[1]))
        room = int(info.room)
        need = int(session_sectors(after))
        if need <= room:
            return
        if room == 0:
            why = "closed" if info.state is DiscState.CLOSED else "full"
            when = " by the running burn" if self.burning is not None else ""
            raise NoSpaceError(
                f"the disc is {why}{when}: nothing more can be staged for it; insert a "
                "blank writable disc and mount again"
            )
        left = max(0, room - self.needed())
        raise NoSpaceError(
            f"not enough room on the disc: {(need - self.needed()) * SECTOR_SIZE} bytes more "
            f"needed, {left * SECTOR_SIZE} bytes left for the next session"
        )

    def check_entries(self, n: int, *, is_dir: bool = False, is_link: bool = False) -> None:
        t = self.total
        self._check(Counts(t.entries + n, t.dirs + n * is_dir, t.symlinks + n * is_link, t.data))

    def add_entry(self, *, is_dir: bool = False, is_link: bool = False) -> None:
        t = self.total
        self.total = Counts(t.entries + 1, t.dirs + is_dir, t.symlinks + is_link, t.data)

    def drop_disc_entry(self, *, is_dir: bool, size: int = 0, is_link: bool = False) -> None:
        """An entry of the disc will be left out of the next session: only a
        rewrite gets its room back."""
        self.gone = _plus(self.gone, Counts(1, int(is_dir), int(is_link), sectors_for(size)))

    def remove_entry(self, st: os.stat_result, *, data: bool = True) -> None:
        """A staged entry is gone; ``data``: and with it the data of its
        file (not when other names of a hard-linked file remain)."""
        t = self.total
        is_dir, is_link = stat.S_ISDIR(st.st_mode), stat.S_ISLNK(st.st_mode)
        gone = sectors_for(st.st_size) if data and not (is_dir or is_link) else 0
        self.total = Counts(t.entries - 1, t.dirs - is_dir, t.symlinks - is_link, t.data - gone)

    def resize(self, old: int, new: int) -> None:
        grow = sectors_for(max(new, 0)) - sectors_for(max(old, 0))
        after = replace(self.total, data=self.total.data + grow)
        if grow > 0:
            self._check(after)
        self.total = after


def after_burn(info: DiscInfo, start: int, sectors: int, *, close: bool) -> DiscInfo:
    """The disc once a session image of ``sectors`` is recorded at
    ``start`` (the recorder's padding after it, as the recorders do)."""
    session = Session(Lba(start), recorded_length(info.media, sectors))
    state = DiscState.CLOSED if close else DiscState.APPENDABLE
    return DiscInfo(info.media, state, (*info.sessions, session), info.wasted)


def disc_figures(info: DiscInfo, root: DiscEntry | None) -> Figures:
    """The figures of a disc with nothing staged (``cdfs media info``)."""
    budget = Budget(info)
    budget.reset(info, root, None)
    return budget.figures()
