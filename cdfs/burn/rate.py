"""Honest speeds: bytes per second over a moving window.

Owns how a speed is figured from progress reports, for the daemon's status
and for the bars of the commands that record themselves (``burn-image``,
``erase``).  A speed is the bytes done over the last few seconds divided by
the time they took, and there is none until the reports span a second: a
recorder that reports a whole chunk at once (the emulated one writes to a
file, which takes no time at all) would otherwise show "1 TB/s".  No I/O.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_SECONDS = 5.0
"""The speed is that of the last this many seconds."""

LEAST_SECONDS = 1.0
"""No speed until the reports span this long."""


class RateWindow:
    """Bytes per second over the last :data:`WINDOW_SECONDS`; reports may
    come from another thread than the one that asks for the speed."""

    def __init__(self, window: float = WINDOW_SECONDS, least: float = LEAST_SECONDS) -> None:
        self.window, self.least = window, least
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def add(self, done: int, now: float | None = None) -> None:
        """Record that ``done`` bytes are done (at ``now``, monotonic)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            s = self._samples
            if len(s) > 1 and now - s[-2][0] < 0.1:
                s[-1] = (now, done)  # at most ten samples a second
            else:
                s.append((now, done))
            # Keep one sample at or before the window's start.
            while len(s) > 2 and s[1][0] <= now - self.window:
                s.popleft()

    def rate(self, now: float | None = None) -> float | None:
        """Bytes per second over the window up to ``now``; ``None`` until the
        reports span :data:`LEAST_SECONDS` (a stall lowers the speed: the
        time since the last report counts)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self._samples:
                return None
            (t0, d0), (_t1, d1) = self._samples[0], self._samples[-1]
        if now - t0 < self.least:
            return None
        return max(d1 - d0, 0) / (now - t0)


def average(done: int, seconds: float) -> float | None:
    """The speed of a whole phase of ``done`` bytes, if it took long enough
    to say (:data:`LEAST_SECONDS`)."""
    return done / seconds if seconds >= LEAST_SECONDS and done > 0 else None
