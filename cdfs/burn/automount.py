"""A desktop's own mount of the disc, taken away before burning.

Owns finding where the disc in a real drive is mounted by something other
than cdfs (a desktop's auto-mount through udisks, under /media or
/run/media; a mount by hand) and unmounting it before recording, as udisks
does for K3b and Brasero: a burn under a mounted file system would leave
the kernel's isofs reading sectors that are being rewritten.  It uses
``udisksctl unmount`` where udisks is running, else ``umount``; a mount that
will not go (a program has files open on it) stops the burn before anything
is written.

The tray stays locked while a session is recorded, by xorriso itself:
libburn's ``burn_drive_grab()`` (libburn/drive.c) calls the drive's
``lock`` (SCSI PREVENT ALLOW MEDIUM REMOVAL, prevent) when it takes the
drive, and releasing the drive unlocks it, so the eject button does nothing
while xorriso records.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from cdfs.errors import BusyError
from cdfs.recorders.recorder import Recorder
from cdfs.recorders.xorriso import XorrisoRecorder

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
UNMOUNT_TIMEOUT = 60.0


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo``."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def mounts_of(device: str, mountinfo: str) -> list[str]:
    """The mount points whose source is ``device`` (or a link to it)."""
    want = os.path.realpath(device)
    found = []
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 2:
            continue
        source = _unescape(rest[1])
        if source.startswith("/dev/") and os.path.realpath(source) == want:
            found.append(_unescape(fields[4]))
    return found


def release_desktop_mounts(
    recorder: Recorder, mountinfo: Path = MOUNTINFO, umount: str = "umount"
) -> list[str]:
    """Unmount what mounts the disc in ``recorder`` (a real drive only);
    returns the mount points it unmounted."""
    if not isinstance(recorder, XorrisoRecorder) or not recorder.device.startswith("/dev/"):
        return []
    device = recorder.device
    try:
        points = mounts_of(device, mountinfo.read_text())
    except OSError:
        return []
    for point in points:
        udisks = shutil.which("udisksctl")
        cmd = [udisks, "unmount", "-b", device] if udisks else [umount, point]
        log.info("unmounting the desktop's mount of %s at %s before burning", device, point)
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=UNMOUNT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            res = subprocess.CompletedProcess(cmd, 1, "", str(exc))
        if res.returncode:
            raise BusyError(
                f"the disc in {device} is mounted at {point} and cannot be unmounted "
                f"({(res.stderr or res.stdout).strip() or 'busy'}): close the programs using "
                "it and burn again; nothing was written and the staged files are kept"
            )
    return points
