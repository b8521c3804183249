"""The drive lock: one recording or erase at a time on a recorder, among
all the processes of its user (a mount, ``cdfs burn-image``, ``cdfs
erase``).

Owns where that lock lives and how it is taken: an flock on a 0600 file in
the user's private lock directory (:func:`cdfs.paths.lock_dir`, 0700), so
that no other user can open it, let alone hold it.  Locking the disc image
itself would let anyone who can read the image block every burn.  The file
exists only while the lock is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from cdfs import paths, private
from cdfs.errors import BurnInProgressError, RecorderError


@contextlib.contextmanager
def hold(ident: str, what: str, *, raise_if_busy: bool) -> Iterator[bool]:
    """Hold the lock of recorder ``ident`` (``what`` names it in errors);
    when another process holds it, yield False or raise."""
    fd = _take(ident, what)
    if fd is None:
        if raise_if_busy:
            raise BurnInProgressError(f"{what} is busy recording or erasing")
        yield False
        return
    try:
        yield True
    finally:
        # Removed while still held: whoever opened it meanwhile sees that
        # it is gone once they have it, and starts again (see _take).
        with contextlib.suppress(OSError):
            os.unlink(_path(ident))
        os.close(fd)


def _path(ident: str) -> Path:
    return paths.lock_dir() / f"{ident}.lock"


def _take(ident: str, what: str) -> int | None:
    """The descriptor that holds the lock, or None if someone else has it."""
    while True:
        try:
            private.own_dir(paths.lock_dir())
            fd = private.open_file(_path(ident), os.O_RDWR)
        except OSError as exc:
            raise RecorderError(
                f"cannot take the lock of {what} in {paths.lock_dir()}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if _still_there(fd, _path(ident)):
            return fd
        os.close(fd)  # its last holder removed it before we had it: again


def _still_there(fd: int, path: Path) -> bool:
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)
