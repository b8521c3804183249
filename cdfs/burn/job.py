"""The burn job: snapshot what is staged, master it, record it, verify it,
and only then drop from staging exactly what was burned.

Owns the order of those steps, their progress and outcome, the queue of
burn requests (one follow-up burn at most), and the rule that a recording
is never cut half-way (it runs shielded from cancellation).  Mastering is
:mod:`cdfs.iso.mastering`'s job, recording the recorder's.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import trio

from cdfs import names
from cdfs.burn import journal
from cdfs.burn import stash as stashes
from cdfs.burn.automount import release_desktop_mounts
from cdfs.burn.checks import (
    KeptDigests,
    check_capacity,
    check_same_disc,
    check_write_speed,
    expected_tree,
    kept_at_risk,
    verify_kept,
    verify_quick,
    verify_session,
)
from cdfs.burn.lowfiles import carry_low_files
from cdfs.burn.options import BurnOptions, Resolved, should_close
from cdfs.burn.outcome import FAILED, BurnResult, failure
from cdfs.burn.phases import Progress, default_label, fault_pause
from cdfs.burn.recovery import read_back, read_back_words, settle
from cdfs.burn.snapshot import (
    Snapshot,
    drop_burned,
    release_snapshot,
    take_snapshot,
)
from cdfs.burn.status import AT_REST, files_words
from cdfs.config import Settings
from cdfs.errors import (
    CdfsError,
    NoSpaceError,
    NotWritableError,
    RecorderError,
    VerificationError,
    WriteOnceError,
)
from cdfs.iso import disccontents
from cdfs.iso.discread import Known
from cdfs.iso.isonames import label_warning
from cdfs.iso.mastering import Kind, ProgressFn, master_session
from cdfs.mount.space import after_burn, session_sectors
from cdfs.mount.view import View
from cdfs.recorders.media import (
    SPEED_1X,
    DiscInfo,
    DiscState,
    Session,
    closes,
    erase_words,
    not_closed_words,
)
from cdfs.recorders.nodisc import disc_for_burn
from cdfs.recorders.recorder import Recorder
from cdfs.units import SECTOR_SIZE, Lba, sectors_for

log = logging.getLogger(__name__)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


class Burner:
    """Runs burns one at a time in the daemon, and remembers the last one."""

    def __init__(
        self,
        view: View,
        recorder: Recorder,
        staging_dir: Path,
        stash_dir: Path,
        on_change: Callable[[], None] = lambda: None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
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
        self._fault_pause = fault_pause()

    async def _enter(self, phase: str, total: int = 0, one_x: int = 0) -> None:
        """Enter a phase: the one way each phase of a burn or an erase
        starts, so that the status shows it and the fault knob holds it."""
        self.progress.enter(phase, total, one_x)
        self.on_change()
        if self._fault_pause is not None and self._fault_pause[0] == phase:
            log.warning("fault knob: pausing in %s for %g s", phase, self._fault_pause[1])
            await trio.sleep(self._fault_pause[1])

    @property
    def busy(self) -> bool:
        return self.progress.phase not in AT_REST

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
        """Whether a burn has anything to record: staged names, or staged
        attributes of burned directories."""
        return bool(self.view.dir_attrs.changes) or any(True for _ in self.view.upper.listdir(b""))

    async def burn(self, options: BurnOptions) -> BurnResult:
        return await self._job(lambda: self._burn(options), "burn")

    async def _job(self, job: Callable[[], Awaitable[BurnResult]], what: str) -> BurnResult:
        """Run one burn or erase, turning every failure into its result."""
        covers = self.requests
        try:
            result = await job()
        except CdfsError as exc:
            result = failure(exc)
        except Exception as exc:
            log.exception("%s failed unexpectedly", what)
            result = BurnResult(False, f"internal error: {exc!r}", exit_code=FAILED)
        result.request = covers
        result.finished = _dt.datetime.now().isoformat(timespec="seconds")
        self.last = result
        log.info("%s %s: %s", what, "succeeded" if result.ok else "failed", result.message)
        if result.ok and self.progress.phase == "done":
            self.on_change()  # a burn that recorded entered done itself, before the drop
        else:
            await self._enter("done" if result.ok else "failed")
        return result

    async def _erase_disc(self, full: bool) -> BurnResult:
        prog = self.progress
        # A quick erase blanks the table of contents: no bytes to count.
        await self._enter("erasing", self.view.info.capacity * SECTOR_SIZE if full else 0)
        info = await trio.to_thread.run_sync(self.recorder.disc_info)
        check_same_disc(self.view.info, info)
        if info.media.write_once:
            raise WriteOnceError(f"a {info.media.title} cannot be erased: it is write-once")
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(
                lambda: self.recorder.erase(full=full, progress=prog.update)
            )
            info, shown, fp = await self._read_disc()
            self.view.set_disc(info, shown.root, shown.problem)
            self.view.use_reader(fp)
        kind = erase_words(info.media, full)
        return BurnResult(True, f"erased the disc ({kind}); staged files are kept")

    async def _burn(self, options: BurnOptions) -> BurnResult:
        prog = self.progress
        await self._enter("checking")
        opts = options.resolve(self.settings)
        label = opts.label or default_label()
        if warning := label_warning(label):
            log.warning("%s", warning)
        info = await trio.to_thread.run_sync(disc_for_burn, self.recorder)
        check_same_disc(self.view.info, info)
        await trio.to_thread.run_sync(check_write_speed, self.recorder, opts.speed)
        await trio.to_thread.run_sync(release_desktop_mounts, self.recorder)
        snap_dir = self.staging_dir / names.SNAPSHOT_DIR
        snap = take_snapshot(self.view, snap_dir, hold=not opts.simulate)
        stack = contextlib.ExitStack()
        unclosable = False
        try:
            if not snap.items and not snap.dir_changes and not opts.rewrite:
                return BurnResult(True, "nothing to burn: the staging area is empty", label)
            if opts.rewrite:
                return await self._rewrite(info, snap, label, opts)
            carried: list[Path] = []
            stack.callback(_unlink_all, carried)
            # No local name for the entries: the snapshot holds them, and
            # releases them once the session is verified (Snapshot.entries).
            snap.entries = await trio.to_thread.run_sync(
                lambda: carry_low_files(self.recorder, self.stash_dir, info, snap.entries, carried)
            )
            moved = sum(sectors_for(e.size) for e in snap.entries if e.source in carried)
            need = session_sectors(replace(snap.counts, data=snap.counts.data + moved))
            try:
                check_capacity(info, need)
            except (NoSpaceError, NotWritableError) as exc:
                if info.media.rewritable:
                    raise type(exc)(
                        f"{exc}; or rewrite the whole disc as one session with "
                        "'cdfs burn --rewrite'"
                    ) from None
                raise
            assert info.nwa is not None
            start = info.nwa
            self._reserve(info, start, need, snap, close=opts.close is True, simulate=opts.simulate)
            stash = stashes.create(self.stash_dir, self.recorder.ident, need * SECTOR_SIZE)
            try:
                await self._enter("mastering", snap.bytes)
                sectors = await trio.to_thread.run_sync(
                    lambda: self._master(snap, stash, start, label, prog.update)
                )
                check_capacity(info, sectors)  # reused directories are not estimated
                asked = should_close(info, start, sectors, opts.close_policy, opts.close)
                close = closes(info.media, asked)  # DVD-R DL always; DVD+RW never
                unclosable = asked and not close
                self._reserve(info, start, sectors, snap, close=close, simulate=opts.simulate)
                digests = await trio.to_thread.run_sync(
                    lambda: kept_at_risk(self.recorder, info, start, sectors, snap.entries)
                )
                session = await self._record(
                    stash, start, sectors, snap, label, close, opts, kept=digests
                )
            finally:
                with contextlib.suppress(OSError):
                    stash.unlink()
        finally:
            self.view.budget.burn_ended()
            stack.close()
            release_snapshot(self.view, snap_dir)
        if opts.simulate:
            return BurnResult(
                True,
                f"simulated: {files_words(snap.files, snap.symlinks)} ({snap.bytes} bytes) "
                "would have been burned; "
                "nothing was written and the files stay staged",
                label,
                snap.files,
                snap.bytes,
            )
        closed = "; the disc is now closed" if close else ""
        if unclosable:
            closed = f"; {not_closed_words(info.media)}"
        ejected = "; the disc was ejected" if opts.eject else ""
        return BurnResult(
            True,
            f"burned {files_words(snap.files, snap.symlinks)} ({snap.bytes} bytes) as "
            f"session {len(self.view.info.sessions)}{closed}{ejected}",
            label,
            snap.files,
            snap.bytes,
            session.start,
            session.length,
        )

    async def _record(
        self,
        stash: Path,
        start: Lba,
        sectors: int,
        snap: Snapshot,
        label: str,
        close: bool,
        opts: Resolved,
        *,
        kept: KeptDigests | None = None,
        journaled: journal.Journal | None = None,
    ) -> Session:
        """Record, verify and drop what was burned.  Shielded: once the
        recording starts, nothing cancels it half-way.  ``kept``: digests of
        earlier sessions' files where this one may write
        (:func:`~cdfs.burn.checks.kept_at_risk`), read again when verifying;
        ``journaled``: the journal the caller wrote (else it is written here).
        Once verified, the snapshot's entries are released before the new
        session's tree is read: both are as large as the session."""
        prog = self.progress
        one_x = SPEED_1X[self.view.info.media.family]
        journal_path = self.staging_dir / names.JOURNAL_FILE
        if not opts.simulate and not journal_path.exists():
            journaled = self._write_journal(start, sectors, snap, label)
        with trio.CancelScope(shield=True):
            await self._enter("recording", sectors * SECTOR_SIZE, one_x=one_x)
            try:
                session = await trio.to_thread.run_sync(
                    lambda: self.recorder.record(
                        stash,
                        start,
                        close=close,
                        speed=opts.speed,
                        simulate=opts.simulate,
                        progress=prog.update,
                    )
                )
            except BaseException as exc:
                journal.clear(journal_path)
                problem = "" if opts.simulate else await self._follow_disc()
                if problem and isinstance(exc, CdfsError):
                    raise type(exc)(f"{exc}; {problem}") from None
                raise
            if opts.simulate:
                return session
            if opts.verify != "none":
                await self._enter("verifying", sectors * SECTOR_SIZE)
                try:
                    await self._verify(stash, start, snap, opts.verify)
                    await trio.to_thread.run_sync(
                        lambda: verify_kept(self.recorder, kept or {}, snap.entries)
                    )
                except (CdfsError, OSError) as exc:
                    told = await self._settle_unverified(journal_path)
                    raise VerificationError(f"{exc}; {told}") from None
                journal.mark_verified(journal_path, journaled)
            snap.entries = []
            info, shown, fp = await self._read_disc(snap.placed if opts.verify == "full" else None)
            root = shown.root
            # README, phase 5 ("done"): only now are the burned files dropped.
            await self._enter("done")
            # One step, with no FUSE request in between: the burned files
            # leave staging as the new session appears.
            drop_burned(self.view, snap.items, root)
            self.view.set_disc(info, root, shown.problem)
            self.view.use_reader(fp)
            journal.clear(journal_path)
            if opts.eject:
                await trio.to_thread.run_sync(self.recorder.eject)
        return session

    async def _verify(self, stash: Path, start: Lba, snap: Snapshot, mode: str) -> None:
        prog = self.progress
        if mode == "full":
            await trio.to_thread.run_sync(
                lambda: verify_session(self.recorder, stash, start, prog.update)
            )
            return
        expected = expected_tree((e.path, e.kind, e.size) for e in snap.entries)
        await trio.to_thread.run_sync(
            lambda: verify_quick(self.recorder, stash, start, expected, prog.update)
        )

    async def _follow_disc(self) -> str:
        """After a recording failed: the disc changed all the same (on
        write-once media the range it began is lost, or the drive closed a
        session cut short where the write failed, and the drive says the
        disc is another one), so the mount follows it; otherwise every later
        burn would be refused as onto a swapped disc.  It is the same disc
        (the tray was locked): when its files cannot be read again, the
        mount keeps showing those it showed, which the failed recording did
        not touch.  Returns the disc's damaged sessions in words ("" when
        there are none)."""
        try:
            info = await trio.to_thread.run_sync(self.recorder.disc_info)
        except (CdfsError, OSError) as exc:
            log.warning("cannot look at the disc again after the failed recording: %s", exc)
            return ""
        fp: BinaryIO | None = None
        try:
            fp = await trio.to_thread.run_sync(self.recorder.open_reader)
            shown = await trio.to_thread.run_sync(disccontents.read_contents, fp, info)
        except (CdfsError, OSError) as exc:
            log.warning("cannot read the disc again after the failed recording: %s", exc)
            if fp is not None:
                fp.close()
                fp = None
            shown = disccontents.Contents(self.view.root.disc, None)
        self.view.set_disc(info, shown.root, shown.problem)
        if fp is not None:
            self.view.use_reader(fp)
        return shown.problem

    async def _settle_unverified(self, journal_path: Path) -> str:
        """After a failed verification the session is on the disc all the
        same: read each burned file back and drop those that are on it as
        they are staged; the rest stay staged for the next burn (what a
        remount does after a crash, :mod:`cdfs.burn.recovery`).  Returns what
        happened, in words."""
        j = journal.read(journal_path)
        assert j is not None

        try:
            info, shown, fp = await self._read_disc()
        except CdfsError as exc:
            # The journal stays: the next mount tries again.
            return f"the session cannot be read back ({exc}): its files stay staged"
        try:
            bad = await trio.to_thread.run_sync(lambda: read_back(self.view, j, fp))
        except BaseException as exc:
            fp.close()
            if not isinstance(exc, CdfsError):
                raise
            return f"the session cannot be read back ({exc}): its files stay staged"
        settle(self.view, j, bad, info, shown.root, shown.problem)
        self.view.use_reader(fp)
        journal.clear(journal_path)
        return read_back_words(bad, j.files)

    def _write_journal(
        self, start: Lba, sectors: int, snap: Snapshot, label: str, stash: Path | None = None
    ) -> journal.Journal:
        j = journal.Journal(
            start,
            sectors,
            label,
            snap.files,
            snap.bytes,
            _dt.datetime.now().isoformat(timespec="seconds"),
            tuple(snap.items),
            str(stash) if stash else "",
        )
        journal.write(self.staging_dir / names.JOURNAL_FILE, j)
        return j

    def _reserve(
        self,
        info: DiscInfo,
        start: Lba,
        sectors: int,
        snap: Snapshot,
        *,
        close: bool,
        simulate: bool,
    ) -> None:
        """Until the burn ends, measure what is staged meanwhile against the
        session after this one (:meth:`cdfs.mount.space.Budget.burn_started`)."""
        if not simulate:
            self.view.budget.burn_started(
                after_burn(info, start, sectors, close=close), snap.counts.data
            )

    def _master(
        self, snap: Snapshot, stash: Path, start: Lba, label: str, progress: ProgressFn
    ) -> int:
        """Master the session; reused directories are copied from the disc
        (where they went: ``snap.placed``)."""
        disc, entries = self.view.root.disc, snap.entries
        facts = disc.session if disc is not None else None
        if facts is None or not any(e.reuse is not None for e in entries):
            return master_session(entries, stash, start=start, label=label, progress=progress)
        with self.recorder.open_reader() as fp:
            return master_session(
                entries, stash, start=start, label=label, progress=progress,
                reuse_from=(fp, facts), placed=snap.placed,
            )  # fmt: skip

    async def _rewrite(
        self, info: DiscInfo, snap: Snapshot, label: str, opts: Resolved
    ) -> BurnResult:
        """Rewrite a rewritable disc as one session: master everything live
        (reading what is on the disc into the stash) before blanking it, so
        that a failure afterwards loses nothing."""
        if info.media.write_once:
            raise WriteOnceError(
                f"--rewrite needs a rewritable disc; a {info.media.title} can only be added to"
            )
        files = sum(e.kind is Kind.FILE for e in snap.entries)
        links = sum(e.kind is Kind.SYMLINK for e in snap.entries)
        size = sum(e.size for e in snap.entries if e.kind is Kind.FILE)
        data = sum(sectors_for(e.size) for e in snap.entries if e.kind is Kind.FILE)
        counts = replace(snap.counts, data=data)
        need = session_sectors(counts)
        blank = DiscInfo(info.media, DiscState.BLANK)
        check_capacity(blank, need)
        start = info.media.first_start  # 32 on overwritable media
        self._reserve(blank, start, need, snap, close=opts.close is True, simulate=opts.simulate)
        stash = stashes.create(self.stash_dir, self.recorder.ident, need * SECTOR_SIZE)
        prog = self.progress
        await self._enter("mastering", size)

        def master() -> int:
            with self.recorder.open_reader() as disc:
                return master_session(
                    snap.entries,
                    stash,
                    start=start,
                    label=label,
                    progress=prog.update,
                    copy_from=disc,
                )

        try:
            sectors = await trio.to_thread.run_sync(master)
        except BaseException:
            with contextlib.suppress(OSError):
                stash.unlink()
            raise
        close = closes(
            info.media, should_close(blank, start, sectors, opts.close_policy, opts.close)
        )
        self._reserve(blank, start, sectors, snap, close=close, simulate=opts.simulate)
        if opts.simulate:
            stash.unlink()
            return BurnResult(
                True,
                f"simulated: the disc would have been rewritten as one "
                f"session of {files_words(files, links)} ({size} bytes); nothing was "
                "written",
                label,
                files,
                size,
            )
        stash = stashes.keep(stash)  # from here on, it may be the only copy of the disc
        journaled = self._write_journal(start, sectors, snap, label, stash)
        with trio.CancelScope(shield=True):
            await self._enter("erasing")  # a quick erase: no bytes to count
            try:
                await trio.to_thread.run_sync(
                    lambda: self.recorder.erase(full=False, progress=prog.update)
                )
                session = await self._record(
                    stash, start, sectors, snap, label, close, opts, journaled=journaled
                )
            except CdfsError as exc:
                journal.clear(self.staging_dir / names.JOURNAL_FILE)
                raise RecorderError(
                    f"{exc}. The disc was erased for the rewrite: everything that was on it "
                    f"and the staged files are in {stash}; burn that onto a blank disc with "
                    f"'cdfs burn-image {stash}'. The staged files are kept."
                ) from None
        stash.unlink()
        return BurnResult(
            True,
            f"rewrote the disc as one session: {files_words(files, links)} ({size} bytes)",
            label,
            files,
            size,
            session.start,
            session.length,
        )

    async def _read_disc(
        self, known: Known | None = None
    ) -> tuple[DiscInfo, disccontents.Contents, BinaryIO]:
        """The disc's table of contents, what it shows (the tree of its
        newest session that reads whole), and a reader opened after the
        change, for the view to read files with from now on (a reader opened
        before it can still see the disc of a real drive as it was:
        :mod:`cdfs.recorders.blockdev`)."""
        info = await trio.to_thread.run_sync(self.recorder.disc_info)
        fp = await trio.to_thread.run_sync(self.recorder.open_reader)
        try:
            shown = await trio.to_thread.run_sync(disccontents.read_contents, fp, info, known)
        except BaseException:
            fp.close()
            raise
        return info, shown, fp
