"""The entries of a session as cdfs reads them back: :class:`DiscEntry`
and its :class:`Kind` (which :class:`~cdfs.iso.entries.MasterEntry` shares),
the facts of a session as a whole (:class:`SessionFacts`) and walking a tree
of entries.  :mod:`cdfs.iso.discread` makes them; the view, the snapshot and
the next session's reuse (:mod:`cdfs.iso.reuse`) read them.
"""

from __future__ import annotations

import enum
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[bytes, DiscEntry] = MappingProxyType({})

_TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"

    type_bits: int
    """The S_IFMT part of an st_mode of this kind (a plain attribute, not a
    property: it is read for every record)."""

    def __init__(self, value: str) -> None:
        self.type_bits = _TYPE_BITS[value]


@dataclass(eq=False, slots=True)
class DiscEntry:
    """One file, directory or symlink of a session (the root has name b"").
    Never changed once read (not ``frozen`` only because a frozen dataclass
    takes 1.4 us more to make: a tenth of reading a large session)."""

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
    serial: int = 0
    """Rock Ridge PX file serial number (RRIP 1.12; 0 when the disc has none)."""
    where: int = 0
    """Directories: the sector of its ISO 9660 records when the next session
    may reuse them as they are (:mod:`cdfs.iso.reuse`), else 0: in a session
    that relocates directories, and above any file with several names."""
    session: SessionFacts | None = None
    """The root only: what the next session's reuse needs of this one."""

    @property
    def link(self) -> tuple[int, tuple[tuple[int, int], ...]] | None:
        """What the names of one hard-linked file of the session share: the
        serial number and the extents; None for a file with one name (or
        whose names cannot be told apart from copies: no serial, no data)."""
        if self.kind is not Kind.FILE or self.nlink < 2 or not (self.serial or self.extents):
            return None
        return self.serial, self.extents


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What :mod:`cdfs.iso.reuse` needs to know of a session as a whole."""

    joliet: tuple[int, int] | None
    """(sector, size) of the Joliet root directory, if there is one."""
    max_serial: int
    """The highest Rock Ridge PX serial number of the session's records."""


@dataclass(frozen=True, slots=True)
class Placed:
    """A directory a session reused (:mod:`cdfs.iso.reuse`): its tree as
    read from the session before, and the highest serial number in it."""

    tree: DiscEntry
    serial_max: int


Known = Mapping[int, Placed]
"""Sector of a reused directory in the new session -> what it holds."""


def walk(root: DiscEntry) -> Iterator[tuple[tuple[bytes, ...], DiscEntry]]:
    """Every entry below ``root`` with its path, parents before children,
    siblings in name order."""
    stack: list[tuple[tuple[bytes, ...], Iterator[tuple[bytes, DiscEntry]]]] = [
        ((), iter(sorted(root.children.items())))
    ]
    while stack:
        prefix, todo = stack[-1]
        for name, e in todo:
            path = (*prefix, name)
            yield path, e
            if e.children:  # a directory with something in it: its turn first
                stack.append((path, iter(sorted(e.children.items()))))
                break
        else:
            stack.pop()
