"""Settling a session that is on the disc but whose burn did not finish:
after the daemon was killed mid-burn (on the next mount), and after a
verification that failed in the running daemon.

Owns the rule that staged files leave the staging area only for a session
that was verified: when the burn had not verified it, each staged file is
read back from the session and compared byte for byte, and only those on
it as they are staged are dropped; the rest stay staged for the next burn.
The burn job itself is :mod:`cdfs.burn.job`'s.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from cdfs import names
from cdfs.burn import journal
from cdfs.burn.journal import Entry
from cdfs.burn.outcome import BurnResult
from cdfs.burn.snapshot import drop_burned, read_back_failures
from cdfs.errors import CdfsError
from cdfs.iso import discread
from cdfs.mount.view import View
from cdfs.recorders.media import DiscInfo
from cdfs.units import Lba

log = logging.getLogger(__name__)


def recover(view: View, staging_dir: Path) -> BurnResult | None:
    """After a daemon was killed mid-burn: finish or forget that burn.

    If its session is on the disc, drop its files from staging as the burn
    would have, once the session is verified (:func:`_finish_recorded`);
    otherwise the files simply stay staged (on write-once media the
    recorder has already marked the interrupted range as used).
    """
    path = staging_dir / names.JOURNAL_FILE
    j = journal.read(path)
    if j is None:
        return None
    info = view.info
    if any(s.start == j.start for s in info.sessions):
        result = _finish_recorded(view, j)
    else:
        lost = (
            "; the space it began to use on the disc is lost, as on any write-once disc"
            if info.media.write_once
            else ""
        )
        erased = (
            f"; the disc had been erased for a rewrite: everything is in {j.stash}, burn it "
            f"with 'cdfs burn-image {j.stash}'"
            if j.stash
            else ""
        )
        result = BurnResult(
            False,
            f"the burn started at {j.started} was interrupted before its session was "
            f"recorded: nothing was lost, its files are still staged{lost}{erased}",
            j.label,
        )
    result.finished = _dt.datetime.now().isoformat(timespec="seconds")
    journal.clear(path)
    log.warning("recovered an interrupted burn: %s", result.message)
    return result


def _finish_recorded(view: View, j: journal.Journal) -> BurnResult:
    """Drop the files of a session that is on the disc: all of them if the
    burn had verified it; else read it back now and drop only the files
    that are on it as they are staged (the rest stay staged, to be burned
    again).  A verify=none burn is read back too: a daemon that died
    mid-burn is no reason to trust a recording nobody checked."""
    head = f"the burn started at {j.started} had recorded its session when cdfs stopped"
    bad: list[Entry] = []
    if j.verified:
        its = "its file is" if j.files == 1 else f"its {j.files} files are"
        told = f"{head}, and verified it: {its} on the disc"
    else:
        assert view.reader is not None
        try:
            bad = read_back(view, j, view.reader)
        except CdfsError as exc:
            return BurnResult(
                False,
                f"{head}, before verifying it, and it cannot be read back ({exc}): "
                "its files stay staged",
                j.label,
            )
        told = f"{head}, before verifying it; read back now, {read_back_words(bad, j.files)}"
    settle(view, j, bad, view.info, view.root.disc, view.disc_problem)
    return BurnResult(
        not bad,
        f"{told} and left the staging area",
        j.label,
        j.files,
        j.bytes,
        j.start,
        j.sectors,
    )


def read_back(view: View, j: journal.Journal, fp: BinaryIO) -> list[Entry]:
    """The items of the journal's session that do not read back (through
    ``fp``) as they are staged; raises CdfsError when the session's tree
    cannot be read at all."""
    session = discread.read_session(fp, Lba(j.start))
    return read_back_failures(view.upper, j.entries, session, fp)


def read_back_words(bad: Sequence[Entry], files: int) -> str:
    """What a read-back found, in words."""
    if not bad:
        return (
            "its file is on the disc as staged"
            if files == 1
            else (f"its {files} files are on the disc as staged")
        )
    return (
        f"{len(bad)} of its files did not read back correctly and stay staged "
        f"({_some(b.rel for b in bad)}); the others are on the disc"
    )


def settle(
    view: View,
    j: journal.Journal,
    bad: Sequence[Entry],
    info: DiscInfo,
    root: discread.DiscEntry | None,
    problem: str,
) -> None:
    """Drop what the session holds as staged (all of the journal's items
    but ``bad``) and show the disc with the session.  One step, with no FUSE
    request in between.  ``problem``: the disc's damaged sessions, in words."""
    failed = set(bad)
    drop_burned(view, [e for e in j.entries if e not in failed], root)
    view.set_disc(info, root, problem)


def _some(rels: Iterable[bytes], most: int = 3) -> str:
    shown = [rel.decode(errors="replace") for rel in rels]
    more = f" and {len(shown) - most} more" if len(shown) > most else ""
    return ", ".join(shown[:most]) + more
