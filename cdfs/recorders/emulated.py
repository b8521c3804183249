"""The emulated recorder: a drive whose disc is a sparse image file.

This module owns the on-disk form of an emulated disc and the rules its
drive enforces:

* ``PATH`` is the disc's user data, one 2048-byte sector per LBA at byte
  offset ``lba * 2048`` (sparse, sized to the medium's capacity, 0600), so that
  ``xorriso -indev stdio:PATH -load sbsector N`` and ``isoinfo -i PATH -T N``
  read any session directly;
* ``PATH.toc`` is the drive's table of contents (JSON, 0600, replaced atomically):
  media type, state, sessions, wasted and written ranges, label, identity,
  and a marker for a recording in progress;
* write-once media refuse to write a sector twice, checked in
  :meth:`EmulatedRecorder._write_sectors`, which every data write goes
  through, whatever the layers above do;
* one recording or erase at a time (:mod:`cdfs.recorders.drivelock`);
* recording speed is throttled like a real drive, and faults are
  injected for tests (both defined in :mod:`cdfs.recorders.knobs`).

It does not master images, decide when to close a disc, or know about
staging; the media arithmetic (NWA, free space) is :mod:`cdfs.recorders.media`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cdfs import private
from cdfs.errors import (
    MediaError,
    NoDiscError,
    NotFoundError,
    RecorderError,
    UsageError,
    WriteOnceError,
)
from cdfs.recorders import drivelock
from cdfs.recorders.knobs import Faults, throttle_rate
from cdfs.recorders.media import (
    RECORDER_PADDING,
    SUPERBLOCK,
    DiscInfo,
    DiscState,
    MediaType,
    Session,
    closes,
    erases_fully,
    media_type,
    recorded_length,
    start_allowed,
)
from cdfs.recorders.nodisc import NO_DISC
from cdfs.recorders.recorder import ProgressFn, disc_full_error
from cdfs.units import SECTOR_SIZE, Lba, Sectors, sectors_for

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
"""Bytes copied per step of a recording (and per progress report)."""

TOC_SUFFIX = ".toc"
_TOC_FORMAT = "cdfs-emulated-disc"
_TOC_VERSION = 1
_MIB = 1024 * 1024


def toc_path(image: Path) -> Path:
    """Where the table of contents of the emulated disc ``image`` lives."""
    return image.with_name(image.name + TOC_SUFFIX)


@dataclass(frozen=True)
class _Toc:
    """The drive's table of contents, as stored in ``PATH.toc``."""

    media: MediaType
    state: DiscState
    sessions: tuple[Session, ...] = ()
    wasted: tuple[Session, ...] = ()
    written: tuple[Session, ...] = ()
    label: str = ""
    identity: str = ""
    recording: Session | None = None
    """Set (to the planned range) before data is written, cleared after."""

    def disc_info(self, image: Path) -> DiscInfo:
        extra = {"backend": "emulated", "image": str(image)}
        return DiscInfo(
            self.media, self.state, self.sessions, self.wasted, self.label, self.identity, extra
        )

    def to_json(self) -> dict[str, Any]:
        rec = self.recording
        out: dict[str, Any] = {"format": _TOC_FORMAT, "version": _TOC_VERSION}
        out.update(media=self.media.name, state=self.state.value, label=self.label)
        out.update(identity=self.identity, recording=rec and [rec.start, rec.length])
        for name in ("sessions", "wasted", "written"):
            out[name] = [[r.start, r.length] for r in getattr(self, name)]
        return out

    @classmethod
    def from_json(cls, raw: Any) -> _Toc:
        """Raises ValueError, KeyError or TypeError on anything malformed."""
        if not isinstance(raw, dict) or raw.get("format") != _TOC_FORMAT:
            raise ValueError("not a cdfs emulated disc table of contents")
        if raw.get("version") != _TOC_VERSION:
            raise ValueError(f"unsupported version {raw.get('version')!r}")
        rec = raw["recording"]
        label, identity = raw["label"], raw["identity"]
        if not isinstance(label, str) or not isinstance(identity, str):
            raise TypeError("label and identity must be strings")
        return cls(
            media=media_type(str(raw["media"])),
            state=DiscState(raw["state"]),
            sessions=_parse_ranges(raw["sessions"]),
            wasted=_parse_ranges(raw["wasted"]),
            written=_parse_ranges(raw["written"]),
            label=label,
            identity=identity,
            recording=None if rec is None else _parse_ranges([rec])[0],
        )


