"""What shapes an emulated recording besides the disc: its pace and its faults.

Owns the speed an emulated drive writes at (:func:`throttle_rate`, from the
medium's 1x rate in :mod:`cdfs.recorders.media`) and the failures it can be
told to inject for tests (:class:`Faults`, also read from the environment
variable ``CDFS_EMULATED_FAULTS``).  The drive that obeys them is
:mod:`cdfs.recorders.emulated`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdfs.errors import UsageError
from cdfs.recorders.media import SPEED_1X, MediaType
from cdfs.units import Lba

FAULTS_ENV = "CDFS_EMULATED_FAULTS"


def throttle_rate(media: MediaType, speed: float | None) -> float | None:
    """Bytes per second an emulated drive writes at ``speed`` (an x-factor);
    None means as fast as the host allows."""
    if speed is None:
        return None
    if speed <= 0:
        raise UsageError(f"recording speed must be positive, not {speed:g}")
    return speed * SPEED_1X[media.family]


@dataclass(frozen=True)
class Faults:
    """Failures the emulated drive injects, for tests.

    ``fail_after_bytes`` and ``remove_after_bytes`` count image bytes within
    one recording; ``bad_sector`` fails any write touching that LBA;
    ``slow`` adds seconds per MiB written.
    """

    fail_after_bytes: int | None = None
    bad_sector: Lba | None = None
    slow: float | None = None
    remove_after_bytes: int | None = None
    corrupt_at_byte: int | None = None
    """Silently record a wrong byte at this offset of the image (a bad
    sector the drive did not notice): only verification can catch it."""

    @classmethod
    def from_json(cls, text: str) -> Faults:
        """Parse a JSON object such as ``{"fail_after_bytes": 1048576}``."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{FAULTS_ENV} is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise UsageError(f"{FAULTS_ENV} must be a JSON object, not {text!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UsageError(
                f"{FAULTS_ENV}: unknown fault {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, value in raw.items():
            if value is None:
                continue
            number_ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not number_ok or value < 0 or (name != "slow" and not isinstance(value, int)):
                raise UsageError(f"{FAULTS_ENV}: {name} must be a non-negative number")
            values[name] = float(value) if name == "slow" else value
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Faults:
        """The faults named in ``CDFS_EMULATED_FAULTS`` (none when unset)."""
        text = (os.environ if environ is None else environ).get(FAULTS_ENV, "").strip()
        return cls.from_json(text) if text else cls()
