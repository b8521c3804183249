"""Checks before and after recording, in plain words.

Owns what makes a burn safe to start (the same disc the mount shows, room
on the disc; room for the stash is :mod:`cdfs.burn.stash`'s) and the verification of
a recorded session against the stash file (full: every byte; quick: the
directory tree plus checksums of a sample), and of the files of earlier
sessions that lie where the new one may have written (:func:`kept_at_risk`).
Raises the error hierarchy's errors; never changes anything.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from cdfs.errors import (
    CdfsError,
    DiscChangedError,
    NoSpaceError,
    NotWritableError,
    VerificationError,
)
from cdfs.iso import discread, reuse
from cdfs.iso.mastering import Kind, MasterEntry
from cdfs.recorders.media import SESSION_PADDING, SUPERBLOCK, DiscInfo
from cdfs.recorders.nodisc import is_no_disc
from cdfs.recorders.recorder import Recorder
from cdfs.recorders.speeds import check_speed, read_speeds
from cdfs.recorders.xorriso import XorrisoRecorder
from cdfs.units import SECTOR_SIZE, Lba, sectors_for

ProgressFn = Callable[[int, int], None]


def verify_session(
    recorder: Recorder, stash: Path, start: Lba, progress: Callable[[int, int], None]
) -> None:
    """Compare every byte of the recorded session with the stash."""
    total = stash.stat().st_size
    done = 0
    with stash.open("rb") as want, recorder.open_reader() as disc:
        disc.seek(start * SECTOR_SIZE)
        while True:
            a = want.read(1 << 20)
            if not a:
                break
            b = disc.read(len(a))
            if a != b:
                bad = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), len(b))
                sector = start + (done + bad) // SECTOR_SIZE
                raise VerificationError(
                    f"verification failed: sector {sector} on the disc differs from the stash file"
                )
            done += len(a)
            progress(done, total)


def check_not_blocked(info: DiscInfo) -> None:
    """Refuse any recording onto a disc the drive reports as unusable as it
    is (a damaged track, no writable address), naming the way out."""
    if info.blocked:
        raise NotWritableError(
            f"Nothing can be written on the disc in the drive now: {info.blocked}"
        )


def check_capacity(info: DiscInfo, need: int) -> None:
    """Refuse a burn of a session image of ``need`` sectors (by the bound
    of :mod:`cdfs.mount.space`) to a disc that is closed, full, or too small:
    the rule the staging area's ENOSPC check applies, so that what staging
    took is not refused here."""
    mb = -(-need * SECTOR_SIZE // 1_000_000)
    plain = (
        "The disc in the drive is not writable or it is full: insert a blank "
        f"writable disc, or one with at least {mb} MB free"
    )
    check_not_blocked(info)
    if not info.writable or info.nwa is None:
        raise NotWritableError(plain)
    have = info.room
    if need > have:
        over = -(-(need - have) * SECTOR_SIZE // 1_000_000)
        raise NoSpaceError(f"{plain} (the staged files need {over} MB more than is free)")


def check_write_speed(recorder: Recorder, speed: float | None) -> None:
    """Refuse a write speed (``--speed``, the ``speed`` setting) the drive
    does not offer with the disc in it, as ``xorriso -list_speeds`` says;
    the emulated recorder writes at any speed."""
    if speed is not None and isinstance(recorder, XorrisoRecorder):
        check_speed(speed, read_speeds(recorder.device, recorder.program), recorder.device)


def check_same_disc(known: DiscInfo, now: DiscInfo) -> None:
    """Refuse to burn onto a disc other than the one the mount shows."""
    if known.identity and now.identity != known.identity:
        if is_no_disc(known):
            raise DiscChangedError(
                "a disc was inserted after the mount last looked: nothing was burned and the "
                "staged files are kept; the mount shows the disc in a moment, then burn again"
            )
        raise DiscChangedError(
            "the disc in the drive is not the one this mount shows (it was swapped, or "
            "written by another program): nothing was burned and the staged files are kept; "
            "unmount and mount again to stage onto the disc now in the drive"
        )


def expected_tree(
    entries: Iterable[tuple[tuple[bytes, ...], Kind, int]],
) -> dict[tuple[bytes, ...], tuple[Kind, int]]:
    """What quick verification expects to read back: path -> (kind, size)."""
    return {path: (kind, size) for path, kind, size in entries}


def verify_quick(
    recorder: Recorder,
    stash: Path,
    start: Lba,
    expected: Mapping[tuple[bytes, ...], tuple[Kind, int]],
    progress: ProgressFn,
    samples: int = 64,
) -> None:
    """Read the recorded session's directory tree back and compare it with
    what was mastered, then compare checksums of the first and last 64 KiB
    and of ``samples`` random 64 KiB pieces of the session with the stash."""
    total = stash.stat().st_size
    with stash.open("rb") as want, recorder.open_reader() as disc:
        try:
            root = discread.read_session(disc, start)
        except CdfsError as exc:
            raise VerificationError(
                f"verification failed: the new session cannot be read back ({exc})"
            ) from None
        got = {path: (e.kind, e.size) for path, e in discread.walk(root)}
        for path, (want_kind, want_size) in expected.items():
            kind, size = got.get(path, (None, -1))
            if kind is not want_kind or (kind is Kind.FILE and size != want_size):
                name = b"/".join(path).decode(errors="replace")
                raise VerificationError(
                    f"verification failed: {name!r} is missing or different in the recorded session"
                )
        piece = 64 * 1024
        offsets = {0, max(0, total - piece)}
        rng = random.Random(start)
        offsets.update(
            rng.randrange(0, max(total, 1)) // SECTOR_SIZE * SECTOR_SIZE for _ in range(samples)
        )
        for n, off in enumerate(sorted(offsets), 1):
            want.seek(off)
            a = want.read(piece)
            disc.seek(start * SECTOR_SIZE + off)
            b = disc.read(len(a))
            if hashlib.sha256(a).digest() != hashlib.sha256(b).digest():
                sector = start + off // SECTOR_SIZE
                raise VerificationError(
                    f"verification failed: the piece at sector {sector} on the disc differs "
                    "from the stash file"
                )
            progress(n * total // len(offsets), total)


KeptDigests = dict[tuple[bytes, ...], bytes]
"""Kept file path -> SHA-256 of its data on the disc."""


def _touched(info: DiscInfo, start: Lba, sectors: int) -> list[tuple[int, int]]:
    """The sector ranges a recording of ``sectors`` at ``start`` may write:
    the session itself, and on overwritable media LBAs 0-31 (the copy of
    its head)."""
    ranges: list[tuple[int, int]] = [(start, start + sectors + SESSION_PADDING)]
    if info.media.overwritable:
        ranges.append((0, SUPERBLOCK))
    return ranges


def kept_at_risk(
    recorder: Recorder, info: DiscInfo, start: Lba, sectors: int, entries: Iterable[MasterEntry]
) -> KeptDigests:
    """Digests of the kept files (data of earlier sessions the new one
    points at) that lie where recording ``sectors`` at ``start`` may write,
    read before recording; :func:`verify_kept` reads them again after."""
    ranges = _touched(info, start, sectors)
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    at_risk = []
    for e in entries:  # every entry of the session: no generator per entry
        if not e.kept:
            continue
        for lba, n in e.extents:
            if lba < hi and lo < lba + sectors_for(n) and _hits(lba, n, ranges):
                at_risk.append((e.path, e.extents))
                break
    if lo < start:  # overwritable media's head: files below reused directories too
        for path, extents in itertools.chain.from_iterable(map(reuse.files_below, entries)):
            if any(_hits(lba, n, ranges) for lba, n in extents):
                at_risk.append((path, extents))
    if not at_risk:
        return {}
    with recorder.open_reader() as disc:
        return {path: _digest(disc, extents) for path, extents in at_risk}


def _hits(lba: int, length: int, ranges: list[tuple[int, int]]) -> bool:
    end = lba + sectors_for(length)
    return any(lo < end and lba < hi for lo, hi in ranges)


def verify_kept(
    recorder: Recorder, before: Mapping[tuple[bytes, ...], bytes], entries: Iterable[MasterEntry]
) -> None:
    """Raise VerificationError when a kept file :func:`kept_at_risk` saw
    reads back differently: the new session overwrote an earlier one's data."""
    if not before:
        return
    entries = list(entries)
    extents = {e.path: e.extents for e in entries if e.path in before}
    below = itertools.chain.from_iterable(map(reuse.files_below, entries))
    extents.update((p, x) for p, x in below if p in before)
    with recorder.open_reader() as disc:
        bad = [p for p, digest in before.items() if _digest(disc, extents[p]) != digest]
    if bad:
        names = ", ".join(repr(b"/".join(p).decode(errors="replace")) for p in sorted(bad)[:5])
        raise VerificationError(
            f"verification failed: the new session overwrote files of an earlier one ({names})"
        )


def _digest(disc: BinaryIO, extents: tuple[tuple[int, int], ...]) -> bytes:
    h = hashlib.sha256()
    for lba, length in extents:
        disc.seek(lba * SECTOR_SIZE)
        h.update(disc.read(length))
    return h.digest()
