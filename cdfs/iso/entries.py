"""The entries of a session to master: :class:`MasterEntry` and its :class:`Kind`.

What :mod:`cdfs.iso.mastering` masters, what the snapshot
(:mod:`cdfs.burn.snapshot`) and :mod:`cdfs.iso.reuse` make, and what the
reader's :class:`~cdfs.iso.discentry.DiscEntry` calls its kind: a module of
its own, below all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cdfs.iso.discentry import Kind as Kind

if TYPE_CHECKING:
    from cdfs.iso.discentry import DiscEntry

MAX_EXTENT = 0xFFFFF800
"""Largest extent of one directory record; bigger files are split into
several (ISO 9660 level 3 multi-extent), as pycdlib and xorriso do."""


@dataclass(unsafe_hash=True, slots=True)
class MasterEntry:
    """One entry of the session's tree (the root itself is not an entry).
    Never changed once made (hashed by value; not ``frozen`` only because a
    frozen dataclass takes twice as long to make, once per entry of a disc)."""

    path: tuple[bytes, ...]
    kind: Kind
    mode: int
    """Permission bits (the 0o7777 part); the type comes from ``kind``."""
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int
    size: int = 0
    source: str | Path | None = None
    """A new file: its data is read from here (exactly ``size`` bytes).  A
    ``str`` is lighter than a Path (snapshots of large sessions hold one per
    staged file)."""
    extents: tuple[tuple[int, int], ...] = ()
    """A file kept from an earlier session: (absolute LBA, byte length)."""
    target: bytes = b""
    """Symlink target."""
    link: int = 0
    """Files with the same non-zero ``link`` are names of one file (hard
    links): its data is laid out once (or kept once), and every name's
    records point at it, with the same Rock Ridge PX serial number and the
    number of names as link count.  Their ``source`` (or ``extents``) and
    attributes are those of the first name."""
    reuse: DiscEntry | None = None
    """A directory of the last session kept as it is with all below it,
    whose entries are then not listed: its records are copied
    (:mod:`cdfs.iso.reuse`)."""

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
        return _chunks(self.size) if copied else self.lengths


def _chunks(size: int) -> tuple[int, ...]:
    if size <= MAX_EXTENT:
        return (size,)
    return tuple(min(MAX_EXTENT, size - at) for at in range(0, size, MAX_EXTENT))
