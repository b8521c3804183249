"""Files of an overwritable disc in the LBAs its next session overwrites.

On overwritable media (DVD+RW, DVD-RW in restricted overwrite, BD-RE) every
session rewrites LBAs 0-31 with a copy of its head, which tells readers
where the newest session is.  This module owns moving the files another
tool (or cdfs before issue 13) left there into the next session, read from
private copies, so that nothing is overwritten; reused directories
(:mod:`cdfs.iso.reuse`) above such a file are listed entry by entry first.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path

from cdfs.burn import stash as stashes
from cdfs.errors import RecorderError
from cdfs.iso import reuse
from cdfs.iso.mastering import MasterEntry
from cdfs.recorders.media import DiscInfo, superblock_overlap
from cdfs.recorders.recorder import Recorder
from cdfs.units import SECTOR_SIZE

log = logging.getLogger(__name__)


def carry_low_files(
    recorder: Recorder,
    stash_dir: Path,
    info: DiscInfo,
    entries: list[MasterEntry],
    carried: list[Path],
) -> list[MasterEntry]:
    """``entries``, with every kept file whose data lies in LBAs 0-31 of
    an overwritable disc (written there by another tool, or by cdfs
    before issue 13) turned into a new file read from a private copy:
    the next session's superblock copy overwrites those sectors.  The
    copies' paths are appended to ``carried`` (the caller removes them)."""
    if info.media.overwritable:  # nor below reused directories
        entries = [
            *itertools.chain.from_iterable(
                reuse.expand([e]) if _low_below(info, e) else [e] for e in entries
            )
        ]
    low = [e for e in entries if e.kept and superblock_overlap(info.media, e.extents)]
    if not low:
        return entries
    copies: dict[tuple[tuple[int, int], ...], Path] = {}
    with recorder.open_reader() as disc:
        for e in low:
            if e.extents in copies:
                continue  # a hard link's other name
            copy = stashes.create(stash_dir, recorder.ident, e.size)
            carried.append(copy)
            with copy.open("r+b") as out:
                for lba, length in e.extents:
                    disc.seek(lba * SECTOR_SIZE)
                    data = disc.read(length)
                    if len(data) != length:
                        raise RecorderError(f"cannot read sector {lba} of the disc")
                    out.write(data)
            copies[e.extents] = copy
    log.info("moving %d files out of LBAs 0-31 into the new session", len(copies))
    return [replace(e, source=copies[e.extents], extents=()) if e in low else e for e in entries]


def _low_below(info: DiscInfo, e: MasterEntry) -> bool:
    """A file in LBAs 0-31 below a reused directory (see :func:`carry_low_files`)."""
    return any(superblock_overlap(info.media, x) for _p, x in reuse.files_below(e))
