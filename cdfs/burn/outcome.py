"""The outcome of a burn or an erase, as the status shows it and as it is
kept in ``status.json`` after the mount is gone.

Plain data; :mod:`cdfs.burn.job` and :mod:`cdfs.burn.recovery` make them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cdfs.errors import (
    CdfsError,
    DiscChangedError,
    NoDiscError,
    NoSpaceError,
    NotWritableError,
    WriteOnceError,
)

FAILED = 1
"""The exit status of a burn or erase that failed (README, "exit codes")."""

_DISC_REFUSALS = (DiscChangedError, NotWritableError, WriteOnceError, NoSpaceError)
"""Failures that are the disc's: not writable (write-once, closed, swapped,
damaged, write-protected, no disc, a power calibration error; exit 5) or
too full (exit 6)."""


def exit_code_for(exc: CdfsError) -> int:
    """The exit status ``cdfs burn --wait``, ``cdfs erase`` and ``cdfs
    umount`` give a burn or erase that failed with ``exc``: the code of the
    disc's reason when the disc was the reason (as README's list of exit
    codes says), else 1 (the burn failed)."""
    return exc.exit_code if isinstance(exc, _DISC_REFUSALS) else FAILED


NO_DISC = "no disc"
"""``BurnResult.refused`` of a burn on unmount with no disc in the drive."""


@dataclass
class BurnResult:
    ok: bool
    message: str
    label: str = ""
    files: int = 0
    bytes: int = 0
    session_start: int | None = None
    session_length: int | None = None
    finished: str = ""
    request: int = 0
    """The highest burn request this burn covered."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Unique to this result: tells two burns apart even when they ended in
    the same second with the same message (``cdfs umount`` compares it)."""
    refused: str = ""
    """``policy`` when the burn policy refused it, ``NO_DISC`` when the burn
    on unmount found the drive empty (nothing was tried in either case)."""
    exit_code: int = 0
    """For the command that waited for it: 0 when it succeeded, else
    :func:`exit_code_for` its error."""
    no_disc: bool = False
    """It failed because the drive held no disc (nothing was recorded)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def failure(exc: CdfsError) -> BurnResult:
    """The result of a burn or erase that failed with ``exc``."""
    return BurnResult(
        False, str(exc), exit_code=exit_code_for(exc), no_disc=isinstance(exc, NoDiscError)
    )
