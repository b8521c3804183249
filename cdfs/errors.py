"""The one error hierarchy of cdfs.

Every error knows the errno the FUSE adapter answers with and the exit code
the command line returns; its message is one plain sentence for the user.
Anything that is not a :class:`CdfsError` is a bug.
"""

from __future__ import annotations

import errno as _errno
import os as _os


def os_error(code: int) -> OSError:
    """A plain OSError for an errno, with the system's message."""
    return OSError(code, _os.strerror(code))


class CdfsError(Exception):
    """Base class: a failure that can be explained to the user in one line."""

    errno: int = _errno.EIO
    exit_code: int = 1


class UsageError(CdfsError):
    """The user asked for something malformed (bad option, bad value)."""

    errno = _errno.EINVAL
    exit_code = 2


class NameTooLongError(UsageError):
    """A name is longer than what the disc (or names=strict) can carry."""

    errno = _errno.ENAMETOOLONG


class ConfigError(UsageError):
    """A configuration key or value is unknown or invalid."""


class NotFoundError(CdfsError):
    """A named file, disc image or device does not exist."""

    errno = _errno.ENOENT
    exit_code = 3


class MediaError(CdfsError):
    """The disc or its image cannot be read or is malformed."""

    errno = _errno.EIO
    exit_code = 4


class InvalidImageError(MediaError):
    """An ISO 9660 session on the disc could not be parsed."""


class WriteOnceError(CdfsError):
    """Something already written to write-once media cannot be changed."""

    errno = _errno.EPERM
    exit_code = 5


class DiscChangedError(CdfsError):
    """The disc in the drive is not the one the staging area was built on."""

    errno = _errno.ESTALE
    exit_code = 5


class NotWritableError(CdfsError):
    """The disc is closed, full, pressed, or missing."""

    errno = _errno.EROFS
    exit_code = 5


class NoDiscError(NotWritableError):
    """The drive is empty (the tray is open, or no disc is in it)."""


class NoSpaceError(CdfsError):
    """What is staged (or the stash) does not fit."""

    errno = _errno.ENOSPC
    exit_code = 6


class RecorderError(CdfsError):
    """The recorder failed while writing, erasing or reading."""

    errno = _errno.EIO
    exit_code = 7


class VerificationError(RecorderError):
    """The recorded session differs from the stash file."""


class DriveBusyError(RecorderError):
    """Another program holds the drive (a desktop's auto-mount of the disc,
    another burning program)."""

    errno = _errno.EBUSY
    exit_code = 8


class BurnInProgressError(CdfsError):
    """An operation that needs an idle recorder found a burn running."""

    errno = _errno.EBUSY
    exit_code = 8


class BusyError(CdfsError):
    """Something is in use: a mount that programs still use, a drive."""

    errno = _errno.EBUSY
    exit_code = 8


class NotMountedError(CdfsError):
    """A command that talks to a mount was given something that is not one."""

    errno = _errno.ENOTCONN
    exit_code = 3


class PolicyError(CdfsError):
    """The system's burn policy does not let this user burn or erase."""

    errno = _errno.EACCES
    exit_code = 9
