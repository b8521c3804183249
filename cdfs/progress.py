"""Progress on the terminal, and waiting for the daemon to finish its work.

Owns how the command line shows a burn, an erase or an unmount under way,
on stderr (stdout keeps only the command's answer): on a terminal one bar
per phase, redrawn in place and left at 100 % when its phase ends well; to a
pipe or a file, plain lines (no carriage returns), one when a phase starts,
at every :data:`STEP_PERCENT` and when it ends.  Speeds are the daemon's (or,
for a command that records itself, :mod:`cdfs.burn.rate`'s) over a moving window,
with the x-factor while recording.  Also owns the polling loops that wait
for a daemon.  Does not know how a mount's status is read: callers pass a
function that returns it, or ``None`` once the daemon is gone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from cdfs.burn.rate import RateWindow, average
from cdfs.burn.status import AT_REST, human_bytes
from cdfs.errors import NoDiscError, NotMountedError

POLL_SECONDS = 0.2
STEP_PERCENT = 25
"""Without a terminal, a line at every this many percent of a phase."""
REDRAW_SECONDS = 0.1
BAR_WIDTH = 24

Status = dict[str, Any]


def progress_line(
    phase: str,
    done: int,
    total: int,
    *,
    rate: float | None = None,
    x_factor: float | None = None,
    remaining: float | None = None,
    seconds: float | None = None,
    bar: int = BAR_WIDTH,
) -> str:
    """One line of progress: ``recording  45% |#####    | 150.0 MB of 330.0
    MB, 2.4 MB/s (16.0x), 75 s left``, with a bar ``bar`` characters wide
    (none if 0; ``seconds``: the phase has ended and took that long)."""
    pct = 100 * done // total if total > 0 else (100 if seconds is not None else 0)
    head = f"{phase:>9} {pct:3d}%"
    if bar > 0:
        filled = bar * pct // 100
        head += f" |{'█' * filled}{' ' * (bar - filled)}|"
    parts = []
    amount = ""
    if total > 0:
        amount = human_bytes(total) if seconds is not None else human_bytes(done)
        amount += "" if seconds is not None else f" of {human_bytes(total)}"
    if seconds is not None:
        amount = f"{amount} in {seconds:.1f} s".strip()
    if amount:
        parts.append(amount)
    if rate:
        parts.append(f"{human_bytes(rate)}/s" + (f" ({x_factor:.1f}x)" if x_factor else ""))
    if remaining is not None and seconds is None:
        parts.append(f"{int(remaining + 0.5)} s left")
    return f"{head} {', '.join(parts)}".rstrip()


class PhaseBars:
    """The phases of one burn, erase or unmount, one bar (or a few plain
    lines) each.  Fed either with the daemon's status (:meth:`show`) or by
    the recorder's progress callbacks (:meth:`start`)."""

    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.out = stream or sys.stderr
        self.tty = self.out.isatty()
        self.open = ""
        """The phase whose bar is drawn and not yet ended."""
        self._drawn = 0.0
        self._step = -1
        self.run: int | None = None
        self.skip_run: int | None = None
        self._finished = 0
        self._local: tuple[str, int, float, RateWindow, int] | None = None
        self.one_x = 0
        """Bytes per second of 1x, for the x-factor of a recording (:meth:`start`)."""

    # -- from the daemon's status --------------------------------------------

    def show(self, burn: Status) -> None:
        """Show the ``burn`` part of a status: the phases that ended since
        the last look at 100 %, then the one under way."""
        run = burn.get("run")
        if run is not None and run == self.skip_run:
            return
        if run != self.run:
            self.end_line()
            self.run, self._finished = run, 0
        finished = burn.get("finished") or []
        for phase in finished[self._finished :]:
            self.finish(
                phase["phase"],
                phase.get("bytes_total", 0),
                phase.get("seconds", 0.0),
                phase.get("bytes_per_second"),
                phase.get("x_factor"),
            )
        self._finished = len(finished)
        if burn.get("phase") not in (None, *AT_REST):
            self.draw(
                burn["phase"],
                burn.get("bytes_done", 0),
                burn.get("bytes_total", 0),
                rate=burn.get("bytes_per_second"),
                x_factor=burn.get("x_factor"),
                remaining=burn.get("seconds_remaining"),
            )
        elif burn.get("phase") == "failed":
            self.end_line()

    # -- from progress callbacks ---------------------------------------------

    def start(self, phase: str, total: int) -> Callable[[int, int], None]:
        """A new phase of a job this process runs (the one before ended
        well); returns its ``(done, total)`` callback."""
        self.complete()
        one_x = self.one_x if phase == "recording" else 0
        window = RateWindow()
        window.add(0)
        self._local = (phase, total, time.monotonic(), window, one_x)
        self.draw(phase, 0, total)
        return partial(self._advance, phase)

    def _advance(self, phase: str, done: int, total: int) -> None:
        if self._local is None or self._local[0] != phase:
            return
        _, _, began, window, one_x = self._local
        self._local = (phase, total, began, window, one_x)
        window.add(done)
        rate = window.rate()
        remaining = (total - done) / rate if rate else None
        x = rate / one_x if rate and one_x else None
        self.draw(phase, done, total, rate=rate, x_factor=x, remaining=remaining)

    def complete(self) -> None:
        """The phase under way (of :meth:`start`) ended well: at 100 %."""
        if self._local is None:
            return
        phase, total, began, _window, one_x = self._local
        self._local = None
        seconds = time.monotonic() - began
        speed = average(total, seconds)
        self.finish(phase, total, seconds, speed, speed / one_x if speed and one_x else None)

    # -- drawing -------------------------------------------------------------

    def finish(
        self,
        phase: str,
        total: int,
        seconds: float,
        rate: float | None = None,
        x_factor: float | None = None,
    ) -> None:
        """``phase`` ended well: its bar at 100 %, left on the terminal."""
        self.draw(phase, total, total, rate=rate, x_factor=x_factor, seconds=seconds)
        self.end_line()

    def draw(
        self,
        phase: str,
        done: int,
        total: int,
        *,
        rate: float | None = None,
        x_factor: float | None = None,
        remaining: float | None = None,
        seconds: float | None = None,
    ) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        new = phase != self.open
        if new:
            self.end_line()
            self.open, self._step = phase, -1
        pct = 100 * done // total if total > 0 else (100 if seconds is not None else 0)
        words = dict(rate=rate, x_factor=x_factor, remaining=remaining, seconds=seconds)
        line = progress_line(phase, done, total, bar=0, **words)
        if self.tty:
            # One terminal row, or redrawing in place would leave wrapped rows.
            cols = self.columns() - 1
            room = min(BAR_WIDTH, cols - len(line) - 3)
            if room >= 5:
                line = progress_line(phase, done, total, bar=room, **words)
            line = line[:cols]
            if new or seconds is not None or now - self._drawn >= REDRAW_SECONDS:
                self.out.write(f"\r{line}\x1b[K")
                self.out.flush()
                self._drawn = now
            return
        # 100 % is said once, when the phase has ended (finish).
        step = 100 if seconds is not None else pct // STEP_PERCENT
        if (new or step > self._step) and (pct < 100 or seconds is not None):
            self.out.write(f"{line}\n")
            self.out.flush()
            self._step = step

    def columns(self) -> int:
        """The width of the terminal drawn on (80 if it does not say)."""
        try:
            return os.get_terminal_size(self.out.fileno()).columns or 80
        except (OSError, ValueError):
            return 80

    def end_line(self) -> None:
        """Leave the bar drawn so far as it is, and go on below it."""
        if self.open and self.tty and not self.quiet:
            self.out.write("\n")
            self.out.flush()
        self.open = ""

    def close(self, ok: bool = True) -> None:
        if ok:
            self.complete()
        self.end_line()

    def __enter__(self) -> PhaseBars:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(ok=kind is None)


