"""The real-drive recorder: a CD/DVD/BD recorder driven through xorriso.

This module owns the xorriso command lines (built as argument lists, never
through a shell), the parsing of xorriso's reports (``-toc``, ``-msinfo``,
progress lines) into :mod:`cdfs.recorders.media` records, and running xorriso with
timeouts.  Parsing is pure and tested against sample and real output
(xorriso's ``stdio:`` pseudo-drive).  It does not decide what to record or
when to close a disc, and it does not master images.

A real drive reports its own geometry: the :class:`~cdfs.recorders.media.MediaType`
of a loaded disc is the nominal one with its capacity and session gap
replaced by what the drive says, so that :attr:`DiscInfo.nwa` equals the
drive's next writable address.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import hashlib
import logging
import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cdfs.errors import (
    NoDiscError,
    NotFoundError,
    NotWritableError,
    RecorderError,
    WriteOnceError,
)
from cdfs.recorders.media import (
    MEDIA_TYPES,
    RECORDER_PADDING,
    DiscInfo,
    DiscState,
    Family,
    MediaType,
    Session,
    recorded_length,
)
from cdfs.recorders.recorder import ProgressFn, disc_full_error
from cdfs.units import SECTOR_SIZE, Lba, Sectors, sectors_for

log = logging.getLogger(__name__)

INQUIRY_TIMEOUT = 120.0
"""Seconds for -toc, -msinfo and eject (a drive may spin up slowly)."""
RECORD_TIMEOUT = 6 * 3600.0
"""Seconds for a recording or a full blank: a BD at 1x takes about 1.5 h."""

_MIB = 1024 * 1024
_LineFn = Callable[[str], None]
_SPEED_SUFFIX = {Family.CD: "c", Family.DVD: "d", Family.BD: "b"}

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
        return replace(report, status=_status(value))
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


def _generic(name: str, family: Family, rewritable: bool, title: str) -> MediaType:
    return MediaType(name, family, Sectors(0), rewritable, title)


def media_for_profile(profile: str, blocks: int | None = None) -> MediaType:
    """The nominal media type for an MMC profile name as xorriso prints it.

    Among CD-R/CD-RW sizes, picks the smallest that holds ``blocks``.
    Pressed discs and unknown profiles get a generic, non-writable type.
    """
    p = profile.strip().upper()
    word = p.split(" ")[0].rstrip(",")
    if p.startswith("STDIO FILE"):
        return _generic("stdio", Family.DVD, True, "xorriso stdio pseudo-drive")
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
    if word in ("DVD-R", "DVD-R/DL"):
        return MEDIA_TYPES["dvd-r"]
    if word == "DVD-RW":
        m = MEDIA_TYPES["dvd-rw"]
        if "OVERWRITE" in p:  # restricted overwrite: grows in place like DVD+RW
            title = "DVD-RW, restricted overwrite (4.7 GB)"
            return dataclasses.replace(
                m, name="dvd-rw-ro", title=title, first_gap=Sectors(0), later_gap=Sectors(0)
            )
        return m
    if word in ("DVD+R", "DVD+R/DL"):
        return MEDIA_TYPES["dvd+r"]
    if word in ("DVD+RW", "DVD+RW/DL"):
        return MEDIA_TYPES["dvd+rw"]
    if word == "DVD-RAM":
        return _generic("dvd-ram", Family.DVD, True, "DVD-RAM")
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


def disc_info_from_toc(report: TocReport) -> DiscInfo:
    """Turn a -toc report into a DiscInfo whose ``nwa`` is the drive's."""
    if report.status == "absent" or not report.profile:
        raise NoDiscError("no disc in the drive")
    if report.profile.startswith("is not"):
        raise NotWritableError(f"the disc in the drive {report.profile}")
    nominal = media_for_profile(report.profile, report.overall)
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
    elif state is DiscState.APPENDABLE:
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


# --- command lines (pure) ------------------------------------------------


def toc_command(device: str) -> list[str]:
    return ["-outdev", device, "-toc"]


