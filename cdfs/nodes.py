"""The records of the merged view: attributes, nodes, open handles, and
the interface of the daemon's control files.

Plain data with no behaviour beyond naming; :mod:`cdfs.view` owns the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .discread import DiscEntry


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
    """One name in the merged tree, with a stable inode number.

    A node is *staged* when its name exists in the upper tree and *on disc*
    when the disc's last session has it (``disc``); a directory can be both.
    """

    __slots__ = ("disc", "ino", "kids", "name", "parent", "size", "writers")

    def __init__(self, ino: int, parent: Node | None, name: bytes) -> None:
        self.ino = ino
        self.parent = parent
        self.name = name
        self.disc: DiscEntry | None = None
        self.kids: dict[bytes, Node] = {}
        self.size = -1  # staged file size while open, -1 when unknown
        self.writers = 0

    @property
    def rel(self) -> bytes:
        parts: list[bytes] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return b"/".join(reversed(parts))


class Controls(Protocol):
    """The daemon side of the control files at the mount root."""

    def control_attr(self, name: bytes, ino: int) -> Attr: ...

    def control_open(self, name: bytes, flags: int) -> Handle: ...

    def control_write(self, handle: Handle, off: int, buf: bytes) -> int: ...

    def control_flush(self, handle: Handle) -> None: ...

    def control_release(self, handle: Handle) -> None: ...

    def control_setattr(
        self, name: bytes, ino: int, handle: Handle | None, *, size: int | None, times: bool
    ) -> Attr: ...

    def status_json(self) -> bytes: ...

    def control_setxattr(self, name: bytes, value: bytes) -> None: ...


@dataclass(eq=False)
class Handle:
    """An open file: a staged file's descriptor, a disc file, or a control file."""

    node: Node
    fd: int = -1
    disc: DiscEntry | None = None
    writable: bool = False
    data: bytearray = field(default_factory=bytearray)
    error: str = ""
