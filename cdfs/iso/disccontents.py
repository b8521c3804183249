"""Which session a disc shows: the newest one that reads whole.

A session whose tree or file data points beyond the disc's written area (cut
short by a failed recording: libburn closes the track and session where the
drive's write error stopped it) or that is otherwise damaged is passed over
for the one before it, as the kernel and xorriso fall back, and named so
that the user is told (:attr:`Contents.problem`).  Parsing one session is
:mod:`cdfs.iso.discread`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import BinaryIO

from cdfs.errors import InvalidImageError
from cdfs.iso.discread import DiscEntry, Known, read_session
from cdfs.recorders.media import DiscInfo, Session

log = logging.getLogger(__name__)

__all__ = ["Contents", "read_contents", "read_tree"]


@dataclass(frozen=True)
class Contents:
    """What a disc shows: the tree of its newest session that reads whole
    (None on a blank disc, or when no session reads), and the newer
    sessions that do not, with why."""

    root: DiscEntry | None
    session: Session | None
    damaged: tuple[tuple[Session, str], ...] = ()

    @property
    def problem(self) -> str:
        """The damaged sessions in plain words, for the status and the
        burn's result; empty when there are none."""
        if not self.damaged:
            return ""
        n = len(self.damaged)
        what = f"{n} damaged sessions" if n > 1 else "a damaged session"
        why = f"{self.damaged[0][1]}; a recording that failed leaves one"
        if self.session is None:
            return (
                f"cannot read the disc's files: the disc has {what} and no session of it"
                f" reads whole ({why})"
            )
        return (
            f"the disc has {what} ({why}): the files shown are those of the session at"
            f" sector {self.session.start}"
        )


def read_contents(fp: BinaryIO, info: DiscInfo, known: Known | None = None) -> Contents:
    """The newest session of the disc that reads whole, newer damaged ones
    passed over.  Reads never go past the end of the disc's last session
    (a real drive answers there with a medium error, not with data).
    ``known``: the directories the newest session reused
    (:func:`cdfs.iso.discread.read_session`)."""
    end = max((s.end for s in info.sessions), default=None)
    damaged: list[tuple[Session, str]] = []
    for session in reversed(info.sessions):
        try:
            root = read_session(fp, session.start, end, known)
        except InvalidImageError as exc:
            log.warning("passing over a damaged session: %s", exc)
            damaged.append((session, str(exc)))
            known = None  # what the newest session reused is not in older ones
            continue
        return Contents(root, session, tuple(damaged))
    return Contents(None, None, tuple(damaged))


def read_tree(fp: BinaryIO, info: DiscInfo) -> DiscEntry | None:
    """The tree of the newest session of a disc that reads whole
    (:func:`read_contents`), or None when it is blank."""
    return read_contents(fp, info).root
