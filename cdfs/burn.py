"""The burn job: snapshot what is staged, master it, record it, verify it,
and only then drop from staging exactly what was burned.

Owns the order of those steps, their progress and outcome, the queue of
burn requests (one follow-up burn at most), and the rule that a recording
is never cut half-way (it runs shielded from cancellation).  Mastering is
:mod:`cdfs.mastering`'s job, recording the recorder's.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
import os
import shutil
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trio

from . import discread, names
from .errors import (
    CdfsError,
    DiscChangedError,
    NoSpaceError,
    NotWritableError,
    VerificationError,
    WriteOnceError,
)
from .mastering import Kind, MasterEntry, master_session, volume_ids
from .media import DiscInfo
from .options import BurnOptions, ClosePolicy, should_close
from .recorder import Recorder
from .space import Counts, room, session_sectors
from .staging import is_reserved
from .units import SECTOR_SIZE, Lba, sectors_for
from .view import View

log = logging.getLogger(__name__)

PHASES = ("idle", "checking", "mastering", "recording", "verifying", "erasing", "done", "failed")


def default_label(now: _dt.datetime | None = None) -> str:
    """The disc name when none is given: the date, as the XP wizard did."""
    return (now or _dt.datetime.now()).strftime("%Y-%m-%d")


@dataclass
class Progress:
    """The running burn's phase and progress; read by ``.status``."""

    phase: str = "idle"
    done: int = 0
    total: int = 0
    started: float = 0.0
    phase_started: float = 0.0

    def enter(self, phase: str, total: int = 0) -> None:
        self.phase, self.done, self.total = phase, 0, total
        self.phase_started = time.monotonic()
        if phase == "checking":
            self.started = time.time()

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.phase_started, 1e-6)
        pct = 100.0 * self.done / self.total if self.total else 0.0
        rate = self.done / elapsed
        remaining = (self.total - self.done) / rate if rate > 0 and self.total else None
        return {
            "phase": self.phase,
            "percent": round(pct, 1),
            "bytes_done": self.done,
            "bytes_total": self.total,
            "bytes_per_second": round(rate),
            "seconds_remaining": round(remaining, 1) if remaining is not None else None,
        }


