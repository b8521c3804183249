"""Burn options: what one burn should do, and the close policy.

Owns parsing of the ``key=value`` lines written into ``.burn`` (the same
names as the ``cdfs burn`` flags), how they override the settings of
:mod:`cdfs.config`, and the rule that decides whether a burn closes the
disc.  Pure functions and records; no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from cdfs import config
from cdfs.config import Settings
from cdfs.errors import UsageError
from cdfs.iso.isonames import volume_ids
from cdfs.recorders.media import DiscInfo, DiscState, Session, recorded_length
from cdfs.units import Lba, Sectors


class ClosePolicy(enum.Enum):
    """When a burn closes the disc (no further sessions possible)."""

    NEVER = "never"
    AUTO = "auto"
    """Close when 2 % or less would remain, or no further session could fit
    (IMAPI2's rule)."""
    ALWAYS = "always"


AUTO_CLOSE_FRACTION = 0.02
MIN_SESSION = Sectors(300)
"""The smallest session worth keeping a disc open for: padding plus a
directory tree and a little data."""


@dataclass(frozen=True)
class Resolved:
    """The effective choices of one burn: options over settings."""

    label: str | None
    close: bool | None
    close_policy: ClosePolicy
    rewrite: bool
    speed: float | None
    simulate: bool
    verify: str
    eject: bool


@dataclass(frozen=True)
class BurnOptions:
    """What one burn should do; ``None`` fields fall back to the settings."""

    label: str | None = None
    close: bool | None = None
    rewrite: bool | None = None
    speed: float | None = None
    """x-factor; ``None`` means the configured speed."""
    max_speed: bool | None = None
    """``speed=max`` given explicitly: unthrottled whatever the settings say."""
    simulate: bool | None = None
    verify: str | None = None
    eject: bool | None = None

    def merged(self, later: BurnOptions) -> BurnOptions:
        """Options of two queued requests, the later one winning per field."""
        values = {}
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            values[f.name] = mine if theirs is None else theirs
        return BurnOptions(**values)

    def resolve(self, settings: Settings) -> Resolved:
        configured = self.speed if self.speed is not None else settings.speed
        speed = None if self.max_speed else configured
        return Resolved(
            label=self.label,
            close=self.close,
            close_policy=ClosePolicy(settings.close_policy),
            rewrite=bool(self.rewrite),
            speed=speed,
            simulate=settings.simulate if self.simulate is None else self.simulate,
            verify=settings.verify if self.verify is None else self.verify,
            eject=settings.eject if self.eject is None else self.eject,
        )


BURN_KEYS = ("label", "close", "rewrite", "speed", "simulate", "verify", "eject")


def parse_burn_options(text: str) -> BurnOptions:
    """Parse the ``key=value`` lines written into ``.burn``.

    Blank lines and ``#`` comments are ignored; an unknown key, a malformed
    line or a bad value is refused, never ignored.
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().lower()
        if not sep:
            raise UsageError(f"bad line in .burn: {line!r} (expected key=value)")
        if key not in BURN_KEYS:
            raise UsageError(f"unknown key in .burn: {key!r} (known: {', '.join(BURN_KEYS)})")
        values[key] = value.strip()
    return options_from(values)


def options_from(values: dict[str, str]) -> BurnOptions:
    """Validated burn options from textual values (``.burn`` lines)."""
    label = values.get("label")
    if label is not None:
        volume_ids(label)  # refuses an unusable label now, before any burn
    flags: dict[str, bool | None] = {
        key: config.parse_bool(key, values[key]) if key in values else None
        for key in ("close", "rewrite", "simulate", "eject")
    }
    speed = config.check("speed", values["speed"]) if "speed" in values else None
    verify = config.check("verify", values["verify"]) if "verify" in values else None
    return BurnOptions(
        label=label,
        speed=speed,
        max_speed=True if "speed" in values and speed is None else None,
        verify=verify,
        **flags,
    )


def should_close(
    info: DiscInfo, start: Lba, sectors: int, policy: ClosePolicy, close: bool | None
) -> bool:
    """Whether the burn of ``sectors`` at ``start`` closes the disc."""
    if close is not None:
        return close
    if policy is ClosePolicy.ALWAYS:
        return True
    if policy is ClosePolicy.NEVER:
        return False
    after = DiscInfo(
        info.media,
        DiscState.APPENDABLE,
        (*info.sessions, Session(start, recorded_length(info.media, sectors))),
        info.wasted,
    )
    remaining = after.room
    return remaining <= AUTO_CLOSE_FRACTION * info.capacity or remaining < MIN_SESSION
