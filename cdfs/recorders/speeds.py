"""Write speeds a drive offers, from ``xorriso -outdev DEV -list_speeds``.

Owns the parsing of that report (pure, tested against lines built as
libisoburn's ``Xorriso_list_speeds()`` prints them), asking a drive for it,
and the check of a requested speed (``--speed``, the ``speed`` setting)
against what the drive offers.  It does not choose a speed: without one,
xorriso lets the drive write as fast as it can.

The report lists one ``Write speed  :`` line per speed descriptor the drive
gave (kB/s and an x-factor in the unit of the loaded medium: ``C`` CD, ``D``
DVD, ``B`` BD), then ``Write speed L`` and ``Write speed H``, xorriso's best
guesses of the lowest and highest; with a CD, ``Write speed l``/``h`` from
the ATIP may override them.  An empty drive, a ROM disc or a ``stdio:``
pseudo-drive may list speeds for other media, or none at all: then there is
nothing to check against.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from cdfs.errors import UsageError

LIST_TIMEOUT = 60.0
"""Seconds xorriso may take to report the speeds (the drive may spin up)."""

UNITS = {"C": "CD", "D": "DVD", "B": "BD"}

_LINE = re.compile(r"^\s*Write speed ([ LHlh0]):\s*(\d+)k\s*,\s*([\d.]+)x([CDB])\s*$")


@dataclass(frozen=True)
class Speed:
    """One write speed: kB/s (1000 bytes) and the x-factor xorriso gave it."""

    kbps: int
    x: float
    unit: str
    """``C``, ``D`` or ``B``: the x of CD, DVD or BD."""

    def __str__(self) -> str:
        return f"{self.x:g}x"


@dataclass(frozen=True)
class SpeedList:
    """What ``-list_speeds`` said: the offered speeds, slowest first, and
    the lowest and highest xorriso settled on."""

    speeds: tuple[Speed, ...] = ()
    low: Speed | None = None
    high: Speed | None = None

    @property
    def known(self) -> bool:
        return bool(self.speeds) or self.high is not None

    def words(self) -> str:
        """``4x, 8x, 16x`` (what users type as ``--speed``)."""
        return ", ".join(str(s) for s in self.speeds) or "none"

    def as_list(self) -> list[float]:
        return [s.x for s in self.speeds]


def parse_list_speeds(text: str) -> SpeedList:
    """The speeds in the combined output of ``xorriso -list_speeds``; lines
    that are not speed lines (banner, drive and media lines, notes) are
    skipped.  ``l``/``h`` (CD ATIP) override ``L``/``H`` as the man page says."""
    offered: dict[int, Speed] = {}
    marks: dict[str, Speed] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        kind, kbps, x, unit = m.groups()
        speed = Speed(int(kbps), float(x), unit)
        if kind == " ":
            offered.setdefault(speed.kbps, speed)
        else:
            marks[kind] = speed
    speeds = tuple(sorted(offered.values(), key=lambda s: s.kbps))
    low = marks.get("l") or marks.get("L") or (speeds[0] if speeds else None)
    high = marks.get("h") or marks.get("H") or (speeds[-1] if speeds else None)
    return SpeedList(speeds, low, high)


def list_speeds_command(device: str) -> list[str]:
    return ["-outdev", device, "-list_speeds"]


def read_speeds(device: str, program: str = "xorriso", timeout: float = LIST_TIMEOUT) -> SpeedList:
    """Ask the drive ``device`` (through xorriso) which speeds it offers; an
    empty list when it cannot say (no such program, a pseudo-drive, no
    answer in time)."""
    try:
        done = subprocess.run(
            [program, *list_speeds_command(device)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return SpeedList()
    return parse_list_speeds(done.stdout)


def check_speed(speed: float | None, offered: SpeedList, where: str = "the drive") -> None:
    """Refuse a write speed outside what ``offered`` says the drive can do
    (``None``, the fastest, is always fine; so is any speed when the drive
    did not say)."""
    if speed is None or offered.high is None:
        return
    low = offered.low or offered.high
    if speed > offered.high.x + 0.05 or speed < low.x - 0.05:
        span = f"{low} to {offered.high}" if low != offered.high else f"only {offered.high}"
        raise UsageError(
            f"{where} cannot write at {speed:g}x: it offers {span} "
            f"({offered.words()}) with this disc; choose one of them, or max"
        )
