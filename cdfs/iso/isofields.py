"""Decoding the small fields of a session's directory records: dates
(ECMA-119 9.1.5 and 8.4.26.1), Rock Ridge TF timestamps (RRIP 1.12 4.1.6),
and where each record of a directory's bytes is (ECMA-119 6.8.1.1: records
do not cross sectors).

This module owns only these decodings, cached where many records share a
value; what a session and its tree are is :mod:`cdfs.iso.discread`'s.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

from cdfs.errors import InvalidImageError
from cdfs.units import SECTOR_SIZE

__all__ = ["dr_date", "positions", "tf_times", "vd_date"]


def _ns(
    fields: tuple[int, int, int, int, int, int], gmtoff: int, hundredths: int = 0
) -> int | None:
    """Nanoseconds since the epoch, or None for an unset or invalid date."""
    year, month, day, hour, minute, second = fields
    try:
        tz = timezone(timedelta(minutes=15 * gmtoff))
        t = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except (ValueError, TypeError, OverflowError):
        return None
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + hundredths * 10**7


@functools.lru_cache(maxsize=4096)
def dr_date(b: bytes) -> int | None:
    """ECMA-119 9.1.5: years since 1900, month, day, h, m, s, GMT offset."""
    y, mo, d, h, mi, s, off = struct.unpack("<6Bb", b)
    return _ns((1900 + y, mo, d, h, mi, s), off)


@functools.lru_cache(maxsize=4096)
def vd_date(b: bytes) -> int | None:
    """ECMA-119 8.4.26.1: 16 ASCII digits and a GMT offset."""
    try:
        y, mo, d, h, mi, s, cs = (int(b[i : i + 2]) for i in range(2, 16, 2))
        y += 100 * int(b[:2])
    except ValueError:
        return None
    return _ns((y, mo, d, h, mi, s), struct.unpack_from("<b", b, 16)[0], cs)


def positions(data: bytes, start: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each directory record in a directory's bytes."""
    pos, size = 0, len(data)
    while pos < size:
        n = data[pos]
        if n == 0:  # records do not cross sectors; the rest is padding
            pos = (pos // SECTOR_SIZE + 1) * SECTOR_SIZE
            continue
        end, id_len = pos + n, data[pos + 32] if pos + 32 < size else 0
        if n < 34 or end > size or 33 + id_len > n:
            raise InvalidImageError(f"a directory record in the session at {start} is damaged")
        yield pos, end
        pos = end


@functools.lru_cache(maxsize=4096)
def tf_times(body: bytes) -> Mapping[int, int | None]:
    """RRIP 4.1.6: timestamps in flag-bit order (0 CREATE, 1 MODIFY,
    2 ACCESS, 3 ATTRIBUTES, ...), 7 bytes each, or 17 with LONG_FORM."""
    flags, long = body[0], bool(body[0] & 0x80)
    width, pos, out = (17 if long else 7), 1, {}
    for bit in range(7):
        if flags & (1 << bit) and pos + width <= len(body):
            stamp = body[pos : pos + width]
            out[bit] = vd_date(stamp) if long else dr_date(stamp)
            pos += width
    return MappingProxyType(out)  # cached: shared by the records with these times
