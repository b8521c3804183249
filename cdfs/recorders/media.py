"""The media model: disc types, their geometry, sessions and the rules for
where the next session may start.

This module owns the arithmetic of discs (capacities, session overheads, the
next writable address) and the immutable records that describe a disc's
table of contents.  It does no I/O: recorders (:mod:`cdfs.recorders.emulated`,
:mod:`cdfs.recorders.xorriso`) fill these records in.

Geometry and overheads follow ../shared/REFERENCE.md (Orange Book for CD).
DVD and BD overheads are smaller and only approximated for the emulated
recorder; a real drive reports its own next writable address.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cdfs.errors import UsageError
from cdfs.units import SECTOR_SIZE, Lba, Sectors


class Family(enum.Enum):
    CD = "cd"
    DVD = "dvd"
    BD = "bd"


@dataclass(frozen=True)
class MediaType:
    """One kind of blank disc."""

    name: str
    """The name users type: ``cd-r80``, ``dvd+rw``, ..."""
    family: Family
    capacity: Sectors
    """User-data sectors on a blank disc of this type."""
    rewritable: bool
    """Can be erased (CD-RW, DVD-RW) or overwritten (DVD+RW, BD-RE)."""
    title: str
    """Human description shown by ``cdfs media info``."""
    first_gap: Sectors = Sectors(0)
    """Sectors between the end of the first session and the next one."""
    later_gap: Sectors = Sectors(0)
    """Sectors between the end of a later session and the next one."""
    run_out: Sectors = Sectors(0)
    """Unreadable sectors that end each track (CD track-at-once)."""
    max_sessions: int = 99
    """Sessions the medium holds: 99 on CD (Orange Book); on BD-R, 300, where
    xorriso warns that writing is "likely to soon fail" (``Xorriso_toc()``);
    unlimited (:data:`NO_SESSION_LIMIT`) on overwritable media, whose
    sessions are xorriso's emulation, not the medium's."""
    alignment: Sectors = Sectors(16)
    """Sessions start on a multiple of this (32 KiB, as xorriso does on DVD
    and BD; CD sessions start exactly where the drive says)."""
    single_session: bool = False
    """Takes one session only, written at once (DAO) and closed: DVD-R DL and
    quick-blanked DVD-RW (xorriso's man page, "Media types and states")."""
    overwritable: bool = False
    """Grows in place, with no sessions of its own on the medium (DVD+RW,
    BD-RE, formatted DVD-RW, DVD-RAM, xorriso's ``stdio:`` files): after
    each session the newest session's head is copied to LBAs 0-31 (see
    :data:`SUPERBLOCK`), so the first session starts at 32."""

    @property
    def write_once(self) -> bool:
        return not self.rewritable

    @property
    def first_start(self) -> Lba:
        """Where the first session on a blank disc of this type starts."""
        return Lba(SUPERBLOCK) if self.overwritable else Lba(0)

    @property
    def capacity_bytes(self) -> int:
        return self.capacity * SECTOR_SIZE


NO_SESSION_LIMIT = 1 << 31
"""The session limit of overwritable media: none of the medium's own."""


def _cd(name: str, capacity: int, rewritable: bool, title: str) -> MediaType:
    # Orange Book: lead-in 4,500 + lead-out (6,750 first, 2,250 later) + 150
    # pre-gap; TAO tracks end with 2 run-out sectors.
    return MediaType(
        name,
        Family.CD,
        Sectors(capacity),
        rewritable,
        title,
        first_gap=Sectors(11_400),
        later_gap=Sectors(6_900),
        run_out=Sectors(2),
        alignment=Sectors(1),
    )


MEDIA_TYPES: dict[str, MediaType] = {
    m.name: m
    for m in (
        _cd("cd-r74", 333_000, False, "CD-R 74 min (650 MB)"),
        _cd("cd-r80", 360_000, False, "CD-R 80 min (700 MB)"),
        _cd("cd-r90", 405_000, False, "CD-R 90 min (800 MB)"),
        _cd("cd-r99", 445_500, False, "CD-R 99 min (870 MB)"),
        _cd("cd-rw74", 333_000, True, "CD-RW 74 min (650 MB)"),
        _cd("cd-rw80", 360_000, True, "CD-RW 80 min (700 MB)"),
        # DVD-R incremental: each border-out costs space; approximated.
        MediaType(
            "dvd-r",
            Family.DVD,
            Sectors(2_298_496),
            False,
            "DVD-R (4.7 GB)",
            first_gap=Sectors(16_384),
            later_gap=Sectors(3_072),
        ),
        MediaType(
            "dvd+r",
            Family.DVD,
            Sectors(2_295_104),
            False,
            "DVD+R (4.7 GB)",
            first_gap=Sectors(2_048),
            later_gap=Sectors(2_048),
        ),
        MediaType(
            "dvd-rw",
            Family.DVD,
            Sectors(2_298_496),
            True,
            "DVD-RW (4.7 GB)",
            first_gap=Sectors(16_384),
            later_gap=Sectors(3_072),
        ),
        # Overwritable media grow in place: no lead-in/out between sessions.
        MediaType(
            "dvd+rw",
            Family.DVD,
            Sectors(2_295_104),
            True,
            "DVD+RW (4.7 GB)",
            overwritable=True,
            max_sessions=NO_SESSION_LIMIT,
        ),
        MediaType("bd-r", Family.BD, Sectors(12_219_392), False, "BD-R (25 GB)", max_sessions=300),
        MediaType(
            "bd-re",
            Family.BD,
            Sectors(12_219_392),
            True,
            "BD-RE (25 GB)",
            overwritable=True,
            max_sessions=NO_SESSION_LIMIT,
        ),
    )
}

SUPERBLOCK = Sectors(32)
"""LBAs 0-31 of overwritable media: where xorriso (``-grow_overwriteable_iso``)
copies the newest session's first 32 sectors, volume descriptors included,
so that readers starting at LBA 16 see the newest tree.  Sessions never
start there, and nothing a later session keeps may lie there."""

SESSION_PADDING = Sectors(150)
"""Sectors of zeros that end every mastered session image (300 KiB, as
``mkisofs -pad`` does); part of the image, so counted in its size."""

RECORDER_PADDING = Sectors(150)
"""Sectors of zeros the recorder writes after the image: xorriso records
with ``padsize=300k``, and the emulated recorder writes the same, so that
the room a session needs is counted alike on every backend
(:func:`recorded_length` says when the padding is part of the session)."""

# 1x speeds in bytes of user data per second.
SPEED_1X = {Family.CD: 153_600, Family.DVD: 1_385_000, Family.BD: 4_495_625}


def media_type(name: str) -> MediaType:
    """Look a media type up by name, with a clear error for unknown names."""
    try:
        return MEDIA_TYPES[name.lower()]
    except KeyError:
        known = ", ".join(MEDIA_TYPES)
        raise UsageError(f"unknown media type {name!r}; known types: {known}") from None


class DiscState(enum.Enum):
    BLANK = "blank"
    APPENDABLE = "appendable"
    CLOSED = "closed"


@dataclass(frozen=True)
class Session:
    """One recorded session: where it starts and how many sectors it holds.

    ``length`` counts the sectors written (image plus padding), not the
    run-out or the gap before the next session.
    """

    start: Lba
    length: Sectors

    @property
    def end(self) -> Lba:
        return Lba(self.start + self.length)


@dataclass(frozen=True)
class DiscInfo:
    """What a recorder knows about the disc in it."""

    media: MediaType
    state: DiscState
    sessions: tuple[Session, ...] = ()
    wasted: tuple[Session, ...] = ()
    """Ranges lost to interrupted recordings (write-once media)."""
    label: str = ""
    identity: str = ""
    """Changes whenever the disc is written or swapped (wrong-disc check)."""
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    blocked: str = ""
    """Why no session can be added now although the disc is not closed (a
    damaged track, no writable address), in plain words with the way out;
    empty when nothing blocks it."""

    @property
    def capacity(self) -> Sectors:
        return self.media.capacity

    @property
    def last_session(self) -> Session | None:
        return self.sessions[-1] if self.sessions else None

    @property
    def nwa(self) -> Lba | None:
        """Next writable address, or None when nothing more can be written."""
        if self.state is DiscState.CLOSED or self.blocked:
            return None
        return next_writable_address(self.media, self.sessions, self.wasted)

    @property
    def used(self) -> Sectors:
        """Sectors no longer available: written data plus session overheads."""
        nwa = self.nwa
        if nwa is None:
            return self.capacity
        return Sectors(min(nwa, self.capacity))

    @property
    def room(self) -> Sectors:
        """Sectors the image of a next session may take: from the next
        writable address to the end of the disc, less the recorder's
        padding and the track's run-out.  0 on a closed disc, or one with
        the most sessions it can hold.  The session's own metadata is part
        of its image: :mod:`cdfs.mount.space` turns this into the free figure."""
        nwa = self.nwa
        if nwa is None or len(self.sessions) >= self.media.max_sessions:
            return Sectors(0)
        return Sectors(max(0, self.capacity - nwa - session_cost(self.media)))

    @property
    def blank_room(self) -> Sectors:
        """What :attr:`room` is once a rewritable disc is blanked (the one
        session of ``cdfs burn --rewrite``, which starts where a blank
        disc's first session does: at 32 on overwritable media)."""
        start = self.media.first_start
        return Sectors(max(0, self.capacity - start - session_cost(self.media)))

    @property
    def writable(self) -> bool:
        return self.room > 0


def recorded_length(media: MediaType, image: int) -> Sectors:
    """The session a recording of ``image`` sectors leaves: the image and
    the recorder's padding, which is part of the track on sequential media
    and which a next session overwrites on overwritable media."""
    return Sectors(image + (0 if media.overwritable else RECORDER_PADDING))


def session_cost(media: MediaType) -> Sectors:
    """Sectors a recording takes beyond its image: the recorder's padding
    and the track's run-out (the gap before a further session is counted
    when that session comes)."""
    return Sectors(RECORDER_PADDING + media.run_out)


def closes(media: MediaType, asked: bool) -> bool:
    """Whether a burn that ``asked`` to close the disc (or not) closes it:
    single-session media are closed by their one burn; overwritable media
    cannot be closed at all (xorriso: "no effect on overwritable media")."""
    if media.overwritable:
        return False
    return asked or media.single_session


def not_closed_words(media: MediaType) -> str:
    """What a burn asked to close an overwritable disc says."""
    return f"a {media.title} cannot be closed: it stays writable"


def erases_fully(media: MediaType, full: bool) -> bool:
    """Whether an erase of ``media`` blanks every sector: asked for, or a
    sequential DVD-RW, which a quick (minimal) blank would leave able to
    take one DAO session only, so xorriso blanks it fully
    (xorrecord's man page, ``blank=fast``)."""
    return full or media.name == "dvd-rw"


def erase_words(media: MediaType, full: bool) -> str:
    """What an erase does, for the message before and after it."""
    minutes = media.capacity_bytes / SPEED_1X[media.family] / 60
    if full and media.overwritable:
        return (
            f"full erase: every sector of the {media.title} was overwritten with zeros, which"
            f" takes up to {minutes:.0f} minutes; a quick erase only makes it blank for"
            " cdfs and xorriso"
        )
    if full or not erases_fully(media, full):
        return "full erase" if full else "quick erase"
    return (
        f"full erase: a {media.title} is always erased fully, since a quick erase would"
        f" leave it able to take one session only; this takes up to {minutes:.0f} minutes"
    )


def start_allowed(info: DiscInfo, start: Lba) -> bool:
    """Whether a session may be recorded at ``start``: at the next writable
    address; and on a blank overwritable disc also at 0, for a whole image
    that carries its own head (``cdfs burn-image``), as xorriso and
    growisofs write one."""
    if start == info.nwa:
        return True
    return start == 0 and info.state is DiscState.BLANK and info.media.overwritable


def superblock_overlap(media: MediaType, extents: tuple[tuple[int, int], ...]) -> bool:
    """Whether data at these ``(lba, bytes)`` extents lies where the next
    session on ``media`` overwrites it (LBAs 0-31 of overwritable media): a
    session that keeps such a file must carry its data anew."""
    return media.overwritable and any(n > 0 and lba < SUPERBLOCK for lba, n in extents)


def next_writable_address(
    media: MediaType, sessions: tuple[Session, ...], wasted: tuple[Session, ...] = ()
) -> Lba:
    """Where the next session starts, by the rules of this media type: on a
    blank disc at :attr:`MediaType.first_start` (32 on overwritable media,
    whose LBAs 0-31 hold the superblock copy; else 0)."""
    ends = [(s.end, i == 0) for i, s in enumerate(sessions)]
    ends += [(w.end, not sessions) for w in wasted]
    if not ends:
        return media.first_start
    end, first = max(ends)
    gap = media.first_gap if first else media.later_gap
    nwa = end + media.run_out + gap
    return Lba(-(-nwa // media.alignment) * media.alignment)