def msinfo_command(device: str) -> list[str]:
    return ["-as", "cdrecord", f"dev={device}", "--grow_overwriteable_iso", "-msinfo"]


def record_command(
    device: str,
    image: Path,
    media: MediaType,
    *,
    close: bool = False,
    speed: float | None = None,
    simulate: bool = False,
) -> list[str]:
    """Arguments for ``xorriso -as cdrecord`` recording ``image``."""
    args = ["-as", "cdrecord", "-v", f"dev={device}"]
    if overwritable(media):
        args.append("--grow_overwriteable_iso")
    if not close:
        args.append("-multi")
    if media.family is Family.CD or media.name in ("dvd-r", "dvd-rw"):
        args.append("-tao")  # CD TAO / DVD-R incremental: what multisession needs
    if speed is not None:
        args.append(f"speed={speed:g}{_SPEED_SUFFIX[media.family]}")
    if simulate:
        args.append("-dummy")
    # An absolute path never starts with '-', so it cannot become an option.
    pad = RECORDER_PADDING * SECTOR_SIZE // 1024  # 300k: what the media model counts
    args += [f"padsize={pad}k", str(Path(image).absolute())]
    return args


def erase_command(device: str, media: MediaType, *, full: bool = False) -> list[str]:
    args = ["-as", "cdrecord", "-v", f"dev={device}"]
    if overwritable(media):
        # Overwritable media have nothing to blank; xorriso invalidates the
        # emulated ISO session instead (a full blank is not available).
        return [*args, "--grow_overwriteable_iso", "blank=fast"]
    return [*args, "blank=all" if full else "blank=fast"]


def eject_command(device: str) -> list[str]:
    return ["-as", "cdrecord", f"dev={device}", "-eject"]


# --- the recorder --------------------------------------------------------


