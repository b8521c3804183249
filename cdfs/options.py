"""Burn options: what one burn should do, and the close policy.

Owns parsing of the ``key=value`` lines written into ``.burn`` (the same
keys as the ``cdfs burn`` flags), and the rule that decides whether a burn
closes the disc.  Pure functions and records; no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from .errors import UsageError
from .isonames import volume_ids
from .media import DiscInfo, DiscState, Session
from .units import Lba, Sectors


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

_TRUE = ("yes", "true", "1", "on")
_FALSE = ("no", "false", "0", "off")


@dataclass(frozen=True)
class BurnOptions:
    """What one burn should do; ``None`` fields fall back to the defaults."""

    label: str | None = None
    close: bool | None = None
    rewrite: bool = False

    def merged(self, later: BurnOptions) -> BurnOptions:
        """Options of two queued requests, the later one winning per field."""
        values = {}
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            values[f.name] = theirs if theirs not in (None, False) else mine
        return BurnOptions(**values)


def parse_bool(key: str, value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"{key} must be yes or no, not {value!r}")


BURN_KEYS = ("label", "close", "rewrite")


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
    label = values.get("label")
    if label is not None:
        volume_ids(label)  # refuses an unusable label now, before any burn
    close = parse_bool("close", values["close"]) if "close" in values else None
    rewrite = parse_bool("rewrite", values["rewrite"]) if "rewrite" in values else False
    return BurnOptions(label=label, close=close, rewrite=rewrite)


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
        (*info.sessions, Session(start, Sectors(sectors))),
        info.wasted,
    )
    remaining = after.free
    return remaining <= AUTO_CLOSE_FRACTION * info.capacity or remaining < MIN_SESSION
