"""The mount daemon: wires a recorder, the staging area, the merged view,
the FUSE adapter and the burner together, and runs them under trio.

Owns the process side of a mount: start-up (reading the disc, preparing the
staging area, making cdfs's directories private, removing the stashes a
crash left behind), the control files ``.burn`` and ``.status``, publishing the
status, the burn on unmount, and the background/foreground split.  It
contains no file system logic of its own.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pyfuse3
import trio

from cdfs import names, paths, policy, private
from cdfs.burn import stash
from cdfs.burn.job import Burner
from cdfs.burn.options import BurnOptions, parse_burn_options
from cdfs.burn.outcome import NO_DISC, BurnResult
from cdfs.burn.recovery import recover
from cdfs.burn.status import render_text
from cdfs.desktop.inhibit import SleepLock
from cdfs.discwatch import watch_disc
from cdfs.errors import (
    BurnInProgressError,
    CdfsError,
    NoDiscError,
    PolicyError,
    UsageError,
    WriteOnceError,
)
from cdfs.iso import disccontents
from cdfs.mount.fs import Operations
from cdfs.mount.namereport import name_changes
from cdfs.mount.staging import Upper, is_reserved
from cdfs.mount.view import Attr, Caller, Handle, View
from cdfs.mountopts import MountOptions
from cdfs.recorders.nodisc import disc_or_none, is_no_disc, state_of
from cdfs.recorders.recorder import Recorder

log = logging.getLogger(__name__)

MAX_REQUEST = 65536
"""Bytes a ``.burn`` request may have: a few lines of options."""


def lock_recorder(staging_dir: Path, description: str) -> int:
    """One user of a recorder at a time: a second mount, or burning an image
    while it is mounted, would fight over the disc and the staging area."""
    private.own_dir(staging_dir)
    fd = private.open_file(staging_dir / names.LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BurnInProgressError(
            f"{description} is in use by a cdfs mount: unmount it first"
        ) from None
    return fd


def recorder_released(staging_dir: Path) -> bool:
    """Whether nobody holds :func:`lock_recorder`'s lock any more.

    A daemon keeps that lock until it has finished its last burn and
    published its final status, and the kernel drops it when the process
    dies, zombie or not; so this, unlike the daemon's pid, says when it is
    really gone."""
    try:
        fd = os.open(staging_dir / names.LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


class Daemon:
    """One mounted recorder: the owner of the control files and the status."""

    def __init__(
        self, recorder: Recorder, options: MountOptions, staging_dir: Path | None = None
    ) -> None:
        self.recorder = recorder
        self.options = options
        self.staging_dir = staging_dir or paths.staging_area(recorder.ident)
        for own in paths.own_dirs():  # made private; earlier versions left them open
            private.tighten(own)
        private.own_dir(self.staging_dir)
        self._lock_fd = lock_recorder(self.staging_dir, recorder.description)
        shutil.rmtree(self.staging_dir / names.SNAPSHOT_DIR, ignore_errors=True)
        self.upper = Upper(self.staging_dir / names.STAGING_TREE)
        info = disc_or_none(recorder)  # an empty drive mounts: staging works
        reader = None if is_no_disc(info) else recorder.open_reader()
        shown = disccontents.Contents(None, None)
        if reader is not None:
            shown = disccontents.read_contents(reader, info)
        self._nursery: trio.Nursery | None = None
        """Set while mounted: where the kernel's caches are invalidated."""
        self.discs_followed = 0
        """Discs inserted, swapped or ejected that the mount followed."""
        self.say: Callable[[str, str], None] | None = None
        """Shows a desktop notification (set where notifications are on)."""
        self.view = View(
            self.upper,
            info,
            shown.root,
            reader,
            self,
            strict_names=options.settings.names == "strict",
            disc_problem=shown.problem,
        )
        self.sleep_lock = SleepLock()
        self.burner = Burner(
            self.view,
            recorder,
            self.staging_dir,
            options.stash_dir,
            on_change=self._changed,
            settings=options.settings,
        )
        # An interrupted burn is settled once its disc is in the drive.
        recovered = None if is_no_disc(info) else recover(self.view, self.staging_dir)
        self.burner.last = recovered or self._load_last()
        stash.clean(options.stash_dir, recorder.ident)
        self._staged_cache: tuple[float, int, int, int] = (0.0, 0, 0, 0)
        self._burn_writers = 0
        """Descriptions of ``.burn`` open for writing: each makes its own
        request when released."""
        self.refusals = 0
        """Burn and erase requests refused so far (``requests`` counts the
        others), for ``cdfs burn`` to tell that its request was refused."""
        self.final_burn: BurnResult | None = None
        self._names_cache: tuple[int, dict[str, Any]] | None = None
        self.publish()

    def _load_last(self) -> BurnResult | None:
        try:
            data = json.loads((self.staging_dir / names.STATUS_FILE_NAME).read_text())
            last = data.get("last_burn")
            return BurnResult(**last) if last else None
        except (OSError, ValueError, TypeError):
            return None

    # -- status -----------------------------------------------------------

    def staged_totals(self) -> tuple[int, int, int]:
        """(files, symbolic links, bytes) staged, counted as a burn counts
        them (not the staging area's own markers of deletions); cached for a
        second while a burn runs and the status is polled."""
        when, *totals = self._staged_cache
        if self.burner.busy and time.monotonic() - when < 1.0:
            return totals[0], totals[1], totals[2]
        files = links = size = 0
        for _rel, _dirs, fnames, fd in self.upper.walk():
            for name in fnames:
                if is_reserved(name):
                    continue
                st = os.lstat(name, dir_fd=fd)
                files += stat.S_ISREG(st.st_mode)
                links += stat.S_ISLNK(st.st_mode)
                size += st.st_size if stat.S_ISREG(st.st_mode) else 0
        self._staged_cache = (time.monotonic(), files, links, size)
        return files, links, size

    def status(self) -> dict[str, Any]:
        info = self.view.info
        files, links, size = self.staged_totals()
        space = self.view.space()
        return {
            "pid": os.getpid(),
            "mountpoint": str(self.options.mountpoint),
            "drive": self.recorder.description,
            "media": info.media.name,
            "media_title": info.media.title,
            "rewritable": info.media.rewritable,
            "state": state_of(info),
            "disc_problem": "; ".join(p for p in (info.blocked, self.view.disc_problem) if p),
            "sessions": [{"start": s.start, "length": s.length} for s in info.sessions],
            **space.as_bytes(),
            "staged_files": files,
            "staged_symlinks": links,
            "staged_bytes": size,
            "staged_folder_changes": len(self.view.dir_attrs.changes),
            "burn": self.burner.progress.as_dict(),
            "requests": self.burner.requests,
            "refusals": self.refusals,
            "last_burn": self.burner.last.as_dict() if self.burner.last else None,
            "staging_dir": str(self.staging_dir),
            "names": self.name_report(),
        }

    def name_report(self) -> dict[str, Any]:
        """Staged names Windows or strict ISO readers see differently;
        recomputed only when names changed."""
        generation = self.view.generation
        if self._names_cache is None or self._names_cache[0] != generation:
            self._names_cache = (generation, name_changes(self.upper, self.view.root.disc))
        return self._names_cache[1]

    def status_json(self) -> bytes:
        return json.dumps(self.status()).encode()

    def activity(self) -> tuple[Any, Any, Any]:
        """Cheap to read from another thread: (what changes when names are
        staged or folders changed, what changes when a burn starts or ends,
        what changes when the mount follows another disc in the drive)."""
        last = self.burner.last
        staged = (self.view.generation, len(self.view.dir_attrs.changes))
        burns = (self.burner.progress.phase, self.burner.requests, last.id if last else None)
        return staged, burns, self.discs_followed

    def _changed(self) -> None:
        """A burn phase began: the status, and no sleep while writing."""
        self.publish()
        self.sleep_lock.for_phase(self.burner.progress.phase)

    def publish(self) -> None:
        """Keep the last status on disk: it outlives the mount."""
        path = self.staging_dir / names.STATUS_FILE_NAME
        try:
            private.write_file(path, json.dumps(self.status(), indent=1).encode())
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    # -- control files ------------------------------------------------------

    def control_attr(self, name: bytes, ino: int) -> Attr:
        """``.burn`` is the owner's to write, and burn_group's (the kernel
        checks that on a shared mount); ``.status`` is read-only."""
        now = time.time_ns()
        mode, gid = 0o444, os.getgid()
        if name == names.BURN_FILE:
            group = policy.burn_file_group(self.options.settings)
            mode, gid = (0o644, gid) if group is None else (0o664, group)
        return Attr(ino, stat.S_IFREG | mode, 1, os.getuid(), gid, 0, 0, now, now, now)

    def check_policy(self, caller: Caller | None) -> None:
        """Refuse a burn or erase the burn policy does not allow (EACCES),
        saying why in the status."""
        try:
            if caller is None:
                policy.check(self.options.settings)
            else:
                policy.check_request(self.options.settings, os.getuid(), caller.uid, caller.pid)
        except PolicyError as exc:
            self._refuse(str(exc), refused="policy")
            raise

    def control_open(self, name: bytes, flags: int, caller: Caller | None) -> Handle:
        node = self.view.node(self.view.control_inos[name])
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY
        if name == names.STATUS_FILE:
            if writing:
                raise OSError(errno.EACCES, "read-only")
            return Handle(node, data=bytearray(render_text(self.status()).encode()))
        if writing:
            self.check_policy(caller)
            self._burn_writers += 1
        return Handle(node, writable=writing)

    def control_write(self, handle: Handle, off: int, buf: bytes) -> int:
        if not handle.writable:
            raise OSError(errno.EBADF, "not open for writing")
        if off + len(buf) > MAX_REQUEST:
            self._fail(handle, f".burn takes at most {MAX_REQUEST} bytes")
        handle.data[off : off + len(buf)] = buf
        # Check complete lines now: shells ignore errors of close(), so a bad
        # request must fail the write itself (and then start nothing).
        self._parse_request(handle, bytes(handle.data[: handle.data.rfind(b"\n") + 1]))
        return len(buf)

    def _parse_request(self, handle: Handle, data: bytes) -> BurnOptions:
        """The options in ``.burn``; a bad request is refused (EINVAL) and
        said in the status."""
        try:
            return parse_burn_options(data.decode("utf-8"))
        except UnicodeDecodeError:
            self._fail(handle, ".burn must contain UTF-8 text")
        except UsageError as exc:
            self._fail(handle, str(exc))

    def _fail(self, handle: Handle, message: str) -> NoReturn:
        """Refuse the request of ``handle`` for good: its release starts nothing."""
        if not handle.error:
            handle.error = message
            self._refuse(message)
        raise UsageError(handle.error)

    def control_flush(self, handle: Handle) -> None:
        """Nothing: close() of one descriptor is not the end of the request.
        A shell redirect closes its first descriptor (a flush) before the
        command writes through the dup()ed one."""
        return None

    def control_release(self, handle: Handle) -> None:
        """The last descriptor of an open ``.burn`` is closed: what was
        written to it is the burn request (a default burn if nothing was)."""
        if handle.node.name != names.BURN_FILE or not handle.writable:
            return
        self._burn_writers -= 1
        if handle.error:
            return  # refused already, and its write failed with EINVAL
        with contextlib.suppress(UsageError):  # said in the status
            self._request(self._parse_request(handle, bytes(handle.data)))

    def control_setattr(
        self,
        name: bytes,
        ino: int,
        handle: Handle | None,
        *,
        size: int | None,
        times: bool,
        caller: Caller | None,
    ) -> Attr:
        """``touch`` and utime() of ``.burn`` request a default burn, unless
        a write descriptor of it is open: its release makes the request (GNU
        touch opens the file, sets its times through the descriptor and
        closes it: one burn).  Setting the size requests nothing."""
        if handle is not None and handle.writable and size is not None:
            del handle.data[size:]
        if name == names.BURN_FILE and times and size is None and not self._burn_writers:
            self.check_policy(caller)
            self._request(BurnOptions())
        return self.control_attr(name, ino)

    def _request(self, options: BurnOptions) -> None:
        self.burner.request(options)
        self.publish()

    def names_gone(self, entries: list[tuple[int, bytes]]) -> None:
        """Forget them in a worker thread, after the current request (only
        while mounted: before, the kernel has looked nothing up)."""
        if self._nursery is not None:
            self._nursery.start_soon(trio.to_thread.run_sync, forget_names, entries)

    def control_setxattr(self, name: bytes, value: bytes, caller: Caller | None) -> None:
        """``user.cdfs.erase`` = ``quick`` or ``full`` on the root."""
        mode = value.strip().decode(errors="replace").lower()
        if mode not in ("quick", "full"):
            raise UsageError(f"erase must be quick or full, not {mode!r}")
        self.check_policy(caller)
        if is_no_disc(self.view.info):
            self._refuse("there is no disc in the drive: insert the rewritable disc to erase")
            raise NoDiscError("there is no disc in the drive")
        if not self.view.info.media.rewritable:
            message = f"a {self.view.info.media.title} cannot be erased: it is write-once"
            self._refuse(message)
            raise WriteOnceError(message)
        self.burner.request_erase(full=mode == "full")
        self.publish()

    def _refuse(self, message: str, refused: str = "") -> None:
        log.warning("burn request refused: %s", message)
        self.refusals += 1
        self.burner.last = BurnResult(
            False,
            f"burn request refused: {message}",
            request=self.burner.requests,
            refused=refused,
        )
        self.publish()

    # -- running --------------------------------------------------------------

    async def serve(self) -> None:
        """Answer FUSE requests and burn on request until unmounted, then
        burn what is still staged (if configured) and return."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.burner.run)
            nursery.start_soon(self._publish_while_burning)
            nursery.start_soon(watch_disc, self)
            await pyfuse3.main()
            self._nursery = None  # unmounted: the kernel caches nothing more
            log.info("unmounted")
            await self.burner.wait_idle()
            if self.options.settings.burn_on_unmount and self.burner.has_staged():
                self.final_burn = await self._burn_on_unmount()
            nursery.cancel_scope.cancel()
        self.publish()

    def _no_disc_on_unmount(self) -> BurnResult:
        """The burn on unmount with no disc in the drive: nothing to burn
        onto, which is no failed burn (an eject stops cdfs@sr0.service)."""
        message = (
            "not burned on unmount: there is no disc in the drive; the staged files are "
            "kept (mount the drive again and burn them onto a disc)"
        )
        log.info("%s", message)
        result = BurnResult(False, message, request=self.burner.requests, refused=NO_DISC)
        self.burner.last = result
        return result

    async def _burn_on_unmount(self) -> BurnResult:
        if is_no_disc(self.view.info):
            return self._no_disc_on_unmount()
        try:
            policy.check(self.options.settings)
        except PolicyError as exc:
            log.warning("not burning on unmount, the staged files are kept: %s", exc)
            result = BurnResult(
                False,
                f"not burned on unmount (the staged files are kept): {exc}",
                request=self.burner.requests,
                refused="policy",
            )
            self.burner.last = result
            return result
        log.info("burning what is staged before exiting")
        from cdfs.desktop.notify import burn_words, unmount_words

        if self.say is not None:
            files, _links, size = self.staged_totals()
            words = unmount_words(files, size, self.options.mountpoint)
            await trio.to_thread.run_sync(self.say, *words)
        result = await self.burner.burn(BurnOptions())
        if result.no_disc:
            # Ejected just before: systemd stops the unit on udev's event,
            # often before this mount has taken the same event.
            result = self._no_disc_on_unmount()
        if self.say is not None:
            await trio.to_thread.run_sync(self.say, *burn_words(result.as_dict()))
        return result

    async def _publish_while_burning(self) -> None:
        """Progress in the status file, for ``cdfs umount`` to show after the
        mount is gone."""
        while True:
            await trio.sleep(0.5)
            if self.burner.busy:
                self.publish()

    async def follow_disc(self, why: str) -> bool:
        """The disc in the drive changed (ejected, inserted, swapped: a udev
        media change, or the emulated disc's image removed or made again):
        show the disc now in the drive, keeping everything staged.  Not
        while a burn or erase runs: it reads the disc itself when it ends,
        and the wrong-disc check refuses a burn onto a disc the mount does
        not show.  False when it could not look now (a burn runs)."""
        if self.burner.busy:
            return False
        info = await trio.to_thread.run_sync(disc_or_none, self.recorder)
        if info.identity == self.view.info.identity and info == self.view.info:
            return True
        reader, shown = None, disccontents.Contents(None, None)
        if not is_no_disc(info):
            try:
                reader = await trio.to_thread.run_sync(self.recorder.open_reader)
                shown = await trio.to_thread.run_sync(disccontents.read_contents, reader, info)
            except CdfsError as exc:
                log.warning("cannot read the disc now in the drive: %s", exc)
                if reader is not None:
                    reader.close()
                return True
        # The kernel keeps names it looked up for ENTRY_TIMEOUT: make it ask
        # again for the top names of both discs (a dropped name takes its
        # subtree), before the change and once more after it.
        gone, root = self.view.root.disc, shown.root
        names = [
            (pyfuse3.ROOT_INODE, name)
            for name in {*(gone.children if gone else ()), *(root.children if root else ())}
        ]
        await trio.to_thread.run_sync(forget_names, names)
        if self.burner.busy:  # a burn started meanwhile: look again after it
            if reader is not None:
                reader.close()
            return False
        self.view.set_disc(info, root, shown.problem)
        self.view.use_reader(reader)
        await trio.to_thread.run_sync(forget_names, names)
        self.discs_followed += 1
        log.info("%s: the drive now holds %s", why, info.media.title)
        self.publish()
        return True

    def close(self) -> None:
        self.view.use_reader(None)
        self.upper.close()
        os.close(self._lock_fd)


def forget_names(entries: list[tuple[int, bytes]]) -> None:
    """Make the kernel look these (parent inode, name) up again (in a worker
    thread: never from a request handler, which could deadlock)."""
    for parent, name in entries:
        try:
            pyfuse3.invalidate_entry(parent, name)
        except OSError as exc:  # ENOENT: the kernel did not know the name
            log.debug("cannot invalidate %r: %s", name, exc)


def fuse_options(options: MountOptions) -> set[str]:
    opts = set(pyfuse3.default_options)
    opts.add(f"fsname={names.FSNAME}")
    opts.add("subtype=cdfs")
    # The kernel checks permissions against the modes cdfs reports.
    opts.add("default_permissions")
    if options.allow_other:
        opts.add("allow_other")
    if options.debug:
        opts.add("debug")
    return opts


def run(daemon: Daemon, ready_fd: int | None = None) -> int:
    """Mount, serve until unmounted, and clean up.  ``ready_fd`` gets one
    line (``ok``, or an exit code and an error) once the mount is up, for
    the parent of a background mount."""
    mp = daemon.options.mountpoint
    pyfuse3.init(Operations(daemon.view), str(mp), fuse_options(daemon.options))
    if ready_fd is not None:
        os.write(ready_fd, b"ok\n")
        os.close(ready_fd)
    settings = daemon.options.settings
    if settings.notifications:
        from cdfs.desktop import notify

        notify.start(mp, settings.notify_waiting_after, daemon.activity)
        daemon.say = notify.say_once
    try:
        trio.run(daemon.serve)
    except BaseException:
        log.exception("daemon stopped by an error")
        pyfuse3.close(unmount=True)
        daemon.close()
        return 1
    pyfuse3.close(unmount=False)
    daemon.close()
    final = daemon.final_burn
    return 0 if final is None or final.ok or final.refused == NO_DISC else 1


def daemonize(log_path: Path) -> int | None:
    """Fork into the background like sshfs.  Returns the write end of the
    readiness pipe in the child; the parent waits for it and exits: 0 on
    ``ok``, else with the exit code that starts the line (``3 message``)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(wfd)
        with os.fdopen(rfd, "rb") as r:
            msg = r.read().decode(errors="replace").strip()
        if msg == "ok":
            sys.exit(0)
        code, _, text = msg.partition(" ")
        sys.stderr.write(f"cdfs: {text or 'the daemon exited before mounting'}\n")
        sys.exit(int(code) if code.isdigit() else 1)
    os.close(rfd)
    os.setsid()
    private.own_dir(log_path.parent)
    null = os.open(os.devnull, os.O_RDWR)
    out = private.open_file(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    return wfd
