"""Reading a disc with SCSI commands sent through ``SG_IO``, past the
kernel's sr driver and its idea of the disc's size.

After a burn by xorriso (which also writes through ``SG_IO``) the sr driver
keeps the capacity it read when the disc was inserted, until the disc is
reloaded; reads of ``/dev/srN`` stop there.  The drive itself knows better:
``READ CAPACITY`` gives the disc's recorded size and ``READ(10)`` reads any
sector of it.  The kernel lets a reader that may only read the node send
both.  This module owns those two commands and a file object that reads by
whole sectors (:class:`SectorFile`); it knows nothing of ISO 9660.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import os
from collections.abc import Callable

from cdfs.units import SECTOR_SIZE

SG_IO = 0x2285
SG_DXFER_FROM_DEV = -3
SG_INFO_OK_MASK = 0x1
READ_CAPACITY_10 = 0x25
READ_10 = 0x28
COMMAND_TIMEOUT_MS = 60_000
MAX_SECTORS = 32
"""Sectors one READ(10) asks for (64 KiB, within every kernel's limit)."""


class _SgIoHdr(ctypes.Structure):
    _fields_ = [
        ("interface_id", ctypes.c_int),
        ("dxfer_direction", ctypes.c_int),
        ("cmd_len", ctypes.c_ubyte),
        ("mx_sb_len", ctypes.c_ubyte),
        ("iovec_count", ctypes.c_ushort),
        ("dxfer_len", ctypes.c_uint),
        ("dxferp", ctypes.c_void_p),
        ("cmdp", ctypes.c_void_p),
        ("sbp", ctypes.c_void_p),
        ("timeout", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("pack_id", ctypes.c_int),
        ("usr_ptr", ctypes.c_void_p),
        ("status", ctypes.c_ubyte),
        ("masked_status", ctypes.c_ubyte),
        ("msg_status", ctypes.c_ubyte),
        ("sb_len_wr", ctypes.c_ubyte),
        ("host_status", ctypes.c_ushort),
        ("driver_status", ctypes.c_ushort),
        ("resid", ctypes.c_int),
        ("duration", ctypes.c_uint),
        ("info", ctypes.c_uint),
    ]


def command(fd: int, cdb: bytes, length: int) -> bytes:
    """Send ``cdb`` to the SCSI device open as ``fd`` and read ``length``
    bytes back; OSError (EIO naming the sense key) when the drive fails it,
    as the ioctl's own error (ENOTTY, EPERM...) when ``fd`` cannot take it."""
    data = ctypes.create_string_buffer(length)
    cmd = ctypes.create_string_buffer(cdb, len(cdb))
    sense = ctypes.create_string_buffer(32)
    hdr = _SgIoHdr(
        interface_id=ord("S"),
        dxfer_direction=SG_DXFER_FROM_DEV,
        cmd_len=len(cdb),
        mx_sb_len=len(sense),
        dxfer_len=length,
        dxferp=ctypes.addressof(data),
        cmdp=ctypes.addressof(cmd),
        sbp=ctypes.addressof(sense),
        timeout=COMMAND_TIMEOUT_MS,
    )
    fcntl.ioctl(fd, SG_IO, hdr)
    if hdr.info & SG_INFO_OK_MASK or hdr.status or hdr.host_status or hdr.driver_status:
        key = sense.raw[2] & 0xF if hdr.sb_len_wr > 2 else -1
        asc = sense.raw[12:14].hex() if hdr.sb_len_wr > 13 else "?"
        raise OSError(
            errno.EIO,
            f"SCSI command {cdb[0]:#04x} failed (status {hdr.status:#x}, sense key {key},"
            f" ASC/ASCQ {asc})",
        )
    return data.raw[: length - max(hdr.resid, 0)]


def read_capacity(fd: int) -> int:
    """The number of sectors the drive says its disc holds."""
    out = command(fd, bytes([READ_CAPACITY_10, *bytes(9)]), 8)
    if len(out) < 8:
        raise OSError(errno.EIO, "READ CAPACITY gave a short answer")
    return int.from_bytes(out[:4], "big") + 1


def read_sectors(fd: int, lba: int, count: int) -> bytes:
    """``count`` sectors from ``lba`` (READ(10))."""
    cdb = bytes([READ_10, 0]) + lba.to_bytes(4, "big") + b"\0" + count.to_bytes(2, "big") + b"\0"
    out = command(fd, cdb, count * SECTOR_SIZE)
    if len(out) != count * SECTOR_SIZE:
        raise OSError(errno.EIO, f"READ(10) of {count} sectors at {lba} gave {len(out)} bytes")
    return out


class SectorFile(io.RawIOBase):
    """A read-only file of ``size`` bytes whose bytes come by whole
    sectors from ``read(lba, count)``; closing it closes ``fd`` (the open
    device) when one is given."""

    def __init__(self, read: Callable[[int, int], bytes], size: int, fd: int | None = None):
        super().__init__()
        self._read = read
        self._size = size
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        if self._fd is None:
            raise io.UnsupportedOperation("fileno")
        return self._fd

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        lba, skip = divmod(self._pos, SECTOR_SIZE)
        count = min(-(-(skip + want) // SECTOR_SIZE), MAX_SECTORS)
        data = self._read(lba, count)[skip:]
        n = min(want, len(data))
        memoryview(buffer)[:n] = data[:n]
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed and self._fd is not None:
            os.close(self._fd)
        super().close()
