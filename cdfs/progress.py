"""Progress on the terminal, and waiting for the daemon to finish its work.

Owns how the command line shows a burn, an erase or an unmount under way
(byte bars on stderr, so stdout keeps only the command's answer) and the
polling loops that wait for a daemon.  Does not know how a mount's status is
read: callers pass a function that returns it, or ``None`` once the daemon
is gone.  tqdm is imported only when a bar is shown.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from cdfs.burn.status import AT_REST
from cdfs.errors import NotMountedError

if TYPE_CHECKING:
    from tqdm import tqdm

POLL_SECONDS = 0.2
"""Burn phases in which nothing is running."""

Status = dict[str, Any]


def byte_bar(desc: str, total: int, quiet: bool = False) -> tqdm[NoReturn]:
    """A progress bar counting bytes on stderr; drawn nowhere if ``quiet``."""
    from tqdm import tqdm

    return tqdm(
        total=max(total, 1),
        desc=desc,
        unit="B",
        unit_scale=True,
        file=sys.stderr,
        disable=quiet,
    )


def advance(bar: tqdm[NoReturn], done: int, total: int) -> None:
    """Show ``done`` of ``total`` bytes (the total may change on the way)."""
    bar.total = max(total, 1)
    bar.n = done
    bar.refresh()


class PhaseBars:
    """One bar per phase (recording, verifying, ...), each left on the
    terminal when the next one starts."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.phase = ""
        self.bar: tqdm[NoReturn] | None = None

    def start(self, phase: str, total: int) -> Callable[[int, int], None]:
        """A new bar for ``phase``; returns its ``(done, total)`` callback."""
        return partial(advance, self._new_bar(phase, total))

    def show(self, burn: Status) -> None:
        """Show the ``burn`` part of a status; a new bar when the phase changed."""
        bar = self.bar
        if bar is None or burn["phase"] != self.phase:
            bar = self._new_bar(burn["phase"], burn["bytes_total"])
        advance(bar, burn["bytes_done"], burn["bytes_total"])

    def _new_bar(self, phase: str, total: int) -> tqdm[NoReturn]:
        self.close()
        self.phase = phase
        self.bar = byte_bar(f"{phase:>9}", total, self.quiet)
        return self.bar

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> PhaseBars:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def wait_for_burn(poll: Callable[[], Status | None], ticket: int, show: bool) -> Status:
    """Poll the status until a burn covering request ``ticket`` ended; returns
    the status's record of that burn."""
    with PhaseBars(quiet=not show) as bars:
        while True:
            s = poll()
            if s is None:
                raise NotMountedError("the cdfs daemon went away before the burn finished")
            last = s.get("last_burn") or {}
            burn = s["burn"]
            if last.get("request", 0) >= ticket and burn["phase"] in AT_REST:
                return dict(last)
            if burn["phase"] not in AT_REST:
                bars.show(burn)
            time.sleep(POLL_SECONDS)


def read_status_file(status_file: Path) -> Status:
    """The status a daemon last published in its staging area (an unreadable
    file counts as idle)."""
    try:
        data: Status = json.loads(status_file.read_text())
        return data
    except (OSError, ValueError):
        return {"burn": {"phase": "idle"}}


def wait_for_exit(gone: Callable[[], bool], status_file: Path, quiet: bool) -> None:
    """Wait until ``gone()`` says the unmounted daemon has finished, showing
    the burn it does meanwhile (from its status file) as one bar."""
    bar = None
    try:
        while not gone():
            burn = read_status_file(status_file).get("burn", {})
            if burn.get("phase") not in (None, *AT_REST) and not quiet:
                if bar is None:
                    bar = byte_bar("burning", 1)
                bar.set_description(burn["phase"])
                advance(bar, burn.get("bytes_done", 0), burn.get("bytes_total", 1))
            time.sleep(POLL_SECONDS)
    finally:
        if bar is not None:
            bar.close()
