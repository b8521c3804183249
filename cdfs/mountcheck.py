"""Mount-time checks: what must hold before ``cdfs mount`` starts a daemon.

Owns the checks of the mount point (it exists, is a directory, is not a
mount already, is empty unless ``-o nonempty``, and a user who is not root
may write in it, as fusermount3 requires) and of the FUSE device, and the
warning about a stash directory with less free space than a session could
take.  Each refusal is one line saying what is wrong and how to fix it.
The stash directory's own rules are :mod:`cdfs.burn.stash`'s; the command line
calls both before it creates anything or goes into the background.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from cdfs.errors import NotFoundError, UsageError
from cdfs.recorders.media import DiscInfo
from cdfs.recorders.recorder import Recorder

FUSE_DEVICE = Path("/dev/fuse")


def check_mountpoint(mp: Path, *, nonempty: bool = False) -> None:
    """Refuse a mount point that FUSE cannot use, or where the mount would
    hide files (a non-empty directory, unless ``nonempty``)."""
    if not mp.exists():
        raise NotFoundError(f"the mount point {mp} does not exist: create it (mkdir {mp})")
    if not mp.is_dir():
        raise NotFoundError(f"the mount point {mp} is not a directory: mount on a directory")
    if os.path.ismount(mp):
        raise UsageError(f"{mp} is already a mount point: unmount it, or use another directory")
    if os.getuid() != 0 and not os.access(mp, os.W_OK):
        raise UsageError(
            f"you may not write in the mount point {mp}, which FUSE requires of users other "
            "than root: mount on a directory of yours"
        )
    try:
        entries = len(os.listdir(mp))
    except OSError as exc:
        raise UsageError(f"cannot list the mount point {mp}: {exc.strerror}") from None
    if entries and not nonempty:
        raise UsageError(
            f"the mount point {mp} is not empty: the mount would hide its {entries} "
            f"entr{'ies' if entries != 1 else 'y'} until unmounted; mount on an empty "
            "directory, or add -o nonempty to mount over them"
        )


def check_fuse_device(device: Path = FUSE_DEVICE) -> None:
    """Refuse, saying why, when the kernel's FUSE device cannot be opened
    (libfuse would only say "fuse_session_mount failed")."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            raise NotFoundError(
                f"FUSE is not available: {device} is missing ({exc.strerror}); load the "
                "fuse kernel module (modprobe fuse), or in a container pass the device in"
            ) from None
        raise NotFoundError(
            f"cannot open {device} ({exc.strerror}), which FUSE needs: it is normally "
            f"readable and writable by everyone (crw-rw-rw-); ask the administrator to "
            f"fix it (chmod 0666 {device}), or mount as a user who may open it"
        ) from None
    os.close(fd)


def stash_room_warning(stash_dir: Path, free: int, session: int) -> str:
    """A warning (empty if none) when the stash directory has less free
    space (``free`` bytes) than the next session could take (``session``
    bytes): a burn that large would fail, since the stash holds the whole
    session."""
    if free >= session:
        return ""
    mb = 1_000_000
    return (
        f"the stash directory {stash_dir} has {free // mb} MB free, but a session on this "
        f"disc can take up to {-(-session // mb)} MB: a burn of more than {free // mb} MB "
        "will fail; free some space, or choose another stash directory (--stash-dir)"
    )


def speed_warning(recorder: Recorder, speed: float | None, info: DiscInfo) -> str:
    """A warning when the ``speed`` setting is not one the drive offers
    with the disc in it (burns would be refused); '' when it is, or when
    the drive or the empty tray says nothing."""
    from cdfs.burn.checks import check_write_speed
    from cdfs.recorders.nodisc import is_no_disc

    if speed is None or is_no_disc(info):
        return ""
    try:
        check_write_speed(recorder, speed)
    except UsageError as exc:
        return f"the speed setting: {exc}; burns will be refused until it is changed"
    return ""
