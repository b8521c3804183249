"""Reading a real drive's disc as it is now, not as the kernel remembers it.

xorriso writes through SG_IO, past the kernel's sr driver: after a burn the
page cache of ``/dev/srN`` can still hold the sectors as they were, and the
driver's capacity can still be the old one (REFERENCE.md, "Real drives
through xorriso").  This module owns opening the block device so that reads
see the disc as it is now:

* every reader is a new open, and the device's cached pages are dropped
  first (``posix_fadvise(POSIX_FADV_DONTNEED)``, allowed to any reader, and
  ``BLKFLSBUF`` where the caller may use it);
* when the kernel's size of the device ends before the disc's data (the
  sector just recorded up to, or the capacity the drive reports now: a
  stale capacity), the disc is read with SCSI commands past the sr driver
  (``READ(10)`` through ``SG_IO``, :mod:`cdfs.recorders.sgio`), as the
  burn itself was written;
* where the drive takes no such commands, the tray is reloaded as K3b does
  before verifying (``CDROMEJECT`` then ``CDROMCLOSETRAY``, on drives that
  can close their tray), and if the size is still short the error says to
  eject and reinsert the disc.

It knows nothing of xorriso or ISO 9660.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
import logging
import os
import stat
import time
from typing import BinaryIO

from cdfs.errors import RecorderError
from cdfs.recorders import sgio
from cdfs.units import SECTOR_SIZE

log = logging.getLogger(__name__)

BLKFLSBUF = 0x1261
BLKGETSIZE64 = 0x80081272
CDROMEJECT = 0x5309
CDROMCLOSETRAY = 0x5319
CDROM_DRIVE_STATUS = 0x5326
CDROM_GET_CAPABILITY = 0x5331
CDC_CLOSE_TRAY = 0x1
CDS_DISC_OK = 4
RELOAD_TIMEOUT = 60.0
"""Seconds a reloaded drive may take to report the disc ready."""


def is_block_device(path: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def drop_cache(fd: int) -> None:
    """Forget the cached sectors of the device open as ``fd``."""
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    with contextlib.suppress(OSError):  # EACCES without CAP_SYS_ADMIN: fadvise did it
        fcntl.ioctl(fd, BLKFLSBUF, 0)


def device_bytes(fd: int) -> int:
    """The size the kernel gives the device (or file) open as ``fd``."""
    try:
        buf = fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8)
        return int.from_bytes(buf, "little")
    except OSError:
        return os.fstat(fd).st_size


def open_fresh(path: str, end: int | None = None, *, reload: bool = True) -> BinaryIO:
    """Open ``path`` (a block device) for reading the disc as it is now;
    ``end`` is the sector the disc's data is known to reach (after a burn).
    Raises OSError as open() does, RecorderError when the kernel's idea of
    the disc stays too short."""
    f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    try:
        drop_cache(f.fileno())
        kernel = device_bytes(f.fileno())
        need = disc_bytes(f.fileno(), end)
        if kernel >= need:
            return f
        log.info(
            "%s: the system sees %d sectors of a disc of %d: reading it past the system",
            path,
            kernel // SECTOR_SIZE,
            need // SECTOR_SIZE,
        )
        direct = scsi_reader(f.fileno(), need)
        if direct is not None:
            f.close()
            return direct
        if end is None:  # only the drive's word that there is more: read what the kernel has
            return f
        f.close()
        if reload and _reload_tray(path):
            f = open(path, "rb")  # noqa: SIM115
            drop_cache(f.fileno())
            if device_bytes(f.fileno()) >= end * SECTOR_SIZE:
                return f
            f.close()
        raise RecorderError(
            f"the system still sees the disc in {path} as it was before the burn (it ends"
            f" before sector {end}): eject the disc and insert it again, then check it with"
            " 'cdfs status'"
        )
    except BaseException:
        f.close()
        raise


def disc_bytes(fd: int, end: int | None) -> int:
    """How far the disc's data reaches: ``end`` (sectors) or the capacity
    the drive reports now, whichever is further (0 when neither is known)."""
    try:
        capacity = sgio.read_capacity(fd)
    except OSError:  # not a SCSI device, no disc, or a blank one
        capacity = 0
    return max(end or 0, capacity) * SECTOR_SIZE


def scsi_reader(fd: int, size: int) -> BinaryIO | None:
    """A reader of the first ``size`` bytes of the disc through SCSI
    commands on a duplicate of ``fd``; None when the drive does not take
    them (the kernel refuses SG_IO, or the read fails)."""
    own = os.dup(fd)
    try:
        sgio.read_sectors(own, min(16, size // SECTOR_SIZE - 1), 1)
    except OSError as exc:
        log.info("cannot read the disc with SCSI commands: %s", exc)
        os.close(own)
        return None
    raw = sgio.SectorFile(functools.partial(sgio.read_sectors, own), size, own)
    return io.BufferedReader(raw, buffer_size=sgio.MAX_SECTORS * SECTOR_SIZE)


def _reload_tray(path: str) -> bool:
    """Eject and close the tray, as K3b does before verifying; False when
    the drive cannot close its tray by itself (slot-in, laptop drives)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        try:
            caps = fcntl.ioctl(fd, CDROM_GET_CAPABILITY, 0)
        except OSError:
            return False
        if not caps & CDC_CLOSE_TRAY:
            return False
        log.info("reloading the tray of %s so that the system sees the new session", path)
        fcntl.ioctl(fd, CDROMEJECT, 0)
        fcntl.ioctl(fd, CDROMCLOSETRAY, 0)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while fcntl.ioctl(fd, CDROM_DRIVE_STATUS, 0) != CDS_DISC_OK:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True
    except OSError as exc:
        log.warning("cannot reload the tray of %s: %s", path, exc.strerror)
        return False
    finally:
        os.close(fd)
