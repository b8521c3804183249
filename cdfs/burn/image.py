"""Burning an existing ISO image as it is (the XP PowerToy "ISO Burner").

Owns the checks particular to a ready-made image (it must be an ISO 9660
image, laid out from sector 0, so it can only go onto a blank disc) and the
order check, record, verify, eject.  Shares the disc and verification checks
with the burn job (:mod:`cdfs.burn.checks`).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from cdfs.burn.automount import release_desktop_mounts
from cdfs.burn.checks import (
    check_capacity,
    check_not_blocked,
    check_write_speed,
    expected_tree,
    verify_quick,
    verify_session,
)
from cdfs.burn.options import Resolved
from cdfs.errors import CdfsError, MediaError, NotFoundError, NotWritableError
from cdfs.iso import discread
from cdfs.recorders.media import (
    SUPERBLOCK,
    DiscState,
    closes,
    not_closed_words,
    start_allowed,
)
from cdfs.recorders.recorder import Recorder
from cdfs.units import SECTOR_SIZE, Lba, sectors_for

log = logging.getLogger(__name__)

PhaseFn = Callable[[str, int], Callable[[int, int], None]]
"""Called as ``phase(name, total_bytes)``; returns the progress callback."""


def check_image(image: Path) -> int:
    """The image's size; a clear error unless it is an ISO 9660 image."""
    try:
        with image.open("rb") as f:
            f.seek(16 * SECTOR_SIZE)
            descriptor = f.read(7)
            size = image.stat().st_size
    except FileNotFoundError:
        raise NotFoundError(f"no such image: {image}") from None
    except IsADirectoryError:
        raise MediaError(f"{image} is a directory, not an ISO image") from None
    except OSError as exc:
        raise MediaError(f"cannot read {image}: {exc.strerror}") from None
    if descriptor[1:6] != b"CD001":
        raise MediaError(
            f"{image} is not an ISO 9660 image (it has no volume descriptor at sector 16): "
            "burn-image records disc images such as those 'xorriso -as mkisofs' or "
            "'genisoimage' make; nothing was written"
        )
    return size


class _Shifted:
    """Reads an image whose first byte is sector ``start`` as if it were the
    disc (byte ``lba * 2048`` is sector ``lba``)."""

    def __init__(self, raw: BinaryIO, start: int) -> None:
        self._raw, self._base = raw, start * SECTOR_SIZE

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            offset -= self._base
        return self._raw.seek(offset, whence) + self._base

    def tell(self) -> int:
        return self._raw.tell() + self._base

    def read(self, n: int = -1) -> bytes:
        return self._raw.read(n)


def laid_out_for(image: Path, candidates: tuple[int, ...] = (0, SUPERBLOCK)) -> int | None:
    """The sector the image's extents were laid out for, among
    ``candidates``: the one at which its root directory's own "." record
    points back at itself.  An image made by mkisofs is laid out for 0; a
    cdfs stash kept after a failed ``--rewrite`` of an overwritable disc for
    32.  None when none fits."""
    with image.open("rb") as f:
        f.seek(16 * SECTOR_SIZE + 156)
        root = f.read(34)
        if len(root) < 34:
            return None
        lba = struct.unpack_from("<I", root, 2)[0]
        for start in candidates:
            if lba < start:
                continue
            f.seek((lba - start) * SECTOR_SIZE)
            dot = f.read(34)
            self_ref = len(dot) == 34 and dot[32:34] == b"\x01\x00"
            if self_ref and struct.unpack_from("<I", dot, 2)[0] == lba:
                return start
    return None


def burn_image(recorder: Recorder, image: Path, opts: Resolved, phase: PhaseFn) -> str:
    """Record ``image`` onto the blank disc in ``recorder``; returns what
    happened in plain words."""
    size = check_image(image)
    info = recorder.disc_info()
    check_not_blocked(info)
    if info.state is not DiscState.BLANK:
        hint = " (erase it first with 'cdfs erase')" if info.media.rewritable else ""
        mb = -(-size // 1_000_000)
        raise NotWritableError(
            "The disc in the drive is not writable or it is full: insert a blank writable "
            f"disc, or one with at least {mb} MB free; an image can only be burned onto a "
            f"blank disc{hint}"
        )
    check_capacity(info, sectors_for(size))
    check_write_speed(recorder, opts.speed)
    release_desktop_mounts(recorder)
    # An image laid out from sector 0 carries its own head: it goes at 0 even
    # on overwritable media (whose cdfs sessions start at 32), as xorriso and
    # growisofs write one; a later session moves whatever of it lies below
    # 32 (cdfs.burn.job).  One laid out for 32 goes at 32, on such media only.
    found = laid_out_for(image)
    if found is None or not start_allowed(info, Lba(found)):
        where = "an unknown sector" if found is None else f"sector {found}"
        raise CdfsError(
            f"{image} was laid out for {where} and cannot be burned onto a "
            f"{info.media.title}: only images laid out from sector 0 can"
            + (" or 32" if info.media.overwritable else "")
        )
    start = Lba(found)
    asked = opts.close if opts.close is not None else opts.close_policy.value == "always"
    close = closes(info.media, asked)  # DVD-R DL always; DVD+RW never
    session = recorder.record(
        image,
        start,
        close=close,
        speed=opts.speed,
        simulate=opts.simulate,
        progress=phase("recording", size),
    )
    if opts.simulate:
        return f"simulated: {image} ({size} bytes) would have been burned; nothing was written"
    if opts.verify == "full":
        verify_session(recorder, image, start, phase("verifying", size))
    elif opts.verify == "quick":
        with image.open("rb") as f:
            root = discread.read_session(cast(BinaryIO, _Shifted(f, start)), start)
        expected = expected_tree((p, e.kind, e.size) for p, e in discread.walk(root))
        verify_quick(recorder, image, start, expected, phase("verifying", size))
    if opts.eject:
        recorder.eject()
    verified = "" if opts.verify == "none" else f", {opts.verify} verification passed"
    closed = f"; {not_closed_words(info.media)}" if asked and not close else ""
    return f"burned {image} ({session.length} sectors){verified}{closed}"
