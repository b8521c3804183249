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
