"""A disc in the simulated recorder: its media type, tracks and sessions,
and its image file.

Owns the disc's state and what follows from it alone: where tracks and
sessions start and end, the next writable address, the free blocks, the disc
status READ DISC INFORMATION reports, how far a READ CAPACITY reaches; and
its persistence (the image, ``lba * 2048``, and ``IMAGE.mmc.json`` beside it,
so that a disc can be ejected, inserted again, and read by xorriso as
``stdio:IMAGE``).  Geometry comes from cdfs's own media model
(:mod:`cdfs.recorders.media`), which the emulated recorder follows too.
What the drive answers about a disc is :mod:`tests.mmc.reports`' and
:mod:`tests.mmc.model`'s.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cdfs.recorders.media import Family, MediaType, Session, media_type, next_writable_address
from tests.mmc.scsi import PROFILES


@dataclass
class Track:
    number: int
    session: int
    start: int
    written: int = 0
    """Sectors written so far (the track's data, run-out not counted)."""
    closed: bool = False
    damaged: bool = False


@dataclass
class Disc:
    """A disc: its media type, tracks and state, and its image file."""

    media: str
    image: str
    tracks: list[Track] = field(default_factory=list)
    closed_sessions: int = 0
    finalized: bool = False
    formatted: bool = True
    """Overwritable media: formatted (DVD+RW after its first format, BD-RE)."""
    written_max: int = 0
    """Overwritable media: the highest sector written plus one."""
    wp: bool = False
    """Write-protected (a pressed or protected disc)."""
    opc_fails: bool = False
    """Power calibration fails: the drive cannot write this disc."""

    @property
    def type(self) -> MediaType:
        return media_type(self.media)

    @property
    def profile(self) -> int:
        return PROFILES[self.media.rstrip("0123456789")]

    @property
    def is_cd(self) -> bool:
        return self.type.family is Family.CD

    # -- persistence ---------------------------------------------------
    @staticmethod
    def meta_path(image: str) -> Path:
        return Path(image + ".mmc.json")

    @classmethod
    def create(cls, image: str, media: str) -> Disc:
        media_type(media)  # unknown names fail here
        Path(image).write_bytes(b"")
        disc = cls(media, image)
        disc.save()
        return disc

    @classmethod
    def load(cls, image: str) -> Disc:
        raw = json.loads(cls.meta_path(image).read_text())
        raw["tracks"] = [Track(**t) for t in raw["tracks"]]
        return cls(**raw)

    def save(self) -> None:
        tmp = Path(self.image + ".mmc.json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.meta_path(self.image))

    # -- geometry ------------------------------------------------------
    def track_end(self, t: Track) -> int:
        """The first sector after a closed track's run-out."""
        return t.start + t.written + (self.type.run_out if t.closed else 0)

    def sessions(self) -> list[list[Track]]:
        out: dict[int, list[Track]] = {}
        for t in self.tracks:
            out.setdefault(t.session, []).append(t)
        return [out[k] for k in sorted(out)]

    def closed_session_records(self) -> tuple[Session, ...]:
        """The closed sessions, as cdfs's media model describes them."""
        recs = []
        for tracks in self.sessions()[: self.closed_sessions]:
            start = tracks[0].start
            end = tracks[-1].start + tracks[-1].written
            recs.append(Session(start, end - start))  # type: ignore[arg-type]
        return tuple(recs)

    @property
    def open_track(self) -> Track | None:
        if self.tracks and not self.tracks[-1].closed:
            return self.tracks[-1]
        return None

    @property
    def session_open(self) -> bool:
        return len(self.sessions()) > self.closed_sessions

    def nwa(self) -> int | None:
        """Next writable address of the open (or next) track; None when the
        disc takes nothing more."""
        if self.type.overwritable:
            return 0
        if self.finalized:
            return None
        t = self.open_track
        if t is not None:
            return None if t.damaged else t.start + t.written
        if self.session_open:
            last = self.tracks[-1]
            return self.track_end(last)
        if not self.tracks:
            return 0
        nwa = next_writable_address(self.type, self.closed_session_records())
        return int(nwa) if nwa < self.type.capacity else None

    def free(self) -> int:
        nwa = self.nwa()
        return 0 if nwa is None else max(0, self.type.capacity - nwa)

    @property
    def status(self) -> int:
        """READ DISC INFORMATION's disc status: 0 blank, 1 appendable, 2 complete, 3 other."""
        if self.type.overwritable:
            return 3 if self.profile == 0x43 else (0 if not self.written_max else 2)
        if not self.tracks:
            return 0
        if self.finalized:
            return 2
        if self.session_open:
            return 1
        return 2 if self.nwa() is None else 1

    def readable_end(self) -> int:
        """Sectors a READ CAPACITY reports: the end of the last recorded data."""
        if self.type.overwritable:
            return self.type.capacity
        if not self.tracks:
            return 0
        last = [t for t in self.tracks if t.written]
        return self.track_end(last[-1]) if last else 0
