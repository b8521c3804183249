"""The staging tree on the local disk: the writable upper layer.

Owns the directory where staged files wait (one per recorder, under the XDG
data directory) and every system call on it.  Paths are relative byte
strings (``b"photos/a.jpg"``; ``b""`` is the root) resolved against an
``O_PATH`` descriptor of the tree, so that renames of the tree's parent and
paths longer than PATH_MAX both keep working.  It knows nothing of discs,
inodes or FUSE.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from cdfs import names

# A relative path longer than this is resolved component-wise, because the
# kernel refuses any single path argument of PATH_MAX (4096) bytes or more.
_MAX_REL = 3000

_OPEN_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class Upper:
    """System calls on the staging tree, addressed by relative byte paths."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.root_fd = os.open(root, _OPEN_DIR)

    def close(self) -> None:
        os.close(self.root_fd)

    @contextlib.contextmanager
    def _at(self, rel: bytes) -> Iterator[tuple[int, bytes]]:
        """Yield (directory fd, name) naming ``rel`` for the *at() calls."""
        if not rel:
            yield self.root_fd, b"."
            return
        if len(rel) < _MAX_REL:
            yield self.root_fd, rel
            return
        parts = rel.split(b"/")
        fd = os.dup(self.root_fd)
        try:
            chunk: list[bytes] = []
            for part in parts[:-1]:
                chunk.append(part)
                if sum(len(c) + 1 for c in chunk) > _MAX_REL // 2:
                    new = os.open(b"/".join(chunk), _OPEN_DIR, dir_fd=fd)
                    os.close(fd)
                    fd, chunk = new, []
            yield fd, b"/".join([*chunk, parts[-1]])
        finally:
            os.close(fd)

    def lstat(self, rel: bytes) -> os.stat_result | None:
        """The entry's lstat, or None when it does not exist."""
        try:
            with self._at(rel) as (fd, name):
                return os.lstat(name, dir_fd=fd)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, rel: bytes) -> bool:
        return self.lstat(rel) is not None

    def open(self, rel: bytes, flags: int, mode: int = 0o600) -> int:
        with self._at(rel) as (fd, name):
            return os.open(name, flags | os.O_CLOEXEC | os.O_NOFOLLOW, mode, dir_fd=fd)

    def mkdir(self, rel: bytes, mode: int) -> None:
        with self._at(rel) as (fd, name):
            os.mkdir(name, mode, dir_fd=fd)

    def rmdir(self, rel: bytes) -> None:
        with self._at(rel) as (fd, name):
            os.rmdir(name, dir_fd=fd)

    def unlink(self, rel: bytes) -> None:
        with self._at(rel) as (fd, name):
            os.unlink(name, dir_fd=fd)

    def symlink(self, rel: bytes, target: bytes) -> None:
        with self._at(rel) as (fd, name):
            os.symlink(target, name, dir_fd=fd)

    def readlink(self, rel: bytes) -> bytes:
        with self._at(rel) as (fd, name):
            return os.readlink(name, dir_fd=fd)

    def rename(self, src: bytes, dst: bytes) -> None:
        with self._at(src) as (sfd, sname), self._at(dst) as (dfd, dname):
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)

    def link(self, rel: bytes, dst_dir_fd: int, dst_name: bytes) -> None:
        with self._at(rel) as (fd, name):
            os.link(name, dst_name, src_dir_fd=fd, dst_dir_fd=dst_dir_fd, follow_symlinks=False)

    def hardlink(self, src: bytes, dst: bytes) -> None:
        """A new name ``dst`` for the file ``src`` (never through a symlink)."""
        with self._at(src) as (sfd, sname), self._at(dst) as (dfd, dname):
            os.link(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)

    def names_of(self, st: os.stat_result, count: int) -> list[bytes]:
        """Up to ``count`` paths of the file ``st`` (by inode number), found
        by walking the tree (d_ino from readdir: no stat per entry)."""
        found: list[bytes] = []
        todo = [b""]
        while todo and len(found) < count:
            rel = todo.pop()
            with self._at(rel) as (pfd, name):
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
            try:
                with os.scandir(fd) as it:
                    for e in it:
                        path = join(rel, os.fsencode(e.name))
                        if e.is_dir(follow_symlinks=False):
                            todo.append(path)
                        elif e.inode() == st.st_ino:
                            found.append(path)
            finally:
                os.close(fd)
        return found[:count]

    def chmod(self, rel: bytes, mode: int) -> None:
        with self._at(rel) as (fd, name):
            os.chmod(name, stat.S_IMODE(mode), dir_fd=fd)

    def chown(self, rel: bytes, uid: int, gid: int) -> None:
        with self._at(rel) as (fd, name):
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)

    def utime(self, rel: bytes, atime_ns: int, mtime_ns: int) -> None:
        with self._at(rel) as (fd, name):
            os.utime(name, ns=(atime_ns, mtime_ns), dir_fd=fd, follow_symlinks=False)

    def truncate(self, rel: bytes, size: int) -> None:
        fd = self.open(rel, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def listdir(self, rel: bytes) -> list[tuple[bytes, bool]]:
        """(name, is_dir) of each entry of the directory, unsorted."""
        with self._at(rel) as (pfd, name):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
        try:
            with os.scandir(fd) as it:
                return [(os.fsencode(e.name), e.is_dir(follow_symlinks=False)) for e in it]
        finally:
            os.close(fd)

    def scan(self, rel: bytes) -> dict[bytes, os.stat_result]:
        """Every entry of the directory with its lstat, from one scandir."""
        with self._at(rel) as (pfd, name):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
        try:
            with os.scandir(fd) as it:
                return {os.fsencode(e.name): e.stat(follow_symlinks=False) for e in it}
        finally:
            os.close(fd)

    def copy_file(self, rel: bytes, tmp: bytes, *, with_data: bool) -> None:
        """Copy a regular file (data, mode, owner, times) to ``tmp``."""
        st = self.lstat(rel)
        assert st is not None
        src = self.open(rel, os.O_RDONLY)
        try:
            dst = self.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(st.st_mode))
            try:
                if with_data:
                    with (
                        os.fdopen(src, "rb", closefd=False) as fin,
                        os.fdopen(dst, "wb", closefd=False) as fout,
                    ):
                        shutil.copyfileobj(fin, fout, 1 << 20)
                os.fchmod(dst, stat.S_IMODE(st.st_mode))
                with contextlib.suppress(PermissionError):
                    os.fchown(dst, st.st_uid, st.st_gid)
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dst)
        finally:
            os.close(src)

    def walk(self) -> Iterator[tuple[bytes, list[bytes], list[bytes], int]]:
        """os.fwalk of the tree: (rel dir, dir names, other names, dir fd)."""
        for top, dirs, files, fd in os.fwalk(b".", dir_fd=self.root_fd):
            rel = b"" if top == b"." else top[2:]
            dirs.sort()
            yield rel, dirs, sorted(files), fd

    # -- bookkeeping markers (see names.py) --------------------------------

    def is_whiteout(self, parent: bytes, name: bytes) -> bool:
        return self.lstat(join(parent, names.WHITEOUT_PREFIX + name)) is not None

    def add_whiteout(self, parent: bytes, name: bytes) -> None:
        fd = self.open(join(parent, names.WHITEOUT_PREFIX + name), os.O_WRONLY | os.O_CREAT)
        os.close(fd)

    def clear_whiteout(self, parent: bytes, name: bytes) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.unlink(join(parent, names.WHITEOUT_PREFIX + name))

    def is_opaque(self, rel: bytes) -> bool:
        return self.lstat(join(rel, names.OPAQUE_MARKER)) is not None

    def set_opaque(self, rel: bytes) -> None:
        os.close(self.open(join(rel, names.OPAQUE_MARKER), os.O_WRONLY | os.O_CREAT))

    def remove_tree(self, rel: bytes) -> None:
        """Remove a staged directory and everything in it."""
        with self._at(rel) as (pfd, name):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
        try:
            with os.scandir(fd) as it:
                entries = [(os.fsencode(e.name), e.is_dir(follow_symlinks=False)) for e in it]
        finally:
            os.close(fd)
        for name_, is_dir in entries:
            if is_dir:
                self.remove_tree(join(rel, name_))
            else:
                self.unlink(join(rel, name_))
        self.rmdir(rel)


def is_reserved(name: bytes) -> bool:
    return name.startswith(names.RESERVED_PREFIX)


def join(parent: bytes, name: bytes) -> bytes:
    """The relative path of ``name`` inside the relative directory ``parent``."""
    return parent + b"/" + name if parent else name
