"""Where the data of a session's files comes from while it is mastered.

Owns the two readers pycdlib copies file data from: a new file's staged
copy (:class:`SourceReader`: opened only while it is copied, and refused if
it vanished or shrank meanwhile) and a kept file's extents on the old disc
(:class:`ExtentReader`, for a session that rewrites the whole disc).
:mod:`cdfs.iso.mastering` decides which file gets which.
"""

from __future__ import annotations

import bisect
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from cdfs.errors import CdfsError, NotFoundError
from cdfs.iso import isonames
from cdfs.units import SECTOR_SIZE


class SourceReader:
    """The data of one new file: opened only while pycdlib copies it, and
    checked to still hold ``size`` bytes (pycdlib would silently write a
    short file)."""

    __slots__ = ("_fp", "_left", "path", "size")
    mode = "rb"

    def __init__(self, path: str | Path, size: int) -> None:
        self.path, self.size = path, size
        self._fp: BinaryIO | None = None
        self._left = size

    def _open(self) -> BinaryIO:
        if self._fp is None:
            try:
                self._fp = open(self.path, "rb")  # noqa: SIM115 - closed by read/close
            except FileNotFoundError:
                raise NotFoundError(f"{self.path} vanished while it was mastered") from None
            except OSError as e:
                raise CdfsError(f"cannot read {self.path}: {e.strerror}") from e
        return self._fp

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self._open().seek(offset, whence)
        self._left = self.size - pos
        return pos

    def read(self, n: int) -> bytes:
        data = self._open().read(n)
        self._left -= len(data)
        if len(data) < n:
            raise CdfsError(f"{self.path} shrank while it was mastered")
        if self._left <= 0:
            self.close()
        return data

    def close(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None


def read_small(path: str | Path, size: int) -> bytes:
    """The ``size`` bytes of a small new file at once, with the checks and
    messages of :class:`SourceReader` (one ``open`` and ``read``, without a
    reader object: most files of a large session are small)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise NotFoundError(f"{path} vanished while it was mastered") from None
    except OSError as e:
        raise CdfsError(f"cannot read {path}: {e.strerror}") from e
    try:
        data = os.read(fd, size)
        while len(data) < size:
            more = os.read(fd, size - len(data))
            if not more:
                raise CdfsError(f"{path} shrank while it was mastered")
            data += more
    except OSError as e:
        raise CdfsError(f"cannot read {path}: {e.strerror}") from e
    finally:
        os.close(fd)
    return data


class ExtentReader:
    """The data of one kept file, read from the old disc extent by extent
    while pycdlib copies it into a rewritten session.  ``disc`` is shared by
    all kept files, so every read seeks first; nothing is held in memory
    beyond the chunk pycdlib asks for."""

    __slots__ = ("_disc", "_extents", "_path", "_pos", "_starts", "size")
    mode = "rb"

    def __init__(
        self, disc: BinaryIO, path: tuple[bytes, ...], extents: Sequence[tuple[int, int]], size: int
    ) -> None:
        self._disc, self._path, self._extents = disc, path, extents
        self.size = size
        self._pos = 0
        self._starts = list(itertools.accumulate((n for _lba, n in extents), initial=0))

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self._pos
        elif whence == 2:
            offset += self.size
        self._pos = offset
        return offset

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        want = min(n, self.size - self._pos)
        while want > 0:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            lba, length = self._extents[i]
            inner = self._pos - self._starts[i]
            step = min(want, length - inner)
            where = isonames.show_path(self._path)
            try:
                self._disc.seek(lba * SECTOR_SIZE + inner)
                data = self._disc.read(step)
            except OSError as exc:
                raise CdfsError(f"cannot copy {where!r} from the disc: {exc.strerror}") from exc
            if len(data) != step:
                raise CdfsError(
                    f"cannot copy {where!r} from the disc: sector"
                    f" {lba + (inner + len(data)) // SECTOR_SIZE} could not be read"
                )
            parts.append(data)
            self._pos += step
            want -= step
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        """Nothing to close: ``disc`` belongs to the caller."""


Reader = SourceReader | ExtentReader
