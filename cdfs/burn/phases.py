"""The phases of a burn or an erase, and their progress as the status shows it.

Owns the phase names, the progress record the daemon publishes (phase,
bytes, smoothed speed and x-factor, time left, and the phases of this run
that ended well, so that a command polling now and then still sees each
reach 100 %), the default disc name, and the test knob that pauses a burn
on entering a phase (``CDFS_FAULT_PAUSE``).  The order of the phases is
:mod:`cdfs.burn.job`'s.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from cdfs.burn.rate import RateWindow, average
from cdfs.burn.status import AT_REST

log = logging.getLogger(__name__)


PHASES = ("idle", "checking", "mastering", "recording", "verifying", "erasing", "done", "failed")


FAULT_PAUSE_ENV = "CDFS_FAULT_PAUSE"
"""Fault knob for tests: ``PHASE`` or ``PHASE:SECONDS`` makes burns wait
when they enter that phase, so a test can kill the daemon at a known point."""


def fault_pause() -> tuple[str, float] | None:
    """The phase and seconds of the fault knob, read once when the daemon
    starts; a knob that names no phase a burn enters is a warning, never
    silently ignored."""
    knob = os.environ.get(FAULT_PAUSE_ENV, "")
    if not knob:
        return None
    phase, _, seconds = knob.partition(":")
    entered = PHASES[1:]
    if phase not in entered:
        log.warning(
            "%s=%s ignored: %r is not a burn phase (%s)",
            FAULT_PAUSE_ENV,
            knob,
            phase,
            ", ".join(entered),
        )
        return None
    try:
        return phase, float(seconds or 60)
    except ValueError:
        log.warning("%s=%s ignored: %r is not a number of seconds", FAULT_PAUSE_ENV, knob, seconds)
        return None


def default_label(now: _dt.datetime | None = None) -> str:
    """The disc name when none is given: the date, as the XP wizard did."""
    return (now or _dt.datetime.now()).strftime("%Y-%m-%d")


@dataclass
class Progress:
    """The running burn's phase and progress; read by ``.status``.

    A burn (or an erase) is a run of phases; each phase that ended well is
    kept in ``finished`` until the next run starts, so that a command that
    looked in only now and then still shows every phase reaching 100 %."""

    phase: str = "idle"
    done: int = 0
    total: int = 0
    started: float = 0.0
    phase_started: float = 0.0

    one_x: int = 0
    """Bytes per second of 1x while recording, for the x-factor."""

    run: int = 0
    """Counts the burns and erases started, to tell one's phases from another's."""

    finished: list[dict[str, Any]] = field(default_factory=list)
    """The phases of this run that ended well, as :meth:`summary` gives them."""

    window: RateWindow = field(default_factory=RateWindow)

    def enter(self, phase: str, total: int = 0, one_x: int = 0) -> None:
        now = time.monotonic()
        if self.phase in AT_REST:
            if phase not in AT_REST:
                self.run, self.finished = self.run + 1, []
        elif phase != "failed":
            self.finished.append(self.summary(now))
        self.phase, self.done, self.total, self.one_x = phase, 0, total, one_x
        self.phase_started = now
        self.window = RateWindow()
        self.window.add(0, now)
        if phase == "checking":
            self.started = time.time()

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.window.add(done)

    def summary(self, now: float) -> dict[str, Any]:
        """The phase under way as one that ended well: all of it done."""
        seconds = now - self.phase_started
        speed = average(self.total, seconds)
        return {
            "phase": self.phase,
            "bytes_total": self.total,
            "seconds": round(seconds, 2),
            "bytes_per_second": round(speed) if speed else None,
            "x_factor": round(speed / self.one_x, 1) if speed and self.one_x else None,
        }

    def as_dict(self) -> dict[str, Any]:
        pct = 100.0 * self.done / self.total if self.total else 0.0
        rate = self.window.rate()
        remaining = (self.total - self.done) / rate if rate and self.total else None
        return {
            "phase": self.phase,
            "percent": round(pct, 1),
            "bytes_done": self.done,
            "bytes_total": self.total,
            "bytes_per_second": round(rate) if rate else None,
            "seconds_remaining": round(remaining, 1) if remaining is not None else None,
            "x_factor": round(rate / self.one_x, 1) if rate and self.one_x else None,
            "run": self.run,
            "finished": list(self.finished),
        }