def _parse_ranges(raw: Any) -> tuple[Session, ...]:
    if not isinstance(raw, list):
        raise TypeError("ranges must be a list")
    out = []
    for item in raw:
        start, length = item
        if not (isinstance(start, int) and isinstance(length, int)) or start < 0 or length < 0:
            raise ValueError(f"bad range {item!r}")
        out.append(Session(Lba(start), Sectors(length)))
    return tuple(out)


def _add_range(ranges: tuple[Session, ...], new: Session) -> tuple[Session, ...]:
    """``ranges`` plus ``new``, sorted, with touching ranges merged."""
    merged: list[Session] = []
    for r in sorted((*ranges, new), key=lambda s: s.start):
        if merged and r.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Session(last.start, Sectors(max(last.end, r.end) - last.start))
        elif r.length:
            merged.append(r)
    return tuple(merged)


def _first_overlap(ranges: tuple[Session, ...], start: int, count: int) -> int | None:
    """The first sector of [start, start+count) inside ``ranges``, if any."""
    for r in ranges:
        lo, hi = max(start, r.start), min(start + count, r.end)
        if lo < hi:
            return lo
    return None


def _new_identity() -> str:
    return uuid.uuid4().hex


def _volume_id(image: Path) -> str:
    """The volume id of the ISO 9660 primary descriptor in ``image``, or ''."""
    try:
        with image.open("rb") as f:
            f.seek(16 * SECTOR_SIZE)
            pvd = f.read(72)
    except OSError:
        return ""
    if len(pvd) < 72 or pvd[0] != 1 or pvd[1:6] != b"CD001":
        return ""
    return pvd[40:72].decode("ascii", "replace").strip()


def _write_toc_file(path: Path, toc: _Toc) -> None:
    """Replace ``path`` by ``toc`` atomically (0600: temp file, fsync, rename)."""
    # One key per line: readable when debugging, still plain JSON.
    items = sorted(toc.to_json().items())
    data = (
        "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in items) + "\n}\n"
    ).encode()
    private.write_file(path, data, sync=True)


