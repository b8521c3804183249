"""Writing a mastered session into its image file (the stash).

This module owns the output side of :mod:`cdfs.iso.mastering`: opening the
image never through a symlink and private to its owner (:func:`no_follow`),
and writing pycdlib's session into it at its place on the disc
(:func:`write_pycdlib`: pycdlib seeks to absolute disc offsets; the image's
first byte is the session's first sector), with the session's own size as
its volume space size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from cdfs.errors import CdfsError
from cdfs.iso.sessioniso import SessionIso
from cdfs.units import SECTOR_SIZE

ProgressFn = Callable[[int, int], None]

_VD_START = 16


class _SessionWriter:
    """The output for pycdlib: it seeks to absolute disc offsets, the image
    starts at sector ``start``.  Counts what is written for progress."""

    mode = "wb"
    _STEP = 1 << 18

    _FILL = memoryview(bytes(1 << 16))

    def __init__(self, raw: BinaryIO, start: int, total: int, progress: ProgressFn | None):
        self._raw, self._base = raw, start * SECTOR_SIZE
        self._pos, self._raw_pos = self._base, 0
        self._end = 0
        """End of what is written so far (``raw`` is new: zeros beyond)."""
        self._total, self._progress = total, progress
        self.done = self._reported = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            self._raw_pos = self._raw.seek(0, 2)
            offset += self._raw_pos + self._base
        elif whence == 1:
            offset += self._pos
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def write(self, data: bytes) -> int:
        rel = self._pos - self._base
        if rel < 0:
            raise CdfsError(f"mastering tried to write before the session (sector {rel // 2048})")
        if rel != self._raw_pos:
            gap = rel - self._raw_pos
            if self._raw_pos == self._end and 0 < gap <= len(self._FILL):
                # pycdlib skips the padding of a file's last sector: zeros
                # written keep the buffered writes going (a seek flushes)
                self._raw.write(self._FILL[:gap])
            else:
                self._raw.seek(rel)
        n = self._raw.write(data)
        self._pos += n
        self._raw_pos = rel + n
        self._end = max(self._end, self._raw_pos)
        self.done += n
        if self._progress is not None and self.done - self._reported >= self._STEP:
            self._reported = self.done
            self._progress(min(self.done, self._total), self._total)
        return n


def _record_session_size(raw: BinaryIO, sectors: int) -> None:
    """Store the session's own size as the Volume Space Size (ECMA-119 8.4.8,
    BP 81-88, both byte orders) of every primary and supplementary volume
    descriptor; pycdlib wrote the absolute end, which readers mis-size."""
    for sector in range(_VD_START, _VD_START + 32):
        raw.seek(sector * SECTOR_SIZE)
        head = raw.read(6)
        if head[1:6] != b"CD001" or head[0] == 255:
            return
        if head[0] in (1, 2):
            raw.seek(sector * SECTOR_SIZE + 80)
            raw.write(struct.pack("<I", sectors) + struct.pack(">I", sectors))


def no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW, 0o600)


def write_pycdlib(
    iso: SessionIso, out: Path, start: int, sectors: int, progress: ProgressFn | None
) -> None:
    total = sectors * SECTOR_SIZE
    # Never through a link; a new file is private (the stash is made by
    # cdfs.burn.stash, already 0600, and only truncated here).
    with open(out, "w+b", buffering=1 << 20, opener=no_follow) as raw:
        writer = _SessionWriter(raw, start, total, progress)
        iso.write_fp(cast(BinaryIO, writer), blocksize=1 << 20)
        _record_session_size(raw, sectors)
        end = raw.seek(0, 2)
    if end != total:
        raise CdfsError(f"mastering wrote {end} bytes, expected {total}")
    if progress is not None:
        progress(total, total)
