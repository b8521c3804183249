"""The real-drive recorder: a CD/DVD/BD recorder driven through xorriso.

This module owns the xorriso command lines (built as argument lists, never
through a shell) and running xorriso with timeouts; reading what it prints
is :mod:`cdfs.recorders.xorparse`'s.  It does not decide what to record or
when to close a disc, and it does not master images.
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
from pathlib import Path
from typing import BinaryIO

from cdfs.errors import (
    CdfsError,
    MediaError,
    NoDiscError,
    NotFoundError,
    NotWritableError,
    RecorderError,
    WriteOnceError,
)
from cdfs.recorders import blockdev
from cdfs.recorders.media import (
    RECORDER_PADDING,
    DiscInfo,
    DiscState,
    Family,
    MediaType,
    Session,
    erase_words,
    erases_fully,
    recorded_length,
    start_allowed,
)
from cdfs.recorders.recorder import ProgressFn, disc_full_error
from cdfs.recorders.xorparse import (
    TocReport,
    disc_info_from_toc,
    overwritable,
    parse_blank_progress,
    parse_msinfo,
    parse_progress,
    parse_toc,
    supports_simulation,
)
from cdfs.recorders.xorstates import drive_error, not_ready, not_ready_error
from cdfs.units import SECTOR_SIZE, Lba, Sectors, sectors_for

log = logging.getLogger(__name__)

INQUIRY_TIMEOUT = 120.0
"""Seconds for -toc, -msinfo and eject (a drive may spin up slowly)."""
RECORD_TIMEOUT = 6 * 3600.0
"""Seconds for a recording or a full blank: a BD at 1x takes about 1.5 h."""

_MIB = 1024 * 1024
_LineFn = Callable[[str], None]
_SPEED_SUFFIX = {Family.CD: "c", Family.DVD: "d", Family.BD: "b"}

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
    start: Lba | None = None,
) -> list[str]:
    """Arguments for ``xorriso -as cdrecord`` recording ``image``.

    On overwritable media the session goes exactly at ``start`` (the first
    one at 32, as xorriso's man page says for ``--grow_overwriteable_iso``)
    and its size is taken from the image's volume descriptor (``-isosize``:
    without it xorriso tries to read the new head back and fails)."""
    args = ["-as", "cdrecord", "-v", f"dev={device}"]
    if overwritable(media):
        args += ["--grow_overwriteable_iso", "-isosize"]
        if start is not None:
            args.append(f"write_start_address={start}s")
    if media.single_session:
        args.append("-sao")  # DAO, the only way these take data; closes the disc
    else:
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
        # emulated ISO session instead (a full erase is zero_fill_command).
        return [*args, "--grow_overwriteable_iso", "blank=fast"]
    return [*args, "blank=all" if full else "blank=fast"]


def zero_fill_command(device: str, sectors: int) -> list[str]:
    """Arguments that overwrite ``sectors`` sectors from LBA 0 with what
    arrives on standard input (zeros): the full erase of overwritable
    media, which have no blanking of their own."""
    return [
        *("-as", "cdrecord", "-v", f"dev={device}"),
        *("write_start_address=0s", f"tsize={sectors * SECTOR_SIZE}", "padsize=0", "-"),
    ]


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
        self._recorded_end: Lba | None = None
        """Where the data this recorder last recorded ends (fresh reads)."""

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
        if not_ready(out):  # xorriso may then call the disc closed: it is not known
            raise not_ready_error(self._device, _why(report, out))
        if not report.profile and report.status == "unknown":
            why = _why(report, out)
            raise drive_error(out, why, self._device) or RecorderError(
                f"xorriso cannot use the drive {self._device}: {why}"
            )
        if report.status == "appendable" and report.nwa is None:
            ms = parse_msinfo(self._run(msinfo_command(self._device), self._timeout))
            if ms is not None:
                report = dataclasses.replace(report, nwa=ms[1])
        info = disc_info_from_toc(report, self._device)
        if info.state is DiscState.CLOSED and not info.sessions:
            return self._without_toc(info, report)
        return info

    def _without_toc(self, info: DiscInfo, report: TocReport) -> DiscInfo:
        """A closed disc whose table of contents the drive cannot give
        (xorriso: "Cannot obtain Table Of Content"; seen on closed DVD+R):
        read it as the kernel does, as one session at 0 when an ISO 9660
        volume starts there, rather than show it empty."""
        try:
            with self.open_reader() as disc:
                disc.seek(16 * SECTOR_SIZE)
                pvd = disc.read(SECTOR_SIZE)
        except (CdfsError, OSError):
            pvd = b""
        if len(pvd) < 88 or pvd[0] != 1 or pvd[1:6] != b"CD001":
            raise MediaError(
                f"the disc in {self._device} is closed, but the drive cannot read its table of"
                f" contents ({_why(report, '')}) and no ISO 9660 volume starts at its"
                " beginning: its files cannot be shown; the disc may be damaged"
            )
        size = Sectors(int.from_bytes(pvd[80:84], "little"))
        label = pvd[40:72].decode("ascii", "replace").strip()
        log.warning("%s: no table of contents; reading the disc as one session", self._device)
        return dataclasses.replace(info, sessions=(Session(Lba(0), size),), label=label)

    def open_reader(self) -> BinaryIO:
        path = self._path()
        try:
            if blockdev.is_block_device(path):
                # The burn went past the kernel: see the disc as it is now.
                return blockdev.open_fresh(path, self._recorded_end)
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
        if info.blocked:  # never retried at the same address: the way out is named
            raise NotWritableError(f"cannot record: {info.blocked}")
        length = sectors_for(size)
        if info.nwa is None or len(info.sessions) >= info.media.max_sessions:
            raise disc_full_error(size)
        if not start_allowed(info, start):
            raise RecorderError(
                f"the image was laid out for sector {start} but the disc's next writable"
                f" address is {info.nwa}: it must be mastered again"
            )
        if length > info.room:  # room leaves out the padding xorriso adds (padsize=300k)
            raise disc_full_error(size)
        if simulate and not supports_simulation(info.media):
            raise RecorderError(f"the drive cannot simulate recording on a {info.media.title}")
        args = record_command(
            self._device,
            image,
            info.media,
            close=close,
            speed=speed,
            simulate=simulate,
            start=start,
        )
        log.info(
            "recording %s at %d on %s%s", image, start, self._device, " (simulated)" * simulate
        )
        self._run_long(args, "record", _record_progress(size, progress))
        if progress:
            progress(size, size)
        recorded = recorded_length(info.media, length)
        if not simulate:
            self._recorded_end = Lba(start + recorded)
        return Session(start, recorded)

    def erase(self, *, full: bool = False, progress: ProgressFn | None = None) -> None:
        info = self.disc_info()
        if info.media.write_once:
            raise WriteOnceError(
                f"a {info.media.title} cannot be erased: only rewritable discs can"
            )
        if erases_fully(info.media, full) and not full:
            log.warning("%s", erase_words(info.media, full))
        log.info("%s erasing the disc in %s", "fully" if full else "quickly", self._device)
        self._recorded_end = None
        if full and info.media.overwritable:
            self._zero_fill(info, progress)
            return
        self._run_long(
            erase_command(self._device, info.media, full=full), "erase", _blank_progress(progress)
        )

    def _zero_fill(self, info: DiscInfo, progress: ProgressFn | None) -> None:
        """The full erase of overwritable media: every sector overwritten with
        zeros (a pseudo-drive's file only as far as it reaches, so that the
        host's free space is not filled)."""
        path = self._path()
        if self._device.startswith("stdio:") and os.path.isfile(path):
            sectors = sectors_for(os.path.getsize(path))
        else:
            sectors = info.capacity
        if not sectors:
            return
        with open("/dev/zero", "rb") as zeros:
            self._run_long(
                zero_fill_command(self._device, sectors),
                "erase",
                _record_progress(sectors * SECTOR_SIZE, progress),
                stdin=zeros,
            )
        if progress:
            progress(sectors * SECTOR_SIZE, sectors * SECTOR_SIZE)

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
                start_new_session=True,  # Ctrl-C on `cdfs mount -f` is not for xorriso
            )
        except FileNotFoundError:
            raise RecorderError(f"{self._program} is not installed") from None
        except subprocess.TimeoutExpired as exc:
            # What xorriso said until then (bytes on POSIX, even with text=True).
            out = exc.output or b""
            if not_ready(out if isinstance(out, str) else out.decode(errors="replace")):
                raise not_ready_error(self._device, f"no answer within {timeout:g} s") from None
            raise RecorderError(f"xorriso did not answer within {timeout:g} s") from None
        return done.stdout

    def _run_long(
        self, args: list[str], what: str, on_line: _LineFn, stdin: BinaryIO | None = None
    ) -> None:
        """Run a recording or blanking, feeding each output line to
        ``on_line``.  Never kills xorriso except on the timeout: a burn cut
        half-way ruins the disc."""
        cmd = [self._program, *args]
        log.debug("running %s", cmd)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL if stdin is None else stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                # Its own session and process group: a Ctrl-C meant for cdfs
                # must not reach libburn, whose handler aborts the burn.
                start_new_session=True,
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
            out = "\n".join(tail)
            why = _why(report, out)
            raise drive_error(out, why, self._device) or RecorderError(
                f"xorriso failed to {what} (exit {rc}): {why}"
            )


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
