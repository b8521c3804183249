"""Dead cdfs mounts: finding them and removing them.

When a mount's daemon dies (``kill -9``, a crash), the kernel keeps the
mount, and every access to it fails with ENOTCONN until it is unmounted.
This module owns recognising such a mount (ENOTCONN on the mount point, and
``/proc/self/mountinfo`` showing a cdfs FUSE mount there) and removing it
with a lazy unmount.  It never unmounts anything else: a live mount, or a
dead one of another file system, is left alone.  It knows nothing of what
a mount contains; remounting and recovery are the daemon's.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cdfs import names
from cdfs.errors import CdfsError, NotMountedError

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")

UNMOUNT_TIMEOUT = 30


@dataclass(frozen=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo`` (proc(5)), the fields cdfs needs."""

    mountpoint: str
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def owner(self) -> int | None:
        """The uid that mounted a FUSE file system (its ``user_id`` option)."""
        for option in self.super_options:
            key, _, value = option.partition("=")
            if key == "user_id" and value.isdigit():
                return int(value)
        return None


def _unescape(field: str) -> str:
    """Mount points in mountinfo have space, tab, newline and backslash as
    octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The mounts in the text of a mountinfo file, in mount order."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 4:
            continue
        entries.append(
            MountEntry(
                _unescape(fields[4]),
                fields[sep + 1],
                _unescape(fields[sep + 2]),
                tuple(fields[sep + 3].split(",")),
            )
        )
    return entries


def mount_at(mountpoint: Path) -> MountEntry | None:
    """The mount on top at ``mountpoint`` (an absolute, resolved path)."""
    try:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    found = [e for e in parse_mountinfo(text) if e.mountpoint == str(mountpoint)]
    return found[-1] if found else None


def dead_mount(mountpoint: Path) -> MountEntry | None:
    """The mount at ``mountpoint`` if its file system has stopped (ENOTCONN),
    of whatever type; ``None`` for a live mount or no mount."""
    try:
        os.stat(mountpoint)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return mount_at(mountpoint)
    return None


def remove_dead_cdfs_mount(mountpoint: Path) -> bool:
    """Lazily unmount ``mountpoint`` if it is a dead cdfs mount; returns
    whether there was one.

    A dead mount of another file system is refused (NotMountedError), and
    so is one that another user mounted, unless run as root.
    """
    entry = dead_mount(mountpoint)
    if entry is None:
        return False
    if entry.fstype != names.FSTYPE:
        raise NotMountedError(
            f"{mountpoint} is a {entry.fstype} mount whose file system has stopped, not a "
            f"cdfs mount: cdfs leaves it alone (unmount it with 'fusermount3 -u -z {mountpoint}')"
        )
    uid = os.getuid()
    if uid != 0 and entry.owner != uid:
        raise CdfsError(
            f"{mountpoint} is a dead cdfs mount of another user (uid {entry.owner}): "
            "only that user or root can remove it"
        )
    commands = [["fusermount3", "-u", "-z", str(mountpoint)]]
    if uid == 0:
        commands.append(["umount", "-l", str(mountpoint)])
    reasons = []
    for cmd in commands:
        try:
            res = subprocess.run(
                cmd, capture_output=True, text=True, timeout=UNMOUNT_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{cmd[0]}: {exc}")
            continue
        if res.returncode == 0:
            log.debug("removed the dead cdfs mount at %s", mountpoint)
            return True
        reasons.append(res.stderr.strip() or f"{cmd[0]} exited with {res.returncode}")
    raise CdfsError(f"cannot remove the dead cdfs mount at {mountpoint}: {'; '.join(reasons)}")