@dataclass
class BurnResult:
    ok: bool
    message: str
    label: str = ""
    files: int = 0
    bytes: int = 0
    session_start: int | None = None
    session_length: int | None = None
    finished: str = ""
    request: int = 0
    """The highest burn request this burn covered."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Item:
    rel: bytes
    kind: Kind
    key: tuple[int, ...]


@dataclass
class Snapshot:
    entries: list[MasterEntry]
    items: list[_Item] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    counts: Counts = field(default_factory=Counts)


def _key(st: os.stat_result, kind: Kind) -> tuple[int, ...]:
    if kind is Kind.DIR:
        return (st.st_ino, st.st_mode, st.st_uid, st.st_gid)
    return (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


def _disc_entry(path: tuple[bytes, ...], e: discread.DiscEntry) -> MasterEntry:
    kind = Kind.DIR if stat.S_ISDIR(e.mode) else Kind.SYMLINK if stat.S_ISLNK(e.mode) else Kind.FILE
    return MasterEntry(
        path=path,
        kind=kind,
        mode=stat.S_IMODE(e.mode),
        uid=e.uid,
        gid=e.gid,
        mtime_ns=e.mtime_ns,
        atime_ns=e.atime_ns,
        size=e.size,
        extents=e.extents if kind is Kind.FILE else (),
        target=e.target,
    )


def take_snapshot(view: View, snap_dir: Path) -> Snapshot:
    """Freeze what is staged: hard links of staged files into ``snap_dir``
    plus the whole tree of the next session.  Runs in the event loop, so no
    FUSE request changes the staging tree meanwhile; files open for writing
    are left for the next burn, and later writes to a frozen file go to a
    copy of it (:meth:`View._break_snapshot_link`)."""
    if snap_dir.exists():
        shutil.rmtree(snap_dir)
    snap_dir.mkdir(parents=True)
    snap_fd = os.open(snap_dir, os.O_PATH | os.O_DIRECTORY)
    busy = view.open_writer_paths()
    tree: dict[tuple[bytes, ...], MasterEntry] = {}
    if view.root.disc is not None:
        for path, e in discread.walk(view.root.disc):
            tree[path] = _disc_entry(path, e)
    snap = Snapshot(entries=[])
    whiteouts: set[tuple[bytes, ...]] = set()
    staged: set[tuple[bytes, ...]] = set()

    def hidden(path: tuple[bytes, ...]) -> bool:
        return any(path[:i] in whiteouts for i in range(1, len(path) + 1))

    try:
        for rel, dnames, fnames, fd in view.upper.walk():
            prefix = tuple(rel.split(b"/")) if rel else ()
            # Whiteouts first: a directory replacing a deleted one must not
            # inherit the deleted one's burned attributes.
            for name in fnames:
                if name.startswith(names.WHITEOUT_PREFIX):
                    whiteouts.add((*prefix, name[len(names.WHITEOUT_PREFIX) :]))
                    st = os.lstat(name, dir_fd=fd)
                    rpath = rel + b"/" + name if rel else name
                    snap.items.append(_Item(rpath, Kind.FILE, _key(st, Kind.FILE)))
            for name in dnames + fnames:
                path, rpath = (*prefix, name), (rel + b"/" + name if rel else name)
                if rpath in busy or is_reserved(name):
                    continue
                st = os.lstat(name, dir_fd=fd)
                disc = None if hidden(path) else tree.get(path)
                entry = _staged_entry(path, st, name, fd, snap_fd, len(snap.items), snap_dir, disc)
                if entry is None:
                    continue
                tree[path] = entry
                staged.add(path)
                snap.items.append(_Item(rpath, entry.kind, _key(st, entry.kind)))
                if entry.kind is Kind.FILE:
                    snap.files += 1
                    snap.bytes += entry.size
    finally:
        os.close(snap_fd)
    if whiteouts:
        tree = {p: e for p, e in tree.items() if p in staged or not hidden(p)}
    snap.entries = [tree[p] for p in sorted(tree)]
    snap.counts = Counts(
        entries=len(tree),
        dirs=sum(e.kind is Kind.DIR for e in tree.values()),
        symlinks=sum(e.kind is Kind.SYMLINK for e in tree.values()),
        data=sum(
            sectors_for(e.size)
            for e in tree.values()
            if e.kind is Kind.FILE and e.source is not None
        ),
    )
    return snap


def _staged_entry(
    path: tuple[bytes, ...],
    st: os.stat_result,
    name: bytes,
    fd: int,
    snap_fd: int,
    n: int,
    snap_dir: Path,
    disc: MasterEntry | None,
) -> MasterEntry | None:
    def entry(kind: Kind, **more: Any) -> MasterEntry:
        return MasterEntry(
            path=path,
            kind=kind,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            mtime_ns=st.st_mtime_ns,
            atime_ns=st.st_atime_ns,
            **more,
        )

    if stat.S_ISDIR(st.st_mode):
        if disc is not None and disc.kind is Kind.DIR:
            # A container for new names inside a directory of the disc: the
            # directory keeps its burned attributes, with the newer mtime.
            return replace(disc, mtime_ns=max(disc.mtime_ns, st.st_mtime_ns))
        return entry(Kind.DIR)
    if stat.S_ISLNK(st.st_mode):
        return entry(Kind.SYMLINK, target=os.readlink(name, dir_fd=fd))
    if stat.S_ISREG(st.st_mode):
        link = str(n).encode()
        os.link(name, link, src_dir_fd=fd, dst_dir_fd=snap_fd, follow_symlinks=False)
        return entry(Kind.FILE, size=st.st_size, source=snap_dir / link.decode())
    log.warning("ignoring staged special file %r", name)
    return None


def drop_burned(view: View, snap: Snapshot, disc: discread.DiscEntry | None) -> None:
    """Remove from staging what the snapshot burned and nobody changed since."""
    upper = view.upper
    for item in snap.items:
        if item.kind is Kind.DIR:
            continue
        st = upper.lstat(item.rel)
        if st is not None and _key(st, item.kind) == item.key:
            upper.unlink(item.rel)
    dirs = sorted(
        (i for i in snap.items if i.kind is Kind.DIR), key=lambda i: i.rel.count(b"/"), reverse=True
    )
    for item in dirs:
        st = upper.lstat(item.rel)
        if st is not None and _key(st, item.kind) == item.key:
            with contextlib.suppress(OSError):  # not empty: something new waits inside
                upper.rmdir(item.rel)
    _drop_empty_containers(view, disc)


def _drop_empty_containers(view: View, disc: discread.DiscEntry | None) -> None:
    """Upper directories that only held names inside directories of the
    (new) disc tree and are empty now."""
    if disc is None:
        return
    empties: list[bytes] = []
    for rel, dnames, fnames, _fd in view.upper.walk():
        if not dnames and not fnames and rel:
            empties.append(rel)
    for rel in sorted(empties, key=lambda r: r.count(b"/"), reverse=True):
        entry: discread.DiscEntry | None = disc
        for part in rel.split(b"/"):
            entry = entry.children.get(part) if entry is not None else None
        if entry is not None and stat.S_ISDIR(entry.mode):
            with contextlib.suppress(OSError):
                view.upper.rmdir(rel)


def verify_session(
    recorder: Recorder, stash: Path, start: Lba, progress: Callable[[int, int], None]
) -> None:
    """Compare every byte of the recorded session with the stash."""
    total = stash.stat().st_size
    done = 0
    with stash.open("rb") as want, recorder.open_reader() as disc:
        disc.seek(start * SECTOR_SIZE)
        while True:
            a = want.read(1 << 20)
            if not a:
                break
            b = disc.read(len(a))
            if a != b:
                bad = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), len(b))
                sector = start + (done + bad) // SECTOR_SIZE
                raise VerificationError(
                    f"verification failed: sector {sector} on the disc differs from the stash file"
                )
            done += len(a)
            progress(done, total)


def check_capacity(info: DiscInfo, need: int) -> None:
    """Refuse a burn to a disc that is closed, full, or too small."""
    mb = -(-need * SECTOR_SIZE // 1_000_000)
    plain = (
        "The disc in the drive is not writable or it is full: insert a blank "
        f"writable disc, or one with at least {mb} MB free"
    )
    if not info.writable or info.nwa is None:
        raise NotWritableError(plain)
    have = room(info)
    if need > have:
        over = -(-(need - have) * SECTOR_SIZE // 1_000_000)
        raise NoSpaceError(f"{plain} (the staged files need {over} MB more than is free)")


def check_same_disc(known: DiscInfo, now: DiscInfo) -> None:
    """Refuse to burn onto a disc other than the one the mount shows."""
    if known.identity and now.identity != known.identity:
        raise DiscChangedError(
            "the disc in the drive is not the one this mount shows (it was swapped, or "
            "written by another program): nothing was burned and the staged files are kept; "
            "unmount and mount again to stage onto the disc now in the drive"
        )


def check_stash_space(stash_dir: Path, need_bytes: int) -> None:
    try:
        stash_dir.mkdir(parents=True, exist_ok=True)
        probe = stash_dir / ".cdfs-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CdfsError(f"cannot write the stash file in {stash_dir}: {exc.strerror}") from None
    free = shutil.disk_usage(stash_dir).free
    if free < need_bytes:
        raise NoSpaceError(
            f"not enough free disk space for the stash file in {stash_dir}: "
            f"{need_bytes // 1_000_000} MB needed, {free // 1_000_000} MB available"
        )


class Burner:
    """Runs burns one at a time in the daemon, and remembers the last one."""

    def __init__(
        self,
        view: View,
        recorder: Recorder,
        staging_dir: Path,
        stash_dir: Path,
        on_change: Callable[[], None] = lambda: None,
        close_policy: ClosePolicy = ClosePolicy.NEVER,
    ) -> None:
        self.close_policy = close_policy
        self.view = view
        self.recorder = recorder
        self.staging_dir = staging_dir
        self.stash_dir = stash_dir
        self.progress = Progress()
        self.last: BurnResult | None = None
        self.requests = 0
        self.on_change = on_change
        self._pending: BurnOptions | None = None
        self._erase: bool | None = None
        self._wake = trio.Event()
        self._idle = trio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self.progress.phase not in ("idle", "done", "failed")

    def request(self, options: BurnOptions) -> int:
        """Queue a burn; returns its request number.  Requests made while a
        burn runs become one follow-up burn."""
        self.requests += 1
        self._pending = (self._pending or BurnOptions()).merged(options)
        self._wake.set()
        self._idle = trio.Event()
        return self.requests

    def request_erase(self, full: bool) -> int:
        """Queue an erase of the (rewritable) disc; runs before queued burns."""
        self.requests += 1
        self._erase = full
        self._wake.set()
        self._idle = trio.Event()
        return self.requests

    async def run(self) -> None:
        """Serve erase and burn requests until cancelled."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._erase is not None:
                full, self._erase = self._erase, None
                await self._job(functools.partial(self._erase_disc, full), "erase")
            if self._pending is not None:
                options, self._pending = self._pending, None
                await self.burn(options)
            if self._pending is None and self._erase is None:
                self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def has_staged(self) -> bool:
        return any(True for _ in self.view.upper.listdir(b""))

    async def burn(self, options: BurnOptions) -> BurnResult:
        return await self._job(lambda: self._burn(options), "burn")

    async def _job(self, job: Callable[[], Awaitable[BurnResult]], what: str) -> BurnResult:
        """Run one burn or erase, turning every failure into its result."""
        covers = self.requests
        try:
            result = await job()
        except CdfsError as exc:
            result = BurnResult(False, str(exc))
        except Exception as exc:
            log.exception("%s failed unexpectedly", what)
            result = BurnResult(False, f"internal error: {exc!r}")
        result.request = covers
        result.finished = _dt.datetime.now().isoformat(timespec="seconds")
        self.progress.enter("done" if result.ok else "failed")
        self.last = result
        log.info("%s %s: %s", what, "succeeded" if result.ok else "failed", result.message)
        self.on_change()
        return result

    async def _erase_disc(self, full: bool) -> BurnResult:
        prog = self.progress
        prog.enter("erasing", self.view.info.capacity * SECTOR_SIZE)
        self.on_change()
        info = await trio.to_thread.run_sync(self.recorder.disc_info)
        check_same_disc(self.view.info, info)
        if info.media.write_once:
            raise WriteOnceError(f"a {info.media.title} cannot be erased: it is write-once")
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(
                lambda: self.recorder.erase(full=full, progress=prog.update)
            )
            info, root = await self._read_disc()
            self.view.set_disc(info, root)
        kind = "full" if full else "quick"
        return BurnResult(True, f"erased the disc ({kind} erase); staged files are kept")

    async def _burn(self, options: BurnOptions) -> BurnResult:
        prog = self.progress
        prog.enter("checking")
        self.on_change()
        label = options.label or default_label()
        volume_ids(label)
        info = await trio.to_thread.run_sync(self.recorder.disc_info)
        check_same_disc(self.view.info, info)
        snap_dir = self.staging_dir / names.SNAPSHOT_DIR
        snap = take_snapshot(self.view, snap_dir)
        try:
            if not snap.items:
                return BurnResult(True, "nothing to burn: the staging area is empty", label)
            need = session_sectors(snap.counts)
            check_capacity(info, need)
            assert info.nwa is not None
            start = info.nwa
            check_stash_space(self.stash_dir, need * SECTOR_SIZE)
            stash = self.stash_dir / f"cdfs-stash-{self.recorder.ident}.iso"
            prog.enter("mastering", snap.bytes)
            self.on_change()
            sectors = await trio.to_thread.run_sync(
                lambda: master_session(
                    snap.entries, stash, start=start, label=label, progress=prog.update
                )
            )
            close = should_close(info, start, sectors, self.close_policy, options.close)
            try:
                prog.enter("recording", sectors * SECTOR_SIZE)
                self.on_change()
                with trio.CancelScope(shield=True):
                    session = await trio.to_thread.run_sync(
                        lambda: self.recorder.record(
                            stash, start, close=close, progress=prog.update
                        )
                    )
                    prog.enter("verifying", sectors * SECTOR_SIZE)
                    self.on_change()
                    await trio.to_thread.run_sync(
                        lambda: verify_session(self.recorder, stash, start, prog.update)
                    )
                    info, root = await self._read_disc()
                    # One step, with no FUSE request in between: the burned
                    # files leave staging as the new session appears.
                    drop_burned(self.view, snap, root)
                    self.view.set_disc(info, root)
            finally:
                with contextlib.suppress(OSError):
                    stash.unlink()
            closed = "; the disc is now closed" if close else ""
            return BurnResult(
                True,
                f"burned {snap.files} files ({snap.bytes} bytes) as "
                f"session {len(self.view.info.sessions)}{closed}",
                label,
                snap.files,
                snap.bytes,
                session.start,
                session.length,
            )
        finally:
            shutil.rmtree(snap_dir, ignore_errors=True)

    async def _read_disc(self) -> tuple[DiscInfo, discread.DiscEntry | None]:
        """The disc's table of contents and the tree of its last session."""
        info = await trio.to_thread.run_sync(self.recorder.disc_info)
        with self.recorder.open_reader() as fp:
            root = await trio.to_thread.run_sync(lambda: discread.read_tree(fp, info))
        return info, root
