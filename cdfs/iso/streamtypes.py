"""What :mod:`cdfs.iso.streamwriter` reads of a plan and keeps while writing.

The entries and directories of :mod:`cdfs.iso.mastering`'s plan as the
writer sees them (:class:`MasterEntry`, :class:`PlannedDir`), the numbers it
keeps per directory (:class:`DirInfo`) and for the session (:class:`Layout`),
and :class:`Unsupported`, for what it leaves to pycdlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

Path_ = tuple[bytes, ...]


class MasterEntry(Protocol):
    """What the writer reads of :class:`cdfs.iso.mastering.MasterEntry`."""

    path: Path_
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int
    size: int
    source: str | Path | None
    extents: tuple[tuple[int, int], ...]
    target: bytes
    link: int

    @property
    def kind(self) -> object: ...
    @property
    def st_mode(self) -> int: ...
    @property
    def kept(self) -> bool: ...
    def lengths_in(self, *, copied: bool) -> tuple[int, ...]: ...


class PlannedDir(Protocol):
    """What the writer reads of :class:`cdfs.iso.mastering._Dir`."""

    @property
    def path(self) -> Path_: ...
    @property
    def entry(self) -> MasterEntry | None: ...
    @property
    def children(self) -> Mapping[bytes, MasterEntry]: ...
    @property
    def iso(self) -> Mapping[bytes, bytes]: ...
    @property
    def joliet(self) -> Mapping[bytes, str]: ...


class Unsupported(Exception):
    """The session needs what only the pycdlib path writes: a record whose
    continuation entries take more than one area (a symlink target of
    nearly 1,023 bytes cut into many components)."""


class DirInfo:
    __slots__ = ("ce_blocks", "data_base", "extent", "j_extent", "j_size", "j_up_blocks",
                 "nlink", "number", "serial", "serial_base", "size", "up_blocks")  # fmt: skip

    def __init__(self) -> None:
        self.extent = self.size = self.ce_blocks = 0
        self.j_extent = self.j_size = 0
        self.serial = self.serial_base = self.data_base = 0
        self.nlink = 2
        self.number = 0
        self.up_blocks = self.j_up_blocks = 0
        """Blocks of the parent once this directory's record was added to
        it (see :meth:`cdfs.iso.streamwriter.StreamWriter._up_size`)."""


class Layout:
    """Where everything of the session goes (absolute sectors)."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.pt_iso = (0, 0, 0)
        """(size in bytes, little endian sector, big endian sector)."""
        self.pt_joliet = (0, 0, 0)
        self.pt_sectors = (0, 0)
        self.iso_root = (0, 0)
        """(extent, size) of the ISO 9660 root."""
        self.joliet_root = (0, 0)
        self.er = 0
        self.data = 0
        self.end = 0