def wait_for_burn(poll: Callable[[], Status | None], ticket: int, show: bool) -> Status:
    """Poll the status until a burn covering request ``ticket`` ended; returns
    the status's record of that burn."""
    with PhaseBars(quiet=not show) as bars:
        first = True
        while True:
            s = poll()
            if s is None:
                raise NotMountedError("the cdfs daemon went away before the burn finished")
            last = s.get("last_burn") or {}
            burn = s["burn"]
            ours = last.get("request", 0) >= ticket
            if first and burn["phase"] in AT_REST and not ours:
                bars.skip_run = burn.get("run")  # the burn before: not ours to show
            first = False
            bars.show(burn)
            if ours and burn["phase"] in AT_REST:
                return dict(last)
            time.sleep(POLL_SECONDS)


def read_status_file(status_file: Path) -> Status:
    """The status a daemon last published in its staging area (an unreadable
    file counts as idle)."""
    try:
        data: Status = json.loads(status_file.read_text())
        return data
    except (OSError, ValueError):
        return {"burn": {"phase": "idle"}}


def wait_for_exit(
    gone: Callable[[], bool], status_file: Path, quiet: bool, skip_run: int | None
) -> None:
    """Wait until ``gone()`` says the unmounted daemon has finished, showing
    the burn it does meanwhile (from its status file); ``skip_run`` is the
    run the status showed before unmounting (an earlier burn's)."""
    with PhaseBars(quiet=quiet) as bars:
        bars.skip_run = skip_run
        while not gone():
            bars.show(read_status_file(status_file).get("burn", {}))
            time.sleep(POLL_SECONDS)
        bars.show(read_status_file(status_file).get("burn", {}))


def wait_for_disc(
    poll: Callable[[], Status | None], timeout: float | None, quiet: bool, mountpoint: Path
) -> None:
    """Before a burn: while the mount's drive is empty, ask for a disc and
    wait until the mount shows one (or ``timeout`` seconds have passed)."""
    s = poll()
    if s is None or s.get("state") != "no disc":
        return
    limit = "" if timeout is None else f" (for up to {timeout:g} s)"
    if not quiet:
        print(f"cdfs: insert a blank or appendable disc into the drive; waiting{limit}",
              file=sys.stderr)  # fmt: skip
    deadline = None if timeout is None else time.monotonic() + timeout
    while (s := poll()) is not None and s.get("state") == "no disc":
        if deadline is not None and time.monotonic() > deadline:
            raise NoDiscError(
                f"no disc was inserted within {timeout:g} s: nothing was burned and the "
                f"staged files are kept; 'cdfs burn --wait {mountpoint}' tries again"
            )
        time.sleep(POLL_SECONDS)
    if s is None:
        raise NotMountedError(f"{mountpoint} was unmounted while waiting for a disc")
