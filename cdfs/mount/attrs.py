"""Attributes in the merged view: what ``stat`` shows and what ``chmod``,
``chown``, ``utimensat`` and ``truncate`` do.

Owns the attributes of every kind of node: staged (the staging tree's
lstat), on the disc (the last session's records, burned files shown without
write permission on write-once media, a burned directory's staged changes
shown over them: :mod:`cdfs.mount.dirattrs`), detached but open, and the
control files' (delegated to :class:`~cdfs.mount.nodes.Controls`); the
value of ``user.cdfs.state``; and where an attribute change goes (a staged
file, a copy of a burned file on rewritable media, a burned directory's
staged changes) or why it is refused.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Protocol

from cdfs.errors import UsageError, os_error
from cdfs.iso.discread import DiscEntry
from cdfs.mount.dirattrs import DirAttrs, unchanged
from cdfs.mount.files import Files
from cdfs.mount.hardlinks import HardLinks
from cdfs.mount.nodes import Attr, Caller, Controls, Handle, Node
from cdfs.units import ISO_DATE_RANGE


class AttrView(Protocol):
    """What attributes need of the merged view (:class:`cdfs.mount.view.View`
    has it).  A protocol, so that this module, which the view uses, does not
    import it."""

    root: Node
    controls: Controls
    files: Files
    links: HardLinks
    dir_attrs: DirAttrs

    @property
    def rewritable(self) -> bool: ...

    def is_control(self, node: Node) -> bool: ...

    def staged_stat(self, node: Node) -> os.stat_result | None: ...


class Attributes:
    """The attributes of the view's nodes, read and changed."""

    def __init__(self, view: AttrView) -> None:
        self.view = view

    def get(self, node: Node) -> Attr:
        if self.view.is_control(node):
            return self.view.controls.control_attr(node.name, node.ino)
        if node.detached:
            return self._orphan_attr(node)
        attr = self.of(node, self.view.staged_stat(node))
        if attr is None:
            raise os_error(errno.ENOENT)
        return attr

    def of(self, node: Node, st: os.stat_result | None) -> Attr | None:
        """Attributes from the node's staged lstat (or None) and its disc
        entry; None when it has neither."""
        disc = node.disc
        if node is self.view.root:
            # The root's attributes are the staging tree's root's: they are
            # not burned, and cp -a or rsync may set them.
            assert st is not None
            return self._staged_attr(node, st)
        if st is not None and (disc is None or not stat.S_ISDIR(st.st_mode)):
            return self._staged_attr(node, st)
        if disc is not None:
            attr = self._disc_attr(node.ino, disc)
            if st is not None and st.st_mtime_ns > attr.mtime_ns:
                attr.mtime_ns = attr.ctime_ns = st.st_mtime_ns
            if stat.S_ISDIR(disc.mode):
                self.view.dir_attrs.show(node.rel, attr, st)
            return attr
        return None

    def _orphan_attr(self, node: Node) -> Attr:
        """A detached file, through its open handles: no links left."""
        st, disc = self.view.files.orphan_source(node)
        if st is not None:
            attr = self._staged_attr(node, st)
            attr.size = st.st_size
        else:
            assert disc is not None
            attr = self._disc_attr(node.ino, disc)
        attr.nlink = 0
        return attr

    def _staged_attr(self, node: Node, st: os.stat_result) -> Attr:
        size = st.st_size
        if stat.S_ISREG(st.st_mode) and node.size >= 0:
            size = node.size
        nlink = 1
        if stat.S_ISDIR(st.st_mode):
            nlink = st.st_nlink
        elif stat.S_ISREG(st.st_mode):
            nlink = self.view.links.nlink(st)
        return Attr(
            node.ino,
            st.st_mode,
            nlink,
            st.st_uid,
            st.st_gid,
            size,
            st.st_blocks,
            st.st_atime_ns,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )

    def _disc_attr(self, ino: int, e: DiscEntry) -> Attr:
        mode = e.mode
        if stat.S_ISREG(mode) and not self.view.rewritable:
            mode &= ~0o222  # burned for good: shown read-only (the disc keeps its mode)
        return Attr(
            ino,
            mode,
            1 if stat.S_ISDIR(e.mode) else self.view.links.disc_nlink(e),
            e.uid,
            e.gid,
            e.size,
            -(-e.size // 512),
            e.atime_ns,
            e.mtime_ns,
            e.ctime_ns,
        )

    def state(self, node: Node) -> bytes:
        """The value of ``user.cdfs.state``."""
        if self.view.is_control(node):
            return b"control"
        st = self.view.staged_stat(node)
        if node is self.view.root:
            return b"disc" if node.disc is not None else b"staged"
        if st is None or (stat.S_ISDIR(st.st_mode) and node.disc is not None):
            return b"disc"
        return b"staged"

    def set(
        self,
        node: Node,
        *,
        size: int | None = None,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        atime_ns: int | None = None,
        mtime_ns: int | None = None,
        fh: Handle | None = None,
        caller: Caller | None = None,
    ) -> Attr:
        if self.view.is_control(node):
            times = atime_ns is not None or mtime_ns is not None
            return self.view.controls.control_setattr(
                node.name, node.ino, fh, size=size, times=times, caller=caller
            )
        for ns in (atime_ns, mtime_ns):
            if ns is not None and not (ISO_DATE_RANGE[0] <= ns // 10**9 <= ISO_DATE_RANGE[1]):
                raise UsageError("discs store dates from 1900 to 2155 only")
        disc, st = node.disc, None if node.detached else self.view.staged_stat(node)
        asked = {"mode": mode, "uid": uid, "gid": gid, "atime_ns": atime_ns, "mtime_ns": mtime_ns}
        if (
            disc is not None
            and stat.S_ISDIR(disc.mode)
            and node is not self.view.root
            and (st is None or stat.S_ISDIR(st.st_mode))
        ):
            # A burned directory: its next session's records will show it.
            if size is not None:
                raise os_error(errno.EISDIR)
            self.view.dir_attrs.set(node.rel, disc, st, asked)
            return self.get(node)
        if disc is not None and st is None and size is None:
            shown = self.get(node)
            if unchanged(disc, shown.mode, asked):
                return shown  # what the disc has: nothing to change
        with self.view.files.target(node, fh, size) as target:
            st = target.stat()
            if size is not None:
                if not stat.S_ISREG(st.st_mode):
                    raise os_error(errno.EINVAL)
                target.truncate(st, size)
            if mode is not None:
                if stat.S_ISLNK(st.st_mode):
                    raise os_error(errno.EPERM)
                target.chmod(mode)
            if uid is not None or gid is not None:
                target.chown(-1 if uid is None else uid, -1 if gid is None else gid)
            if atime_ns is not None or mtime_ns is not None:
                target.utime(atime_ns, mtime_ns)
        return self.get(node)