class XorrisoRecorder:
    """A real drive (``/dev/sr0``) or xorriso pseudo-drive (``stdio:FILE``)."""

    def __init__(
        self,
        device: str,
        *,
        program: str = "xorriso",
        timeout: float = INQUIRY_TIMEOUT,
        record_timeout: float = RECORD_TIMEOUT,
    ) -> None:
        self._device = device
        self._program = program
        self._timeout = timeout
        self._record_timeout = record_timeout

    @property
    def device(self) -> str:
        return self._device

    @property
    def program(self) -> str:
        """The xorriso program this recorder runs."""
        return self._program

    @property
    def ident(self) -> str:
        # /dev/cdrom and /dev/sr0 are the same drive, so one staging area.
        path = self._path()
        name = os.path.realpath(path) if path.startswith("/dev/") else self._device
        safe = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
        if len(safe) > 40 or not path.startswith("/dev/"):
            safe = safe[:24] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
        return "drive-" + safe

    @property
    def description(self) -> str:
        return f"optical drive {self._device} (xorriso)"

    def disc_info(self) -> DiscInfo:
        self._check_device()
        out = self._run(toc_command(self._device), self._timeout)
        report = parse_toc(out)
        if not report.profile and report.status == "unknown":
            raise RecorderError(f"xorriso cannot use the drive {self._device}: {_why(report, out)}")
        if report.status == "appendable" and report.nwa is None:
            ms = parse_msinfo(self._run(msinfo_command(self._device), self._timeout))
            if ms is not None:
                report = dataclasses.replace(report, nwa=ms[1])
        return disc_info_from_toc(report)

    def open_reader(self) -> BinaryIO:
        path = self._path()
        try:
            return open(path, "rb")  # the caller closes it
        except FileNotFoundError:
            raise NotFoundError(f"no such drive: {self._device}") from None
        except OSError as exc:
            if exc.errno == errno.ENOMEDIUM:
                raise NoDiscError("no disc in the drive") from None
            raise RecorderError(f"cannot read {self._device}: {exc.strerror}") from None

    def record(
        self,
        image: Path,
        start: Lba,
        *,
        close: bool = False,
        speed: float | None = None,
        simulate: bool = False,
        progress: ProgressFn | None = None,
    ) -> Session:
        image = Path(image)
        try:
            size = image.stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"the image to record, {image}, does not exist") from None
        info = self.disc_info()
        length = sectors_for(size)
        if info.nwa is None or len(info.sessions) >= info.media.max_sessions:
            raise disc_full_error(size)
        if start != info.nwa:
            raise RecorderError(
                f"the image was laid out for sector {start} but the disc's next writable"
                f" address is {info.nwa}: it must be mastered again"
            )
        if length > info.room:  # room leaves out the padding xorriso adds (padsize=300k)
            raise disc_full_error(size)
        if simulate and not supports_simulation(info.media):
            raise RecorderError(f"the drive cannot simulate recording on a {info.media.title}")
        args = record_command(
            self._device, image, info.media, close=close, speed=speed, simulate=simulate
        )
        log.info(
            "recording %s at %d on %s%s", image, start, self._device, " (simulated)" * simulate
        )
        self._run_long(args, "record", _record_progress(size, progress))
        if progress:
            progress(size, size)
        return Session(start, recorded_length(info.media, length))

    def erase(self, *, full: bool = False, progress: ProgressFn | None = None) -> None:
        info = self.disc_info()
        if info.media.write_once:
            raise WriteOnceError(
                f"a {info.media.title} cannot be erased: only rewritable discs can"
            )
        log.info("%s erasing the disc in %s", "fully" if full else "quickly", self._device)
        self._run_long(
            erase_command(self._device, info.media, full=full), "erase", _blank_progress(progress)
        )

    def eject(self) -> None:
        self._run(eject_command(self._device), self._timeout)

    # -- internals ---------------------------------------------------------

    def _path(self) -> str:
        return self._device.removeprefix("stdio:")

    def _check_device(self) -> None:
        if self._device.startswith("/dev/") and not os.path.exists(self._device):
            raise NotFoundError(f"no such drive: {self._device}")

    def _run(self, args: list[str], timeout: float) -> str:
        """Run xorriso to completion; its combined output (exit status is
        not trusted: -toc exits non-zero on perfectly readable closed discs)."""
        cmd = [self._program, *args]
        log.debug("running %s", cmd)
        try:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise RecorderError(f"{self._program} is not installed") from None
        except subprocess.TimeoutExpired:
            raise RecorderError(f"xorriso did not answer within {timeout:g} s") from None
        return done.stdout

    def _run_long(self, args: list[str], what: str, on_line: _LineFn) -> None:
        """Run a recording or blanking, feeding each output line to
        ``on_line``.  Never kills xorriso except on the timeout: a burn cut
        half-way ruins the disc."""
        cmd = [self._program, *args]
        log.debug("running %s", cmd)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except FileNotFoundError:
            raise RecorderError(f"{self._program} is not installed") from None
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(self._record_timeout, kill)
        timer.daemon = True
        timer.start()
        tail: collections.deque[str] = collections.deque(maxlen=30)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # universal newlines: \r updates split too
                tail.append(line.rstrip())
                log.debug("xorriso: %s", line.rstrip())
                try:
                    on_line(line)
                except Exception:  # a broken progress callback must not stop the burn
                    log.exception("progress callback failed")
        finally:
            rc = proc.wait()
            timer.cancel()
        if timed_out.is_set():
            raise RecorderError(
                f"xorriso did not finish the {what} within {self._record_timeout:g} s"
            )
        if rc != 0:
            report = parse_toc("\n".join(tail))
            raise RecorderError(f"xorriso failed to {what} (exit {rc}): {_why(report, '')}")


def _record_progress(total: int, progress: ProgressFn | None) -> _LineFn:
    def on_line(line: str) -> None:
        p = parse_progress(line)
        if p and progress:
            progress(min(total, p[0] * _MIB), total)

    return on_line


def _blank_progress(progress: ProgressFn | None) -> _LineFn:
    def on_line(line: str) -> None:
        pct = parse_blank_progress(line)
        if pct is not None and progress:
            progress(int(pct * 10), 1000)

    return on_line


def _why(report: TocReport, out: str) -> str:
    if report.problems:
        return "; ".join(report.problems[-3:])
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
