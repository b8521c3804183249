"""Private files and directories: the one place cdfs creates the files
that hold a user's data or state, so that other local users can neither
read them nor redirect them.

Owns the rules for them: directories 0700 and files 0600 whatever the
umask; never created or changed through a symbolic link (``O_NOFOLLOW``,
``O_EXCL``, unpredictable temporary names); an existing too-open directory
is tightened only when the user owns it.  What the files contain, and where
they live (:mod:`cdfs.paths`), is other modules' business.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700; an existing
    directory is left as it is."""
    missing = []
    for p in (path, *path.parents):
        if os.path.isdir(p):
            break
        missing.append(p)
    for p in reversed(missing):
        try:
            os.mkdir(p, DIR_MODE)
        except FileExistsError:
            continue
        _set_mode(p, lambda _mode: DIR_MODE)


def tighten(path: Path) -> None:
    """Take group and other bits away from the directory ``path`` when the
    user owns it.  A symbolic link (the user's own arrangement, or not) and
    anything owned by someone else are left alone."""
    if _set_mode(path, lambda mode: mode & ~0o077):
        log.info("made %s private (no access for group and others)", path)


def _set_mode(path: Path, new: Callable[[int], int]) -> bool:
    """Give the directory ``path`` the mode ``new(mode)`` if the user owns
    it and it is not a link; True if that changed it."""
    try:
        fd = os.open(path, _DIR)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            return False
        raise
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != os.geteuid() or new(mode) == mode:
            return False
        os.fchmod(fd, new(mode))
        return True
    finally:
        os.close(fd)


def own_dir(path: Path) -> Path:
    """``path`` as a private directory of cdfs's own: created 0700 when
    missing, tightened when too open."""
    make_dirs(path)
    tighten(path)
    return path


def open_file(path: Path, flags: int) -> int:
    """Open (creating if needed) the file ``path``, never through a
    symbolic link, and make it 0600; returns the descriptor."""
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_unique(directory: Path, prefix: str, suffix: str) -> Path:
    """A new empty 0600 file in ``directory`` whose name is ``prefix``, 16
    random hex digits and ``suffix``: no one can guess it beforehand, and
    nothing that was there already (a planted link) is ever opened."""
    fd, path = _new_file(directory, prefix, suffix)
    os.close(fd)
    return path


def _new_file(directory: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    while True:
        path = directory / f"{prefix}{secrets.token_hex(8)}{suffix}"
        try:
            fd = os.open(path, _NEW, FILE_MODE)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, FILE_MODE)  # exactly 0600, whatever the umask
        except BaseException:
            os.close(fd)
            raise
        return fd, path


def write_file(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Replace ``path`` by a 0600 file holding ``data``, atomically: a new
    temporary file (unpredictable name, never a link) renamed over it.
    With ``sync``, the data and the rename reach the disk before returning."""
    fd, tmp = _new_file(path.parent, f".{path.name}.", ".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
