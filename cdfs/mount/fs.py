"""The FUSE adapter: turns kernel requests into calls on the merged view.

Only this module imports pyfuse3.  It owns the translation of errors into
errnos (a handler never lets anything but FUSEError escape: a stray
exception would end the daemon and leave every process with ENOTCONN),
attribute caching timeouts, and file handle numbers.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

import pyfuse3

from cdfs import names
from cdfs.errors import CdfsError
from cdfs.mount.view import Attr, Caller, Handle, View

log = logging.getLogger(__name__)

# The daemon is the only writer of the staging tree and the disc, so the
# kernel may cache attributes and names for a few seconds.
ATTR_TIMEOUT = 5.0
ENTRY_TIMEOUT = 5.0

P = ParamSpec("P")
T = TypeVar("T")


def _errors(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Map domain errors to FUSEError; log and answer EIO for bugs."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except CdfsError as exc:
            log.info("%s: %s", fn.__name__, exc)
            raise pyfuse3.FUSEError(exc.errno) from None
        except OSError as exc:
            raise pyfuse3.FUSEError(exc.errno or errno.EIO) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


def entry(attr: Attr) -> pyfuse3.EntryAttributes:
    e = pyfuse3.EntryAttributes()
    e.st_ino = attr.ino
    e.st_mode = attr.mode
    e.st_nlink = attr.nlink
    e.st_uid = attr.uid
    e.st_gid = attr.gid
    e.st_size = attr.size
    e.st_blocks = attr.blocks
    # cp and others size their buffers from st_blksize: 1 MiB, the largest
    # FUSE write, halves the requests of a big copy (measured: BENCHMARKS.md).
    e.st_blksize = 1 << 20
    e.st_atime_ns = attr.atime_ns
    e.st_mtime_ns = attr.mtime_ns
    e.st_ctime_ns = attr.ctime_ns
    e.attr_timeout = ATTR_TIMEOUT
    e.entry_timeout = ENTRY_TIMEOUT
    return e


def caller(ctx: Any) -> Caller:
    return Caller(ctx.uid, ctx.gid, ctx.pid)


class Operations(pyfuse3.Operations):
    """pyfuse3 handlers over a :class:`View`."""

    supports_dot_lookup = True
    enable_writeback_cache = False
    enable_acl = False

    def __init__(self, view: View) -> None:
        super().__init__()
        self.view = view
        self.handles: dict[int, Handle] = {}
        self.dirs: dict[int, list[tuple[bytes, Attr]]] = {}
        self._next_fh = 1

    def _fh(self, handle: Handle) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = handle
        return fh

    def _handle(self, fh: int) -> Handle:
        try:
            return self.handles[fh]
        except KeyError:
            raise pyfuse3.FUSEError(errno.EBADF) from None

    # -- names and attributes -------------------------------------------

    @_errors
    async def lookup(self, parent_inode: Any, name: Any, ctx: Any = None) -> Any:
        view = self.view
        node = view.lookup(view.node(parent_inode), bytes(name))
        return entry(view.getattr(node))

    @_errors
    async def forget(self, inode_list: Sequence[tuple[Any, int]]) -> None:
        return None

    @_errors
    async def getattr(self, inode: Any, ctx: Any = None) -> Any:
        return entry(self.view.getattr(self.view.node(inode)))

    @_errors
    async def setattr(self, inode: Any, attr: Any, fields: Any, fh: Any, ctx: Any) -> Any:
        view = self.view
        node = view.node(inode)
        handle = self.handles.get(fh) if fh is not None else None
        result = view.attrs.set(
            node,
            size=attr.st_size if fields.update_size else None,
            mode=attr.st_mode if fields.update_mode else None,
            uid=attr.st_uid if fields.update_uid else None,
            gid=attr.st_gid if fields.update_gid else None,
            atime_ns=attr.st_atime_ns if fields.update_atime else None,
            mtime_ns=attr.st_mtime_ns if fields.update_mtime else None,
            fh=handle,
            caller=caller(ctx),
        )
        return entry(result)

    @_errors
    async def readlink(self, inode: Any, ctx: Any) -> Any:
        return self.view.readlink(self.view.node(inode))

    # -- directories ------------------------------------------------------

    @_errors
    async def opendir(self, inode: Any, ctx: Any) -> Any:
        view = self.view
        listing = view.listdir(view.node(inode))
        fh = self._next_fh
        self._next_fh += 1
        self.dirs[fh] = listing
        return fh

    @_errors
    async def readdir(self, fh: Any, start_id: int, token: Any) -> None:
        listing = self.dirs.get(fh, [])
        for i in range(start_id, len(listing)):
            name, attr = listing[i]
            if not pyfuse3.readdir_reply(token, name, entry(attr), i + 1):
                break

    @_errors
    async def releasedir(self, fh: Any) -> None:
        self.dirs.pop(fh, None)

    @_errors
    async def mkdir(self, parent_inode: Any, name: Any, mode: Any, ctx: Any) -> Any:
        view = self.view
        node = view.mkdir(view.node(parent_inode), bytes(name), mode & ~ctx.umask, ctx.uid, ctx.gid)
        return entry(view.getattr(node))

    @_errors
    async def rmdir(self, parent_inode: Any, name: Any, ctx: Any) -> None:
        self.view.rmdir(self.view.node(parent_inode), bytes(name))

    @_errors
    async def unlink(self, parent_inode: Any, name: Any, ctx: Any) -> None:
        self.view.unlink(self.view.node(parent_inode), bytes(name))

    @_errors
    async def rename(
        self,
        parent_inode_old: Any,
        name_old: Any,
        parent_inode_new: Any,
        name_new: Any,
        flags: Any,
        ctx: Any,
    ) -> None:
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise pyfuse3.FUSEError(errno.EINVAL)
        view = self.view
        view.rename(
            view.node(parent_inode_old),
            bytes(name_old),
            view.node(parent_inode_new),
            bytes(name_new),
            noreplace=bool(flags & pyfuse3.RENAME_NOREPLACE),
        )

    @_errors
    async def symlink(self, parent_inode: Any, name: Any, target: Any, ctx: Any) -> Any:
        view = self.view
        node = view.symlink(view.node(parent_inode), bytes(name), bytes(target), ctx.uid, ctx.gid)
        return entry(view.getattr(node))

    @_errors
    async def link(self, inode: Any, new_parent_inode: Any, new_name: Any, ctx: Any) -> Any:
        view = self.view
        node = view.link(view.node(inode), view.node(new_parent_inode), bytes(new_name))
        return entry(view.getattr(node))

    @_errors
    async def mknod(self, parent_inode: Any, name: Any, mode: Any, rdev: int, ctx: Any) -> Any:
        import stat

        if not stat.S_ISREG(mode):
            # Device nodes, FIFOs and sockets cannot be burned meaningfully.
            raise pyfuse3.FUSEError(errno.EPERM)
        view = self.view
        node, handle = view.create(
            view.node(parent_inode), bytes(name), mode & ~ctx.umask, os.O_WRONLY, ctx.uid, ctx.gid
        )
        view.files.release(handle)
        return entry(view.getattr(node))

    # -- files ------------------------------------------------------------

    @_errors
    async def create(self, parent_inode: Any, name: Any, mode: Any, flags: Any, ctx: Any) -> Any:
        view = self.view
        parent = view.node(parent_inode)
        if parent is view.root and bytes(name) in view.control_inos:
            node = view.lookup(parent, bytes(name))
            handle = view.files.open(node, flags, caller(ctx))
        else:
            node, handle = view.create(
                parent, bytes(name), mode & ~ctx.umask, flags, ctx.uid, ctx.gid, caller(ctx)
            )
        return self._file_info(handle, flags), entry(view.getattr(node))

    def _file_info(self, handle: Handle, flags: int) -> pyfuse3.FileInfo:
        # Control files are made up on each open: no page cache.  Staged
        # files opened write-only (cp, dd, rsync, shell redirection) bypass
        # the kernel's page cache too: the bytes are written once, into the
        # staging file, instead of being kept twice (measured: BENCHMARKS.md).
        # A write-only descriptor cannot be mmap()ed, so nothing is lost.
        direct = handle.fd < 0 and handle.disc is None
        direct |= handle.fd >= 0 and flags & os.O_ACCMODE == os.O_WRONLY
        return pyfuse3.FileInfo(
            fh=self._fh(handle), direct_io=direct, keep_cache=handle.disc is not None
        )

    @_errors
    async def open(self, inode: Any, flags: Any, ctx: Any) -> Any:
        view = self.view
        return self._file_info(view.files.open(view.node(inode), flags, caller(ctx)), flags)

    @_errors
    async def read(self, fh: Any, off: int, size: int) -> bytes:
        return self.view.files.read(self._handle(fh), off, size)

    @_errors
    async def write(self, fh: Any, off: int, buf: bytes) -> int:
        return self.view.files.write(self._handle(fh), off, buf)

    @_errors
    async def flush(self, fh: Any) -> None:
        self.view.files.flush(self._handle(fh))

    @_errors
    async def release(self, fh: Any) -> None:
        handle = self.handles.pop(fh, None)
        if handle is not None:
            self.view.files.release(handle)

    @_errors
    async def fsync(self, fh: Any, datasync: bool) -> None:
        self.view.files.fsync(self._handle(fh), datasync)

    # -- file system ------------------------------------------------------

    @_errors
    async def statfs(self, ctx: Any) -> Any:
        space = self.view.space()  # the figures .status shows (cdfs.mount.space)
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 2048
        s.f_blocks = space.capacity
        s.f_bfree = s.f_bavail = space.still_fits
        s.f_ffree = s.f_favail = space.free_entries
        s.f_files = space.entries + space.free_entries
        s.f_namemax = 255
        return s

    # -- extended attributes ----------------------------------------------

    @_errors
    async def getxattr(self, inode: Any, name: Any, ctx: Any) -> bytes:
        name = bytes(name)
        view = self.view
        if name == names.STATE_XATTR:
            return view.state(view.node(inode))
        if name == names.STATUS_XATTR and inode == pyfuse3.ROOT_INODE:
            return view.controls.status_json()
        if not name.startswith(b"user."):
            # cdfs keeps no security.*, system.* (ACLs) or trusted.*
            # attributes.  "Not supported" rather than "no such attribute":
            # ls -l then stops asking for the SELinux label and the ACL of
            # every file on this mount (2 FUSE requests per file listed).
            raise pyfuse3.FUSEError(errno.EOPNOTSUPP)
        raise pyfuse3.FUSEError(pyfuse3.ENOATTR)

    @_errors
    async def listxattr(self, inode: Any, ctx: Any) -> Any:
        # cdfs's own attributes answer by name but are not listed: tools
        # that copy attributes (rsync -X, cp --preserve=all, tar --xattrs)
        # would otherwise copy them off the mount, or try to remove them
        # from a file they copy onto it and fail.
        return []

    @_errors
    async def setxattr(self, inode: Any, name: Any, value: Any, ctx: Any) -> None:
        if inode == pyfuse3.ROOT_INODE and bytes(name) == names.ERASE_XATTR:
            self.view.controls.control_setxattr(bytes(name), bytes(value), caller(ctx))
            return
        raise pyfuse3.FUSEError(errno.ENOTSUP)

    @_errors
    async def removexattr(self, inode: Any, name: Any, ctx: Any) -> None:
        name = bytes(name)
        if name in (names.STATE_XATTR, names.STATUS_XATTR, names.ERASE_XATTR):
            raise pyfuse3.FUSEError(errno.EPERM)  # cdfs's own: not the user's to remove
        if not name.startswith(b"user."):
            raise pyfuse3.FUSEError(errno.EOPNOTSUPP)
        raise pyfuse3.FUSEError(pyfuse3.ENOATTR)  # there is no such attribute
