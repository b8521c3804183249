"""Open files of the merged view: staged files, files on the disc, and the
control files.

Owns file handles and the copies a write may need first: a rewritable
disc's file copied into staging before it is changed (copy-up), and a
staged file frozen by a running burn copied before it is changed
(copy-on-write), so that a burn never masters a half-written file.  Owns
too what reaches a file through its descriptors: a file whose name is gone
(unlinked, or replaced by a rename) stays usable through the handles still
open on it, and a write clears setuid/setgid bits as the kernel would.  The
tree and its rules are :class:`cdfs.mount.view.View`'s.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from types import TracebackType
from typing import BinaryIO, Protocol

from cdfs import names
from cdfs.errors import UsageError, WriteOnceError, os_error
from cdfs.iso.discread import DiscEntry
from cdfs.mount.hardlinks import HardLinks, LinkView
from cdfs.mount.nodes import Caller, Controls, Handle, Node
from cdfs.mount.staging import join
from cdfs.units import SECTOR_SIZE

log = logging.getLogger(__name__)

CAP_FSETID = 4  # linux/capability.h


class FileView(LinkView, Protocol):
    """What open files need of the merged view (:class:`cdfs.mount.view.View`
    has it) beyond what hard links need: the control files, the disc's
    reader and the hard links themselves.  A protocol, so that this module,
    which the view uses, does not import it."""

    controls: Controls
    reader: BinaryIO | None
    links: HardLinks

    def refuse_on_disc(self, node: Node, what: str) -> WriteOnceError: ...


class Files:
    """File handles over a :class:`~cdfs.mount.view.View`."""

    def __init__(self, view: FileView) -> None:
        self.view = view

    def open(self, node: Node, flags: int, caller: Caller | None = None) -> Handle:
        if self.view.is_control(node):
            return self.view.controls.control_open(node.name, flags, caller)
        handle = self._reopen(node, flags) if node.detached else self._open(node, flags)
        handle.caller = caller
        node.handles.append(handle)
        return handle

    def _open(self, node: Node, flags: int) -> Handle:
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
        return Handle(node, fd, writable=wants_write)

    def _reopen(self, node: Node, flags: int) -> Handle:
        """Open a detached file again (open("/proc/PID/fd/N")), through one
        of its handles."""
        wants_write = flags & os.O_ACCMODE != os.O_RDONLY or bool(flags & os.O_TRUNC)
        staged = [h for h in node.handles if h.fd >= 0]
        if staged:
            fd = _reopen_fd(staged[0].fd, flags & (os.O_ACCMODE | os.O_TRUNC))
            return Handle(node, fd, writable=wants_write)
        if not node.handles:
            raise os_error(errno.ESTALE)
        if wants_write:
            raise os_error(errno.EPERM)  # a deleted file of the disc
        return Handle(node, disc=node.handles[0].disc)

    def orphan_source(self, node: Node) -> tuple[os.stat_result | None, DiscEntry | None]:
        """What a detached file's attributes come from: the fstat of one of
        its staged descriptors, or the disc entry of one of its handles."""
        for h in node.handles:
            if h.fd >= 0:
                return os.fstat(h.fd), None
        for h in node.handles:
            if h.disc is not None:
                return None, h.disc
        raise os_error(errno.ESTALE)

    def target(self, node: Node, fh: Handle | None, size: int | None) -> Target:
        """What a setattr of ``node`` changes: its staged file (copied up
        first from a rewritable disc), or a detached file's descriptor."""
        if node.detached:
            return self._orphan_target(node, fh, resize=size is not None)
        view = self.view
        st = view.staged_stat(node)
        if node is not view.root and (
            st is None or (node.disc is not None and stat.S_ISDIR(st.st_mode))
        ):
            disc = node.disc
            if disc is None or not view.rewritable or not stat.S_ISREG(disc.mode):
                raise view.refuse_on_disc(node, "change")
            self.copy_up(node, keep_data=size != 0)
        return Target(self, node, fh)

    def _orphan_target(self, node: Node, fh: Handle | None, *, resize: bool) -> Target:
        handles = [h for h in [fh, *node.handles] if h is not None and h.fd >= 0]
        for h in handles:
            if h.writable or not resize:
                return Target(self, node, fh, h.fd)
        if handles:
            # truncate("/proc/PID/fd/N") of a read-only descriptor.
            return Target(self, node, fh, _reopen_fd(handles[0].fd, os.O_WRONLY), owned=True)
        # Only a deleted file of the disc is open: there is nothing staged
        # to change.
        raise os_error(errno.EPERM if node.handles else errno.ESTALE)

    def copy_up(self, node: Node, *, keep_data: bool) -> os.stat_result:
        """Stage a replacement of a file of a rewritable disc: a staged copy
        with its bytes (unless about to be truncated) and attributes."""
        e, parent = node.disc, node.parent
        assert e is not None and parent is not None
        size = e.size if keep_data else 0
        self.view.budget.resize(0, size)  # ENOSPC before copying anything
        self.view.ensure_upper_dir(parent)
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
        self.view.links.copied_up(node, e)
        st = self.view.upper.lstat(rel)
        assert st is not None
        return st

    def unshare(self, node: Node, st: os.stat_result, *, keep_data: bool) -> None:
        """A running burn's snapshot holds a hard link to this file: give
        its staged names a copy of their own, so the burn masters the old
        bytes unchanged.  Every name of a file the user hard-linked moves to
        the copy, so that they stay one file."""
        view = self.view
        if not stat.S_ISREG(st.st_mode) or not view.frozen.links(st.st_ino):
            return
        rel = node.rel  # ESTALE for a detached node: it has no name to give a copy
        assert node.parent is not None
        others = view.upper.names_of(st, view.links.nlink(st)) if view.links.nlink(st) > 1 else []
        tmp = join(node.parent.rel, names.COW_PREFIX + b"%d" % node.ino)
        view.upper.copy_file(rel, tmp, with_data=keep_data)
        for i, other in enumerate(o for o in others if o != rel):
            parent = other.rpartition(b"/")[0]
            alias = join(parent, names.COW_PREFIX + b"%d.%d" % (node.ino, i))
            view.upper.hardlink(tmp, alias)
            view.upper.rename(alias, other)
        view.upper.rename(tmp, rel)
        if others:
            new = view.upper.lstat(rel)
            assert new is not None
            view.links.note((b"s", new.st_ino), node.ino)
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
        # A detached file is no longer counted against the disc.
        if end > node.size and not node.detached:
            self.view.budget.resize(node.size, end)
            node.size = end
        if fh.caller is not None:
            self._remove_privs(fh)
        return os.pwrite(fh.fd, buf, off)

    def _remove_privs(self, fh: Handle) -> None:
        """Clear setuid (and setgid, with group-execute) on a write by a
        process without CAP_FSETID, as the kernel's file_remove_privs does:
        it does not for a direct_io descriptor (O_WRONLY here), and sends a
        setattr first for the others."""
        mode = os.fstat(fh.fd).st_mode
        kill = mode & stat.S_ISUID
        if mode & stat.S_IXGRP:
            kill |= mode & stat.S_ISGID
        if not kill:
            return
        assert fh.caller is not None
        if fh.fsetid is None:
            fh.fsetid = has_fsetid(fh.caller)
        if not fh.fsetid:
            os.fchmod(fh.fd, stat.S_IMODE(mode) & ~kill)

    def flush(self, fh: Handle) -> None:
        if self.view.is_control(fh.node):
            self.view.controls.control_flush(fh)

    def release(self, fh: Handle) -> None:
        if self.view.is_control(fh.node):
            self.view.controls.control_release(fh)
            return
        if fh.fd >= 0:
            os.close(fh.fd)
        node = fh.node
        if fh in node.handles:
            node.handles.remove(fh)
        if not node.writers:
            node.size = -1
        if node.detached and not node.handles:
            # The last close of an unlinked file: its inode is gone.
            self.view.inodes.pop(node.ino, None)

    def fsync(self, fh: Handle, datasync: bool) -> None:
        if fh.fd >= 0:
            (os.fdatasync if datasync else os.fsync)(fh.fd)


