"""The records of the merged view: attributes, nodes, open handles, and
the interface of the daemon's control files.

Plain data with no behaviour beyond naming; :mod:`cdfs.mount.view` owns the rules.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Protocol

from cdfs.errors import os_error
from cdfs.iso.discread import DiscEntry

ROOT_INO = 1


@dataclass(slots=True)
class Attr:
    """The attributes the view reports for one inode."""

    ino: int
    mode: int
    nlink: int = 1
    uid: int = 0
    gid: int = 0
    size: int = 0
    blocks: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0


class Node:
    """One name in the merged tree, with a stable inode number (shared by
    the names of a hard-linked file: :mod:`cdfs.mount.hardlinks`).

    A node is *staged* when its name exists in the upper tree and *on disc*
    when the disc's last session has it (``disc``); a directory can be both.
    A node whose name is gone (unlinked, replaced by a rename) is *detached*:
    it has no parent and no path, and lives on only through the handles
    still open on it (``handles``), as an unlinked file does on any POSIX
    file system.
    """

    __slots__ = ("disc", "handles", "ino", "kids", "name", "parent", "size")

    def __init__(self, ino: int, parent: Node | None, name: bytes) -> None:
        self.ino = ino
        self.parent = parent
        self.name = name
        self.disc: DiscEntry | None = None
        self.kids: dict[bytes, Node] = {}
        self.size = -1  # staged file size while open, -1 when unknown
        self.handles: list[Handle] = []
        """The open handles of a staged or disc file (not of control files):
        getattr and setattr carry no handle, so the node must know them."""

    @property
    def detached(self) -> bool:
        return self.parent is None and self.ino != ROOT_INO

    @property
    def writers(self) -> int:
        return sum(h.writable for h in self.handles)

    @property
    def rel(self) -> bytes:
        """The path in the staging tree; ESTALE for a detached node, which
        has none (never the root's path, nor another file's)."""
        parts: list[bytes] = []
        node = self
        while node.parent is not None:
            parts.append(node.name)
            node = node.parent
        if node.ino != ROOT_INO:
            raise os_error(errno.ESTALE)
        return b"/".join(reversed(parts))


class Controls(Protocol):
    """The daemon side of the control files at the mount root."""

    def control_attr(self, name: bytes, ino: int) -> Attr: ...

    def control_open(self, name: bytes, flags: int, caller: Caller | None) -> Handle: ...

    def control_write(self, handle: Handle, off: int, buf: bytes) -> int: ...

    def control_flush(self, handle: Handle) -> None: ...

    def control_release(self, handle: Handle) -> None: ...

    def control_setattr(
        self,
        name: bytes,
        ino: int,
        handle: Handle | None,
        *,
        size: int | None,
        times: bool,
        caller: Caller | None,
    ) -> Attr: ...

    def status_json(self) -> bytes: ...

    def control_setxattr(self, name: bytes, value: bytes, caller: Caller | None) -> None: ...

    def names_gone(self, entries: list[tuple[int, bytes]]) -> None:
        """Names (parent inode, name) the kernel may have looked up that the
        disc no longer has (after an erase, a rewrite, another disc): the
        daemon makes the kernel forget them, so that they stop answering
        lookups at once rather than when their entry timeout ends."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request (its FUSE context): the opener of a handle."""

    uid: int
    gid: int
    pid: int


@dataclass(eq=False)
class Handle:
    """An open file: a staged file's descriptor, a disc file, or a control file."""

    node: Node
    fd: int = -1
    disc: DiscEntry | None = None
    writable: bool = False
    data: bytearray = field(default_factory=bytearray)
    error: str = ""
    caller: Caller | None = None
    """Who opened it (None: cdfs itself)."""
    fsetid: bool | None = None
    """Whether the opener may keep setuid/setgid bits when writing
    (CAP_FSETID); None until a write first needs to know."""
