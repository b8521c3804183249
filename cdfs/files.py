"""Open files of the merged view: staged files, files on the disc, and the
control files.

Owns file handles and the copies a write may need first: a rewritable
disc's file copied into staging before it is changed (copy-up), and a
staged file frozen by a running burn copied before it is changed
(copy-on-write), so that a burn never masters a half-written file.  The
tree and its rules are :class:`cdfs.view.View`'s.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from typing import TYPE_CHECKING

from . import names
from .discread import DiscEntry
from .errors import os_error
from .nodes import Handle, Node
from .staging import join
from .units import SECTOR_SIZE

if TYPE_CHECKING:
    from .view import View

log = logging.getLogger(__name__)


class Files:
    """File handles over a :class:`~cdfs.view.View`."""

    def __init__(self, view: View) -> None:
        self.view = view

    def open(self, node: Node, flags: int) -> Handle:
        if self.view.is_control(node):
            return self.view.controls.control_open(node.name, flags)
        acc = flags & os.O_ACCMODE
        wants_write = acc != os.O_RDONLY or bool(flags & os.O_TRUNC)
        st = self.view.staged_stat(node)
        disc = node.disc
        if (
            st is None
            and wants_write
            and disc is not None
            and self.view.rewritable
            and stat.S_ISREG(disc.mode)
        ):
            st = self.copy_up(node, keep_data=not flags & os.O_TRUNC)
        if st is None or (disc is not None and stat.S_ISDIR(disc.mode)):
            if disc is None:
                raise os_error(errno.ENOENT)
            if wants_write:
                raise self.view.refuse_on_disc(node, "change")
            if stat.S_ISDIR(disc.mode):
                raise os_error(errno.EISDIR)
            return Handle(node, disc=disc)
        if not stat.S_ISREG(st.st_mode):
            raise os_error(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL)
        if wants_write:
            self.unshare(node, st, keep_data=not flags & os.O_TRUNC)
        if flags & os.O_TRUNC:
            self.view.budget.resize(node.size if node.size >= 0 else st.st_size, 0)
        keep = os.O_TRUNC if flags & os.O_TRUNC else 0
        fd = self.view.upper.open(node.rel, acc | keep)
        if node.size < 0 or flags & os.O_TRUNC:
            node.size = os.fstat(fd).st_size
        if wants_write:
            node.writers += 1
        return Handle(node, fd, writable=wants_write)

    def copy_up(self, node: Node, *, keep_data: bool) -> os.stat_result:
        """Stage a replacement of a file of a rewritable disc: a staged copy
        with its bytes (unless about to be truncated) and attributes."""
        e, parent = node.disc, node.parent
        assert e is not None and parent is not None
        size = e.size if keep_data else 0
        self.view.budget.resize(0, size)  # ENOSPC before copying anything
        self.view._ensure_upper_dir(parent)
        rel = node.rel
        fd = self.view.upper.open(rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(e.mode))
        try:
            for off in range(0, size, 1 << 20):
                os.write(fd, self.read_disc(e, off, 1 << 20))
            os.fchmod(fd, stat.S_IMODE(e.mode))
            if os.geteuid() == 0:
                os.fchown(fd, e.uid, e.gid)
            os.utime(fd, ns=(e.atime_ns, e.mtime_ns))
        except BaseException:
            self.view.upper.unlink(rel)
            self.view.budget.resize(size, 0)
            raise
        finally:
            os.close(fd)
        st = self.view.upper.lstat(rel)
        assert st is not None
        return st

    def unshare(self, node: Node, st: os.stat_result, *, keep_data: bool) -> None:
        """A running burn holds a hard link to this file: give the staged
        name a copy of its own, so the burn masters the old bytes unchanged."""
        if st.st_nlink <= 1 or not stat.S_ISREG(st.st_mode):
            return
        rel = node.rel
        tmp = join(node.parent.rel if node.parent else b"", names.COW_PREFIX + b"%d" % node.ino)
        self.view.upper.copy_file(rel, tmp, with_data=keep_data)
        self.view.upper.rename(tmp, rel)
        log.debug("copy-on-write of %r during a burn", rel)

    def read(self, fh: Handle, off: int, size: int) -> bytes:
        if fh.fd >= 0:
            return os.pread(fh.fd, size, off)
        if fh.disc is not None:
            return self.read_disc(fh.disc, off, size)
        return bytes(fh.data[off : off + size])

    def read_disc(self, e: DiscEntry, off: int, size: int) -> bytes:
        out = bytearray()
        end = min(off + size, e.size)
        pos = 0
        assert self.view.reader is not None
        for lba, length in e.extents:
            lo, hi = max(off, pos), min(end, pos + length)
            if lo < hi:
                self.view.reader.seek(lba * SECTOR_SIZE + (lo - pos))
                out += self.view.reader.read(hi - lo)
            pos += length
            if pos >= end:
                break
        return bytes(out)

    def write(self, fh: Handle, off: int, buf: bytes) -> int:
        if self.view.is_control(fh.node):
            return self.view.controls.control_write(fh, off, buf)
        if fh.fd < 0 or not fh.writable:
            raise os_error(errno.EBADF)
        node = fh.node
        end = off + len(buf)
        if end > node.size:
            self.view.budget.resize(node.size, end)
            node.size = end
        return os.pwrite(fh.fd, buf, off)

    def flush(self, fh: Handle) -> None:
        if self.view.is_control(fh.node):
            self.view.controls.control_flush(fh)

    def release(self, fh: Handle) -> None:
        if self.view.is_control(fh.node):
            self.view.controls.control_release(fh)
            return
        if fh.fd >= 0:
            os.close(fh.fd)
        if fh.writable:
            fh.node.writers -= 1
        if fh.node.writers <= 0:
            fh.node.writers = 0
            fh.node.size = -1

    def fsync(self, fh: Handle, datasync: bool) -> None:
        if fh.fd >= 0:
            (os.fdatasync if datasync else os.fsync)(fh.fd)
