"""What xorriso prints, read: its reports turned into media records.

Owns the parsing of xorriso's ``-toc`` and ``-msinfo`` reports and its
progress lines, the nominal media type of an MMC profile, and the
:class:`~cdfs.recorders.media.DiscInfo` a report describes (a real drive
reports its own geometry: the media type of a loaded disc is the nominal
one with its capacity and session gap replaced by what the drive says, so
that :attr:`DiscInfo.nwa` equals the drive's next writable address).  All
of it is pure, and tested against sample output, transcripts from xorriso's
documentation and source, and real output of xorriso's ``stdio:`` drives.
Running xorriso is :mod:`cdfs.recorders.xorriso`'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass

from cdfs.errors import NoDiscError, NotWritableError
from cdfs.recorders.media import (
    MEDIA_TYPES,
    NO_SESSION_LIMIT,
    DiscInfo,
    DiscState,
    Family,
    MediaType,
    Session,
)
from cdfs.recorders.xorstates import blocked_words, condition, single_session
from cdfs.units import Lba, Sectors

log = logging.getLogger(__name__)

# --- parsing (pure) --------------------------------------------------------


@dataclass(frozen=True)
class TocSession:
    """One ``ISO session`` / ``Other session`` line of ``xorriso -toc``."""

    index: int
    start: Lba
    size: Sectors
    volume_id: str
    iso: bool


@dataclass(frozen=True)
class TocReport:
    """What ``xorriso -outdev DEV -toc`` says about the drive and disc."""

    profile: str = ""
    """The ``Media current:`` text: ``CD-R``, ``DVD-RW sequential recording``,
    ``stdio file, overwriteable``, ``is not recognizable``..."""
    status: str = "unknown"
    """blank, appendable, closed, absent or unknown."""
    readable: Sectors | None = None
    writable: Sectors | None = None
    overall: Sectors | None = None
    sessions: tuple[TocSession, ...] = ()
    nwa: Lba | None = None
    product: str = ""
    drive: str = ""
    problems: tuple[str, ...] = ()
    """xorriso's FAILURE / SORRY lines, for error messages."""
    condition: str = ""
    """What the ``Media status`` line adds after "but" (xorriso's
    ``Xorriso_toc()`` in xorriso/drive_mgt.c): ``damaged`` ("next track is
    damaged"), ``no-nwa`` ("no writable address") or ``needs-close`` ("will
    need -close on": a DVD-RW that takes one DAO session only)."""


_LINE = re.compile(r"^([A-Za-z][A-Za-z ]*?)\s*:\s?(.*)$")
_BLOCKS = re.compile(r"(\d+)\s+readable\s*,\s*(\d+)\s+writable\s*,\s*(\d+)\s+overall")
_SESSION = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)s\s*,\s?(.*)$")
_PROBLEM = re.compile(r"^(?:xorriso|libburn|libisofs)\s*:\s*(FAILURE|SORRY|FATAL)\s*:\s*(.*)$")


def _status(text: str) -> str:
    text = text.lower()
    if "not present" in text:
        return "absent"
    for word in ("blank", "appendable", "closed"):
        if word in text:
            return word
    return "unknown"


def parse_toc(text: str) -> TocReport:
    """Parse the combined output of ``xorriso -outdev DEV -toc``."""
    report = TocReport()
    sessions: list[TocSession] = []
    problems: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        problem = _PROBLEM.match(line)
        if problem:
            problems.append(problem.group(2).strip())
            continue
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        if key in ("ISO session", "Other session"):
            s = _SESSION.match(m.group(2))
            if s:
                idx, start, size, vol = s.groups()
                iso = key == "ISO session"
                sessions.append(
                    TocSession(int(idx), Lba(int(start)), Sectors(int(size)), vol.strip(), iso)
                )
        else:
            report = _toc_field(report, key, value)
    return dataclasses.replace(report, sessions=tuple(sessions), problems=tuple(problems))


