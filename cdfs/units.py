"""Units used across cdfs: sectors, logical block addresses and bytes.

Only plain arithmetic lives here; nothing in this module does I/O.
"""

from __future__ import annotations

from typing import NewType

SECTOR_SIZE = 2048
"""Bytes of user data in one sector (mode 1 / DVD / BD)."""

Lba = NewType("Lba", int)
"""An absolute logical block address on the disc (sector number)."""

Sectors = NewType("Sectors", int)
"""A count of 2048-byte sectors."""


def sectors_for(nbytes: int) -> Sectors:
    """The number of whole sectors needed to hold ``nbytes`` bytes."""
    return Sectors(-(-nbytes // SECTOR_SIZE))


def to_bytes(count: int) -> int:
    """Bytes in ``count`` sectors."""
    return count * SECTOR_SIZE


ISO_DATE_RANGE = (-2_208_988_800, 5_869_584_000 - 1)
"""Seconds since the epoch that ISO 9660 dates can hold (ECMA-119 9.1.5):
1900-01-01 00:00:00 to 2155-12-31 23:59:59 UTC."""