class Target:
    """Where a setattr acts: a staged file by its path, or a detached file
    through a descriptor (``fd``; ``owned`` when opened for this request)."""

    def __init__(
        self, files: Files, node: Node, fh: Handle | None, fd: int = -1, *, owned: bool = False
    ) -> None:
        self.files, self.node, self.fh, self.fd, self.owned = files, node, fh, fd, owned
        self.upper = files.view.upper

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.owned:
            os.close(self.fd)

    def stat(self) -> os.stat_result:
        if self.fd >= 0:
            return os.fstat(self.fd)
        st = self.upper.lstat(self.node.rel)
        if st is None:
            raise os_error(errno.ENOENT)
        return st

    def truncate(self, st: os.stat_result, size: int) -> None:
        if self.fd >= 0:
            os.ftruncate(self.fd, size)  # detached: not counted against the disc
            return
        node, fh = self.node, self.fh
        self.files.unshare(node, st, keep_data=size > 0)
        self.files.view.budget.resize(node.size if node.size >= 0 else st.st_size, size)
        if fh is not None and fh.fd >= 0 and fh.writable:
            os.ftruncate(fh.fd, size)
        else:
            self.upper.truncate(node.rel, size)
        if node.size >= 0:
            node.size = size

    def chmod(self, mode: int) -> None:
        if self.fd >= 0:
            os.fchmod(self.fd, stat.S_IMODE(mode))
        else:
            self.upper.chmod(self.node.rel, mode)

    def chown(self, uid: int, gid: int) -> None:
        if self.fd >= 0:
            os.fchown(self.fd, uid, gid)
        else:
            self.upper.chown(self.node.rel, uid, gid)

    def utime(self, atime_ns: int | None, mtime_ns: int | None) -> None:
        """Set the times given (None: keep), exactly or not at all."""
        cur = self.stat()
        want = (
            cur.st_atime_ns if atime_ns is None else atime_ns,
            cur.st_mtime_ns if mtime_ns is None else mtime_ns,
        )
        self._utime(*want)
        got = self.stat()
        # (A coarser clock, as on ext3, only rounds: discs keep seconds.)
        if any(
            abs(a - b) >= 10**9
            for a, b in zip((got.st_atime_ns, got.st_mtime_ns), want, strict=True)
        ):
            # The staging file system clamped it (ext4 holds 1901-2446):
            # refuse rather than burn another date than the one set.
            self._utime(cur.st_atime_ns, cur.st_mtime_ns)
            raise UsageError("the staging area's file system cannot hold this date")

    def _utime(self, atime_ns: int, mtime_ns: int) -> None:
        if self.fd >= 0:
            os.utime(self.fd, ns=(atime_ns, mtime_ns))
        else:
            self.upper.utime(self.node.rel, atime_ns, mtime_ns)


def _reopen_fd(fd: int, flags: int) -> int:
    """A new descriptor of the file behind ``fd``, which may be unlinked."""
    new = os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)
    if flags & (os.O_ACCMODE | os.O_TRUNC) and os.fstat(new).st_nlink > 0:
        # Still linked although its name is gone: a running burn's
        # snapshot holds it, and must master its bytes unchanged.
        os.close(new)
        raise os_error(errno.EBUSY)
    return new


def has_fsetid(caller: Caller) -> bool:
    """Whether a process holds CAP_FSETID (writes keep setuid/setgid), from
    /proc; whether it ran as root when it is gone."""
    try:
        with open(f"/proc/{caller.pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_FSETID & 1)
    except (OSError, ValueError, IndexError):
        pass
    return caller.uid == 0
