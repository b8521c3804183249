"""The drive in the file manager's sidebar: its readable name and place.

GNOME Files, Nemo, Caja and Thunar list mounts through GIO (GLib's
``gunixmounts.c``, and gvfs's udisks2 volume monitor when it runs).  For a
mount that is not an ``/etc/fstab`` entry, both list it when its mount point
lies under the user's home (no component starting with a dot), directly
under ``/media/``, or under ``/run/media/$USER/``, and they name it by the
mount point's last component.  The ``x-gvfs-show``, ``x-gvfs-name=`` and
``x-gvfs-icon=`` options do not help a FUSE mount on Debian 12: GIO reads
options through libmount (``/proc/self/mountinfo`` plus
``/run/mount/utab``), the kernel shows only its own FUSE options there,
libfuse 3.14 refuses ``x-`` options as unknown (3.17 passes them to
``mount -f``, which leaves utab alone when ``/etc/mtab`` is a link), and gvfs
applies ``x-gvfs-name``/``x-gvfs-icon`` only to fstab entries.  So the name
is carried by the mount point: ``cdfs mount`` without a mount point mounts at
``~/NAME``, NAME being the disc's label or the drive's kind
(``CD-R Drive``).  Dolphin (Solid) lists FUSE mounts under the home too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cdfs.recorders.media import DiscInfo, Family

KINDS = {Family.CD: "CD", Family.DVD: "DVD", Family.BD: "BD"}
NO_DISC = "Disc Drive"


def drive_kind(info: DiscInfo | None) -> str:
    """``CD-R Drive``, ``DVD+RW Drive``, ``BD-RE Drive``: what the disc in it
    is, as Windows named a recorder; ``Disc Drive`` without a disc."""
    if info is None:
        return NO_DISC
    name = info.media.name
    family = KINDS[info.media.family]
    rest = name[len(info.media.family.value) :].upper()
    rest = rest.rstrip("0123456789")  # cd-r80 -> -R
    return f"{family}{rest} Drive" if rest.startswith(("-", "+")) else f"{family} Drive"


def readable_name(info: DiscInfo | None) -> str:
    """The sidebar's name of the drive: the disc's label, else its kind;
    usable as one directory name (no ``/``, no leading dot, not empty)."""
    label = info.label.strip() if info is not None else ""
    name = (label or drive_kind(info)).replace("/", "-").replace("\0", "")
    name = name.lstrip(".").strip()
    return name or drive_kind(info)


def shown_in_sidebar(mountpoint: Path, home: Path, user: str, *, root: bool = False) -> bool:
    """Whether GIO lists a mount at ``mountpoint`` (the rule of GLib's
    ``g_unix_mount_guess_should_display`` and gvfs's ``should_include``,
    for mounts without ``x-gvfs-show``)."""
    path = str(mountpoint)
    if "/." in path:
        return False
    for base in ("/media/", "/run/media/"):
        if path.startswith(base):
            rest = path[len(base) :]
            if base == "/media/" and "/" not in rest:
                return True
            if root or rest.startswith(f"{user}/"):
                return True
    return path.startswith(f"{home}{os.sep}")


def default_mountpoint(info: DiscInfo | None, home: Path | None = None) -> Path:
    """Where ``cdfs mount`` without a mount point mounts: ``~/NAME``, created
    (0700) when missing.  A directory of that name is used as it is: the
    mount's own checks refuse one that is not empty."""
    base = home if home is not None else Path.home()
    path = base / readable_name(info)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    return path


def named_mountpoint(drive: str) -> Path:
    """``~/NAME`` for a mount of ``drive`` without a mount point (the file
    managers list it under that name); said on stdout."""
    from cdfs.recorders.opening import open_recorder

    mp = default_mountpoint(open_recorder(drive).disc_info()).resolve()
    print(f"cdfs: mounting at {mp}")
    return mp
