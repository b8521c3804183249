"""Burning an existing ISO image as it is (the XP PowerToy "ISO Burner").

Owns the checks particular to a ready-made image (it must be an ISO 9660
image, laid out from sector 0, so it can only go onto a blank disc) and the
order check, record, verify, eject.  Shares the disc and verification checks
with the burn job (:mod:`cdfs.burn.checks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from cdfs.burn.automount import release_desktop_mounts
from cdfs.burn.checks import (
    check_capacity,
    check_write_speed,
    expected_tree,
    verify_quick,
    verify_session,
)
from cdfs.burn.options import Resolved
from cdfs.errors import MediaError, NotFoundError, NotWritableError
from cdfs.iso import discread
from cdfs.recorders.media import DiscState
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


def burn_image(recorder: Recorder, image: Path, opts: Resolved, phase: PhaseFn) -> str:
    """Record ``image`` onto the blank disc in ``recorder``; returns what
    happened in plain words."""
    size = check_image(image)
    info = recorder.disc_info()
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
    start = Lba(0)
    close = opts.close if opts.close is not None else opts.close_policy.value == "always"
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
            root = discread.read_session(f, start)
        expected = expected_tree((p, e.kind, e.size) for p, e in discread.walk(root))
        verify_quick(recorder, image, start, expected, phase("verifying", size))
    if opts.eject:
        recorder.eject()
    verified = "" if opts.verify == "none" else f", {opts.verify} verification passed"
    return f"burned {image} ({session.length} sectors){verified}"