def create_media(path: Path, media: MediaType) -> EmulatedRecorder:
    """Make a blank emulated disc of type ``media`` at ``path``.

    Refuses to overwrite anything and needs the parent directory to exist;
    the image and its table of contents are private to the user (0600).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise NotFoundError(f"cannot create {path}: the directory {path.parent} does not exist")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(
            f"{path} already exists; cdfs will not overwrite it: choose another name"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o600)  # private, whatever the umask
            os.ftruncate(fd, media.capacity_bytes)  # sparse: no blocks allocated
            os.fsync(fd)
        finally:
            os.close(fd)
        _write_toc_file(toc_path(path), _Toc(media, DiscState.BLANK, identity=_new_identity()))
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    log.info("created blank %s at %s", media.name, path)
    return EmulatedRecorder(path)


class _Pacer:
    """Keeps a recording at ``rate`` bytes/s, plus the ``slow`` fault."""

    def __init__(self, rate: float | None, slow: float | None) -> None:
        self.rate = rate
        self.slow = slow
        self._t0 = time.monotonic()

    def wait(self, done: int, chunk: int) -> None:
        if self.slow:
            time.sleep(self.slow * chunk / _MIB)
            self._t0 += self.slow * chunk / _MIB
        if self.rate:
            delay = self._t0 + done / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class EmulatedRecorder:
    """A recorder whose disc is the image file ``path`` (see module doc).

    ``faults`` default to those in ``CDFS_EMULATED_FAULTS``.  Opening an
    image left by an interrupted recording turns that recording into a
    wasted range (write-once media), as a real disc would keep it.
    """

    def __init__(
        self, path: Path | str, faults: Faults | None = None, *, empty_ok: bool = False
    ) -> None:
        """``empty_ok``: ``path`` may be missing (an empty drive, whose disc
        is inserted by creating it)."""
        self._path = Path(path)
        self._toc_path = toc_path(self._path)
        self._faults = Faults.from_env() if faults is None else faults
        self._written: tuple[Session, ...] = ()
        if not empty_ok and not self._path.exists():
            raise NotFoundError(
                f"no emulated disc at {self._path}: create one with `cdfs media create`"
            )
        self._media = NO_DISC
        if self._path.exists() or not empty_ok:
            if not self._path.is_file():
                raise MediaError(f"{self._path} is not an emulated disc image (not a regular file)")
            self._media = self._read_toc().media
            self.disc_info()  # recovers an interrupted recording, if idle

    @property
    def ident(self) -> str:
        digest = hashlib.sha256(os.path.realpath(self._path).encode()).hexdigest()
        return "emulated-" + digest[:16]

    @property
    def description(self) -> str:
        what = "no disc" if self._media is NO_DISC else f"a {self._media.title}"
        return f"emulated recorder with {what} in {self._path}"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def faults(self) -> Faults:
        return self._faults

    def disc_info(self) -> DiscInfo:
        toc = self._read_toc()
        if toc.recording is not None:
            with self._lock(raise_if_busy=False) as locked:
                if locked:  # nobody is recording: the marker is left from a crash
                    toc = self._recover(self._read_toc())
        return toc.disc_info(self._path)

    def open_reader(self) -> BinaryIO:
        try:
            return open(self._path, "rb")  # the caller closes it
        except FileNotFoundError:
            raise self._no_disc() from None

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
        size = _image_size(image)
        session = Session(start, recorded_length(self._media, sectors_for(size)))
        with self._lock(raise_if_busy=True):
            toc = self._recover(self._read_toc())
            self._check_recordable(toc, session, size)
            pacer = _Pacer(throttle_rate(toc.media, speed), self._faults.slow)
            if simulate:
                self._copy(image, session, pacer, progress, write=False)
                log.info("simulated recording of %s at %d on %s", image, start, self._path)
                return session
            marked = dataclasses.replace(toc, recording=session)
            self._write_toc(marked)
            try:
                self._copy(image, session, pacer, progress, write=True)
                if toc.media.overwritable:
                    self._copy_superblock(image, session)
            except BaseException:
                # If even this fails, the marker left behind is settled on next open.
                with contextlib.suppress(RecorderError):
                    self._write_toc(self._abandoned(marked))
                raise
            self._write_toc(
                dataclasses.replace(
                    toc,
                    state=DiscState.CLOSED if closes(toc.media, close) else DiscState.APPENDABLE,
                    sessions=(*toc.sessions, session),
                    written=_add_range(toc.written, session),
                    label=_volume_id(image),
                    identity=_new_identity(),
                )
            )
        closed = " and closed the disc" if closes(self._media, close) else ""
        log.info("recorded %d sectors at %d on %s%s", session.length, start, self._path, closed)
        return session

    def erase(self, *, full: bool = False, progress: ProgressFn | None = None) -> None:
        with self._lock(raise_if_busy=True):
            toc = self._read_toc()
            if toc.media.write_once:
                raise WriteOnceError(
                    f"a {toc.media.title} cannot be erased: only rewritable discs can"
                )
            # The table of contents goes first: a crash before the sectors are
            # punched leaves a quick-erased disc, never a TOC over zeros.
            self._write_toc(_Toc(toc.media, DiscState.BLANK, identity=_new_identity()))
            if erases_fully(toc.media, full):  # a DVD-RW always: as a real drive does
                total = toc.media.capacity_bytes
                _report(progress, 0, total)
                try:
                    with open(self._path, "r+b") as f:
                        f.truncate(0)  # drops every block; truncating back keeps it sparse
                        f.truncate(total)
                        os.fsync(f.fileno())
                except OSError as exc:
                    raise RecorderError(f"cannot erase {self._path}: {exc.strerror}") from None
                _report(progress, total, total)
        log.info("%s erased %s", "fully" if full else "quickly", self._path)

    def eject(self) -> None:
        """Nothing to open: the emulated drive has no tray."""

    # -- internals ---------------------------------------------------------

    def _check_recordable(self, toc: _Toc, session: Session, size: int) -> None:
        info = toc.disc_info(self._path)
        if info.nwa is None or len(toc.sessions) >= toc.media.max_sessions:
            raise disc_full_error(size)
        if not start_allowed(info, session.start):
            raise RecorderError(
                f"the image was laid out for sector {session.start} but the disc's next"
                f" writable address is {info.nwa}: it must be mastered again"
            )
        if sectors_for(size) > info.room:  # the media model's rule, as for a real drive
            raise disc_full_error(size)

    def _copy(
        self,
        image: Path,
        session: Session,
        pacer: _Pacer,
        progress: ProgressFn | None,
        *,
        write: bool,
    ) -> None:
        """Copy ``image`` to ``session.start`` in chunks, pacing and failing as
        configured; with ``write`` False only pretend (simulation)."""
        size, done = image.stat().st_size, 0
        _report(progress, 0, size)
        with contextlib.ExitStack() as stack:
            try:
                src = stack.enter_context(image.open("rb"))
                disc = stack.enter_context(open(self._path, "r+b", buffering=0)) if write else None
            except OSError as exc:
                raise RecorderError(f"cannot record {image}: {exc.strerror}") from None
            while done < size:
                want = min(CHUNK_SIZE, size - done, self._byte_faults(done) - done)
                data = src.read(want)
                if len(data) != want:
                    raise RecorderError(f"the image {image} changed size while recording")
                corrupt = self._faults.corrupt_at_byte
                if corrupt is not None and done <= corrupt < done + len(data):
                    i = corrupt - done
                    data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
                if disc is not None:
                    pad = -len(data) % SECTOR_SIZE
                    lba = Lba(session.start + done // SECTOR_SIZE)
                    self._write_sectors(disc.fileno(), lba, data + b"\0" * pad)
                done += want
                pacer.wait(done, want)
                _report(progress, done, size)
            if disc is not None:  # zeros after the image, as xorriso's padsize=300k
                pad = Lba(session.start + sectors_for(size))
                self._write_sectors(disc.fileno(), pad, bytes(RECORDER_PADDING * SECTOR_SIZE))
                os.fsync(disc.fileno())

    def _copy_superblock(self, image: Path, session: Session) -> None:
        """What xorriso does after each session on overwritable media: copy
        the session's first 32 sectors to LBAs 0-31, with the volume space
        size of its descriptors made the absolute end, so that readers that
        start at LBA 16 see the newest tree."""
        with image.open("rb") as f:
            head = bytearray(f.read(SUPERBLOCK * SECTOR_SIZE))
        head += bytes(-len(head) % SECTOR_SIZE)
        for sector in range(16, len(head) // SECTOR_SIZE):
            at = sector * SECTOR_SIZE
            if head[at + 1 : at + 6] != b"CD001" or head[at] == 255:
                break
            if head[at] in (1, 2):
                size = session.end
                head[at + 80 : at + 88] = size.to_bytes(4, "little") + size.to_bytes(4, "big")
        with open(self._path, "r+b", buffering=0) as disc:
            self._write_sectors(disc.fileno(), Lba(0), bytes(head))
            os.fsync(disc.fileno())

    def _byte_faults(self, done: int) -> int:
        """Raise the fault due after ``done`` image bytes; else return the
        byte count where the next one fires, so that a chunk stops there."""
        f = self._faults
        if f.remove_after_bytes is not None and done >= f.remove_after_bytes:
            raise RecorderError(
                f"the disc was removed from the drive after {done} bytes had been recorded"
                " (injected fault)"
            )
        if f.fail_after_bytes is not None and done >= f.fail_after_bytes:
            raise RecorderError(
                f"the drive failed after {done} bytes had been recorded (injected fault)"
            )
        limits = [n for n in (f.fail_after_bytes, f.remove_after_bytes) if n is not None]
        return min(limits, default=1 << 62)

    def _write_sectors(self, fd: int, lba: Lba, data: bytes) -> None:
        """Write whole sectors at ``lba``: the one door data goes through.

        Refuses sectors past the end of the medium, and on write-once media
        any sector already written (the disc's own rule, whatever the caller
        believes).
        """
        if len(data) % SECTOR_SIZE:
            raise RecorderError("internal error: a write must cover whole sectors")
        count = len(data) // SECTOR_SIZE
        if lba < 0 or lba + count > self._media.capacity:
            raise RecorderError(f"write of sectors {lba}+{count} past the end of the disc")
        if self._media.write_once:
            again = _first_overlap(self._written, lba, count)
            if again is not None:
                raise WriteOnceError(
                    f"sector {again} of this {self._media.title} is already written;"
                    " write-once media cannot be rewritten"
                )
        bad = self._faults.bad_sector
        if bad is not None and lba <= bad < lba + count:
            self._pwrite(fd, lba, data[: (bad - lba) * SECTOR_SIZE])
            raise RecorderError(f"write error at sector {bad} (injected fault)")
        self._pwrite(fd, lba, data)

    def _pwrite(self, fd: int, lba: Lba, data: bytes) -> None:
        view = memoryview(data)
        offset = lba * SECTOR_SIZE
        try:
            while view:
                n = os.pwrite(fd, view, offset)
                view, offset = view[n:], offset + n
        except OSError as exc:
            lost = Lba(offset // SECTOR_SIZE)
            raise RecorderError(
                f"cannot write sector {lost} of {self._path}: {exc.strerror}"
            ) from None
        if data:
            self._written = _add_range(self._written, Session(lba, sectors_for(len(data))))

    def _abandoned(self, toc: _Toc) -> _Toc:
        """``toc`` after the recording it marks was cut off: on write-once
        media the whole planned range is lost (wasted, never writable again);
        rewritable media just forget it."""
        rec = toc.recording
        toc = dataclasses.replace(toc, recording=None, identity=_new_identity())
        if rec is None or not toc.media.write_once:
            return toc
        return dataclasses.replace(
            toc,
            state=DiscState.APPENDABLE,
            wasted=_add_range(toc.wasted, rec),
            written=_add_range(toc.written, rec),
        )

    def _recover(self, toc: _Toc) -> _Toc:
        """Settle a recording marker left by a crash (caller holds the lock)."""
        if toc.recording is None:
            return toc
        rec, lost = toc.recording, "is lost" if toc.media.write_once else "can be rewritten"
        log.warning(
            "%s: a recording was interrupted; sectors %d+%d %s",
            self._path,
            rec.start,
            rec.length,
            lost,
        )
        toc = self._abandoned(toc)
        self._write_toc(toc)
        return toc

    def _lock(self, *, raise_if_busy: bool) -> contextlib.AbstractContextManager[bool]:
        """Hold the drive (:mod:`cdfs.recorders.drivelock`); when another process has
        it, yield False or raise."""
        if not self._path.exists():
            raise self._no_disc()
        what = f"the emulated drive {self._path}"
        return drivelock.hold(self.ident, what, raise_if_busy=raise_if_busy)

    def _no_disc(self) -> NoDiscError:
        """The error of a disc whose image is gone (an eject, for this drive)."""
        return NoDiscError(f"no disc in the emulated drive: {self._path} is gone")

    def _read_toc(self) -> _Toc:
        if not self._path.exists():
            raise self._no_disc()
        try:
            text = self._toc_path.read_text("utf-8")
        except FileNotFoundError:
            raise MediaError(
                f"{self._path} is not an emulated disc: its table of contents"
                f" {self._toc_path.name} is missing"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MediaError(f"cannot read the table of contents {self._toc_path}: {exc}") from None
        try:
            toc = _Toc.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError, UsageError) as exc:
            raise MediaError(
                f"the table of contents {self._toc_path} of the emulated disc is corrupt ({exc})"
            ) from None
        self._media = toc.media
        self._written = toc.written
        return toc

    def _write_toc(self, toc: _Toc) -> None:
        try:
            _write_toc_file(self._toc_path, toc)
        except OSError as exc:
            raise RecorderError(f"cannot update {self._toc_path}: {exc.strerror}") from None
        self._written = toc.written


def _report(progress: ProgressFn | None, done: int, total: int) -> None:
    """Call a progress callback; a broken one must not cut a burn short."""
    if progress is None:
        return
    try:
        progress(done, total)
    except Exception:
        log.exception("progress callback failed")


def _image_size(image: Path) -> int:
    try:
        size = image.stat().st_size
    except FileNotFoundError:
        raise NotFoundError(f"the image to record, {image}, does not exist") from None
    if size == 0:
        raise RecorderError(f"the image to record, {image}, is empty")
    return size
