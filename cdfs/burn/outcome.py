"""The outcome of a burn or an erase, as the status shows it and as it is
kept in ``status.json`` after the mount is gone.

Plain data; :mod:`cdfs.burn.job` and :mod:`cdfs.burn.recovery` make them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
