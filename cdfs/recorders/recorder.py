"""The recorder interface every backend implements.

A recorder is a drive with a disc in it: the emulated one
(:mod:`cdfs.recorders.emulated`, whose disc is an image file) or a real drive driven
through xorriso (:mod:`cdfs.recorders.xorriso`).  Layers above talk only to this
protocol; :func:`cdfs.recorders.opening.open_recorder` picks the backend
from a drive spec.

All methods block; callers in trio run them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from cdfs.errors import NotWritableError
from cdfs.recorders.media import DiscInfo, Session
from cdfs.units import Lba

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done_bytes, total_bytes)`` while a long step runs."""


@runtime_checkable
class Recorder(Protocol):
    @property
    def ident(self) -> str:
        """A stable name for this recorder, safe as a file name; the staging
        area of the recorder is named after it."""
        ...

    @property
    def description(self) -> str:
        """One line for humans: which drive or image this is."""
        ...

    def disc_info(self) -> DiscInfo:
        """The disc's table of contents; raises NotWritableError('no disc')
        when the drive is empty."""
        ...

    def open_reader(self) -> BinaryIO:
        """A seekable binary reader of the disc's user data, where byte
        offset ``lba * 2048`` is sector ``lba``.  The caller closes it."""
        ...

    def record(
        self,
        image: Path,
        start: Lba,
        *,
        close: bool = False,
        speed: float | None = None,
        simulate: bool = False,
        progress: ProgressFn | None = None,
    ) -> Session:
        """Record ``image`` as a new session at ``start``.

        ``start`` must equal the disc's next writable address (the image's
        extents were laid out for it); otherwise RecorderError is raised and
        nothing is written.  ``close`` closes the disc after the session.
        Returns the recorded session.
        """
        ...

    def erase(self, *, full: bool = False, progress: ProgressFn | None = None) -> None:
        """Blank a rewritable disc (quick: table of contents; full: every
        sector).  Raises WriteOnceError on write-once media."""
        ...

    def eject(self) -> None:
        """Open the tray (a no-op for the emulated recorder)."""
        ...


_MIB = 1024 * 1024


def disc_full_error(nbytes: int) -> NotWritableError:
    """The error every backend raises when a recording of ``nbytes`` bytes
    cannot go on the disc in the drive (closed, full, out of sessions)."""
    mb = max(1, -(-nbytes // _MIB))
    return NotWritableError(
        "The disc in the drive is not writable or it is full: insert a blank writable"
        f" disc, or one with at least {mb} MB free"
    )