def _toc_field(report: TocReport, key: str, value: str) -> TocReport:
    replace = dataclasses.replace
    if key == "Media current":
        return replace(report, profile=value)
    if key == "Media status":
        return replace(report, status=_status(value), condition=condition(value))
    if key == "Media product":
        return replace(report, product=value)
    if key == "Drive type":
        return replace(report, drive=value)
    if key == "Media nwa":
        nwa = re.match(r"(\d+)", value)
        return replace(report, nwa=Lba(int(nwa.group(1)))) if nwa else report
    if key == "Media blocks":
        b = _BLOCKS.search(value)
        if b:
            readable, writable, overall = (Sectors(int(x)) for x in b.groups())
            return replace(report, readable=readable, writable=writable, overall=overall)
    return report


def parse_msinfo(text: str) -> tuple[Lba, Lba] | None:
    """``last_session_start,next_writable_address`` from ``-msinfo``."""
    for line in text.splitlines():
        m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", line)
        if m:
            return Lba(int(m.group(1))), Lba(int(m.group(2)))
    return None


_PROGRESS = re.compile(r"(\d+)\s+of\s+(\d+)\s+MB\s+written")
_BLANK_PROGRESS = re.compile(r"Blanking\s*\(\s*([\d.]+)%\s*done")


def parse_progress(line: str) -> tuple[int, int] | None:
    """``(done_mib, total_mib)`` from a line like
    ``xorriso : UPDATE :   96 of  699 MB written (fifo 100%) [buf  91%]  12.1x.``
    (xorriso's MB are MiB)."""
    m = _PROGRESS.search(line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_blank_progress(line: str) -> float | None:
    """The percentage from ``xorriso : UPDATE : Blanking ( 12.3% done in 5 seconds )``."""
    m = _BLANK_PROGRESS.search(line)
    return float(m.group(1)) if m else None


# --- media ---------------------------------------------------------------


def _generic(
    name: str, family: Family, rewritable: bool, title: str, *, overwritable: bool = False
) -> MediaType:
    limit = NO_SESSION_LIMIT if overwritable else 99
    return MediaType(
        name, family, Sectors(0), rewritable, title, overwritable=overwritable, max_sessions=limit
    )


def media_for_profile(profile: str, blocks: int | None = None) -> MediaType:
    """The nominal media type for an MMC profile name as xorriso prints it.

    Among CD-R/CD-RW sizes, picks the smallest that holds ``blocks``.
    Pressed discs and unknown profiles get a generic, non-writable type.
    """
    p = profile.strip().upper()
    word = p.split(" ")[0].rstrip(",")
    if p.startswith("STDIO FILE"):
        return _generic("stdio", Family.DVD, True, "xorriso stdio pseudo-drive", overwritable=True)
    if word in ("CD-R", "CD-RW"):
        prefix = word.lower()
        candidates = sorted(
            (m for m in MEDIA_TYPES.values() if m.name.rstrip("0123456789") == prefix),
            key=lambda m: m.capacity,
        )
        for m in candidates:
            if blocks is None or blocks <= m.capacity:
                return m
        return candidates[-1]
    if word == "DVD-R/DL":  # sequential or layer jump: DAO only, one session
        return single_session(MEDIA_TYPES["dvd-r"], "dvd-r-dl", "DVD-R DL (8.5 GB)")
    if word == "DVD-R":
        return MEDIA_TYPES["dvd-r"]
    if word == "DVD-RW":
        m = MEDIA_TYPES["dvd-rw"]
        if "OVERWRITE" in p:  # restricted overwrite: grows in place like DVD+RW
            title = "DVD-RW, restricted overwrite (4.7 GB)"
            return dataclasses.replace(
                m,
                name="dvd-rw-ro",
                title=title,
                first_gap=Sectors(0),
                later_gap=Sectors(0),
                overwritable=True,
                max_sessions=NO_SESSION_LIMIT,
            )
        return m
    if word in ("DVD+R", "DVD+R/DL"):
        return MEDIA_TYPES["dvd+r"]
    if word in ("DVD+RW", "DVD+RW/DL"):
        return MEDIA_TYPES["dvd+rw"]
    if word == "DVD-RAM":
        return _generic("dvd-ram", Family.DVD, True, "DVD-RAM", overwritable=True)
    if word == "BD-R":
        return MEDIA_TYPES["bd-r"]
    if word == "BD-RE":
        return MEDIA_TYPES["bd-re"]
    family = Family.BD if "BD" in word else Family.DVD if "DVD" in word else Family.CD
    return _generic(word.lower() or "unknown", family, False, profile.strip() or "unknown disc")


def overwritable(media: MediaType) -> bool:
    """Grows in place (no sessions on the medium): needs xorriso's
    ``--grow_overwriteable_iso`` emulation of multisession."""
    return media.overwritable


def disc_info_from_toc(report: TocReport, device: str = "DEVICE") -> DiscInfo:
    """Turn a -toc report into a DiscInfo whose ``nwa`` is the drive's;
    ``device`` is named in the way out of a damaged disc."""
    if report.status == "absent" or not report.profile:
        raise NoDiscError("no disc in the drive")
    if report.profile.startswith("is not"):
        raise NotWritableError(f"the disc in the drive {report.profile}")
    nominal = media_for_profile(report.profile, report.overall)
    if report.condition == "needs-close" and not nominal.single_session:
        # A quick-blanked DVD-RW (or a DVD-RW DL): one DAO session only.
        title = nominal.title.split(" (")[0].split(",")[0]
        nominal = single_session(nominal, f"{nominal.name}-dao", title)
    blocked = blocked_words(report.condition, device)
    state = {
        "blank": DiscState.BLANK,
        "appendable": DiscState.APPENDABLE,
    }.get(report.status, DiscState.CLOSED)
    sessions = tuple(Session(s.start, s.size) for s in report.sessions)
    wasted: tuple[Session, ...] = ()
    nwa = Lba(0) if state is DiscState.BLANK else report.nwa
    media = dataclasses.replace(nominal, alignment=Sectors(1))
    if state is DiscState.APPENDABLE and nwa is not None:
        if not sessions:  # written but no readable table: count it all as used
            wasted = (Session(Lba(0), Sectors(nwa)),)
        # The drive's NWA is the truth: express it as the gap after the end
        # (an ISO's own size can overstate its track; clip it to the NWA).
        sessions = tuple(
            Session(s.start, Sectors(max(0, min(s.length, nwa - s.start)))) for s in sessions
        )
        end = max((r.end for r in (*sessions, *wasted)), default=nwa)
        run_out = Sectors(min(media.run_out, nwa - end))
        gap = Sectors(nwa - end - run_out)
        media = dataclasses.replace(media, first_gap=gap, later_gap=gap, run_out=run_out)
    elif state is DiscState.APPENDABLE and not blocked:
        log.warning("the drive did not report a next writable address; treating the disc as full")
        state = DiscState.CLOSED
    capacity = _capacity(report, nwa, nominal)
    media = dataclasses.replace(media, capacity=capacity)
    vols = [s.volume_id for s in report.sessions if s.volume_id]
    return DiscInfo(
        media=media,
        state=state,
        sessions=sessions,
        wasted=wasted,
        label=vols[-1] if vols else "",
        identity=_identity(report),
        extra={"backend": "xorriso", "profile": report.profile, "product": report.product},
        blocked=blocked,
    )


def _capacity(report: TocReport, nwa: Lba | None, nominal: MediaType) -> Sectors:
    # The drive's free blocks count from its NWA; "overall" can exceed
    # nwa + writable by the reserved gap, so prefer the former.
    if report.writable is not None and nwa is not None:
        return Sectors(nwa + report.writable)
    if report.overall:
        return report.overall
    if report.readable:
        return report.readable
    return nominal.capacity


def _identity(report: TocReport) -> str:
    parts = [report.profile, report.product, report.status, str(report.nwa), str(report.readable)]
    parts += [f"{s.start}+{s.size}:{s.volume_id}" for s in report.sessions]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def supports_simulation(media: MediaType) -> bool:
    """xorriso's -dummy works on CD-R[W], DVD-R[W] and stdio pseudo-drives."""
    return media.family is Family.CD or media.name in ("dvd-r", "dvd-rw", "stdio")
