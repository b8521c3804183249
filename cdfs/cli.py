"""The ``cdfs`` command line: what each command does and prints.

Owns user-facing output (the only place that prints), exit codes, and
talking to a running daemon through its mount (``.burn``, the status
attribute, its recorder lock); dead mounts are recognised and removed by
:mod:`cdfs.mounts`.  Errors are one line on stderr, never a traceback.  The options
are defined in :mod:`cdfs.parser` (``build_parser`` is re-exported here for
the man page generator), progress bars and waiting in :mod:`cdfs.progress`.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdfs import (
    config,
    drives,
    mediacmd,
    mounthelper,
    mounts,
    names,
    paths,
    policy,
    private,
    system,
)
from cdfs.burn import stash
from cdfs.burn.outcome import FAILED, NO_DISC
from cdfs.burn.status import AT_REST, render_text
from cdfs.desktop.commands import COMMANDS as DESKTOP_COMMANDS
from cdfs.errors import (
    BurnInProgressError,
    BusyError,
    CdfsError,
    NoSpaceError,
    NotFoundError,
    NotMountedError,
    PolicyError,
    UsageError,
    WriteOnceError,
)
from cdfs.iso.isonames import label_warning
from cdfs.parser import build_parser, recording_values
from cdfs.recorders.media import SPEED_1X, media_type
from cdfs.units import SECTOR_SIZE

if TYPE_CHECKING:
    from cdfs.recorders.recorder import Recorder

log = logging.getLogger(__name__)

DEFAULT_MEDIA = "cd-r80"


# -- talking to a mount ---------------------------------------------------


def read_status(mountpoint: Path) -> dict[str, Any]:
    """The daemon's status, from the status attribute of the mount root."""
    try:
        raw = os.getxattr(mountpoint, names.STATUS_XATTR.decode())
    except OSError as exc:
        if mounts.dead_mount(mountpoint) is not None:
            raise NotMountedError(
                f"the file system at {mountpoint} has stopped (its daemon was killed or "
                f"crashed): 'cdfs mount {mountpoint}' removes the dead mount and mounts again, "
                "which finishes any interrupted burn; 'cdfs umount' only removes it"
            ) from None
        if exc.errno == errno.ENOENT:
            raise NotFoundError(f"{mountpoint} does not exist") from None
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.ENOTDIR):
            raise NotMountedError(f"{mountpoint} is not a cdfs mount") from None
        raise NotMountedError(
            f"{mountpoint} is not a cdfs mount, or cannot be reached ({exc.strerror})"
        ) from None
    data: dict[str, Any] = json.loads(raw)
    return data


def holding_mount(staging_dir: Path) -> Path | None:
    """The live cdfs mount whose daemon uses the staging area
    ``staging_dir`` (from the status it last published), if there is one."""
    try:
        mp = Path(json.loads((staging_dir / names.STATUS_FILE_NAME).read_text())["mountpoint"])
        live = read_status(mp)
    except (OSError, ValueError, TypeError, KeyError, NotMountedError, NotFoundError):
        return None
    return mp if Path(live.get("staging_dir", "")) == staging_dir else None


def hold_recorder(recorder: Recorder, through_mount: str) -> int:
    """:func:`cdfs.daemon.lock_recorder` for a command that uses a recorder
    without a mount.  If a mount has it, the refusal names the mount and
    ``through_mount`` (formatted with ``mp``) says what to do instead."""
    from cdfs.daemon import lock_recorder

    staging_dir = paths.staging_area(recorder.ident)
    try:
        return lock_recorder(staging_dir, recorder.description)
    except BurnInProgressError:
        mp = holding_mount(staging_dir)
        if mp is None:
            raise
        raise BurnInProgressError(
            f"{recorder.description} is in use by the cdfs mount at {mp}: "
            + through_mount.format(mp=mp)
        ) from None


def poll_status(mountpoint: Path) -> dict[str, Any] | None:
    """The daemon's status, or ``None`` once the mount is gone."""
    try:
        return read_status(mountpoint)
    except (NotMountedError, NotFoundError):
        return None


REQUEST_TIMEOUT = 10.0
"""Seconds a daemon may take to count a request after it was sent."""


def submit(mountpoint: Path, send: Callable[[], object], what: str) -> int:
    """Hand the daemon a request with ``send``; returns the number it gave
    the request.  A refusal says why, in the daemon's words if it has any."""
    before = read_status(mountpoint)
    try:
        send()
    except OSError as exc:
        after = read_status(mountpoint)
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise PolicyError(policy.denied(after, what, before)) from None
        raise UsageError(refusal(after, what)) from None
    return wait_counted(mountpoint, before, what)


def wait_counted(mountpoint: Path, before: dict[str, Any], what: str) -> int:
    """The number the daemon gave the request sent after status ``before``.
    The daemon takes a ``.burn`` request when the kernel releases the file,
    which it does after close() has returned: wait until the daemon has
    counted the request, or refused it."""
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while True:
        s = read_status(mountpoint)
        if s["requests"] > before["requests"]:
            return int(s["requests"])
        if s.get("refusals", 0) > before.get("refusals", 0):
            raise UsageError(refusal(s, what))
        if time.monotonic() > deadline:
            raise CdfsError(
                f"the cdfs daemon of {mountpoint} did not take the {what} within "
                f"{REQUEST_TIMEOUT:g} s; see 'cdfs status {mountpoint}'"
            )
        time.sleep(0.01)


def refusal(status: dict[str, Any], what: str) -> str:
    last = status.get("last_burn") or {}
    return str(last.get("message") or f"the {what} was refused")


def request_burn(mountpoint: Path, lines: Sequence[str]) -> int:
    """Write ``.burn``; returns the request number the daemon gave it."""
    text = "".join(f"{line}\n" for line in lines)
    burn_file = mountpoint / names.BURN_FILE.decode()
    return submit(mountpoint, partial(burn_file.write_text, text, encoding="utf-8"), "burn request")


def wait_and_report(mountpoint: Path, ticket: int, quiet: bool) -> int:
    """Wait for the burn or erase of request ``ticket``; says how it ended."""
    from cdfs.progress import wait_for_burn

    return report_burn(wait_for_burn(partial(poll_status, mountpoint), ticket, show=not quiet))


def report_burn(last: dict[str, Any]) -> int:
    if last.get("ok"):
        print(f"cdfs: {last.get('message')}")
        return 0
    if last.get("refused") == NO_DISC:  # unmounted with no disc: staged files kept
        print(f"cdfs: {last.get('message')}", file=sys.stderr)
        return 0
    if last.get("refused") == "policy":
        print(f"cdfs: {last.get('message')}", file=sys.stderr)
        return PolicyError.exit_code
    print(f"cdfs: burn failed: {last.get('message')}", file=sys.stderr)
    # 5 or 6 when the disc was the reason (swapped, closed, full...), else 1.
    return int(last.get("exit_code") or FAILED)


# -- recorder resolution -----------------------------------------------------


def resolve_drive(spec: str | None, settings: config.Settings) -> str:
    """The drive to use (:func:`cdfs.drives.enabled_drive`: the option,
    $CDFS_DRIVE, the drive setting, the one recorder udev knows), else the
    default emulated disc (created blank, as a cd-r80, on first use)."""
    spec = drives.enabled_drive(spec, settings)
    if spec:
        return spec
    disc = paths.default_disc()
    if not disc.exists():
        from cdfs.recorders.emulated import create_media

        private.own_dir(disc.parent)
        create_media(disc, media_type(DEFAULT_MEDIA))
        log.info("created a blank %s emulated disc at %s", DEFAULT_MEDIA, disc)
    return str(disc)


# -- commands ----------------------------------------------------------------


def cmd_mount(args: argparse.Namespace) -> int:
    from cdfs.daemon import Daemon, daemonize, run
    from cdfs.mountopts import MountOptions, parse_mount_options

    fuse = parse_mount_options(args.options)
    if args.mountpoint:
        mp = Path(args.mountpoint).resolve()
    else:  # ~/NAME, for the file managers' sidebars
        from cdfs.desktop.sidebar import named_mountpoint

        mp = named_mountpoint(resolve_drive(args.drive, config.load()[0]))
    if mounts.remove_dead_cdfs_mount(mp):
        print(f"cdfs: removed the dead mount at {mp} (its daemon had stopped)", file=sys.stderr)
    settings, _origin = config.load()
    recorder, stash_path = check_mount(args, mp, settings, nonempty=fuse.pop("nonempty", False))
    if args.no_burn_on_unmount:
        settings = replace(settings, burn_on_unmount=False)
    if args.close_policy:
        settings = replace(settings, close_policy=args.close_policy)
    if args.names:
        settings = replace(settings, names=args.names)
    options = MountOptions(mp, stash_path, settings=settings, debug=args.debug, **fuse)
    ready = None if args.foreground else daemonize(paths.log_file(recorder.ident))
    if ready is not None:
        log_to_stderr()
    try:
        daemon = Daemon(recorder, options)
    except CdfsError as exc:
        if ready is None:
            raise
        os.write(ready, f"{exc.exit_code} {exc}\n".encode())
        return exc.exit_code
    try:
        return run(daemon, ready)
    except RuntimeError as exc:
        if ready is not None:
            os.write(ready, f"{CdfsError.exit_code} cannot mount {mp}: {exc}\n".encode())
        raise CdfsError(f"cannot mount {mp}: {exc}") from None


def check_mount(
    args: argparse.Namespace, mp: Path, settings: config.Settings, *, nonempty: bool
) -> tuple[Recorder, Path]:
    """The recorder and stash directory of a mount, once everything that can
    be checked before mounting has been: in the foreground, and before
    anything is created for the drive (staging area, log), so that a mount
    that cannot work says why, with its own exit code."""
    from cdfs import mountcheck as check
    from cdfs.recorders.nodisc import disc_or_none
    from cdfs.recorders.opening import open_recorder

    check.check_mountpoint(mp, nonempty=nonempty)
    recorder = open_recorder(resolve_drive(args.drive, settings))
    info = disc_or_none(recorder)  # an empty drive mounts (staging works)
    stash_dir = args.stash_dir or settings.stash_dir
    stash_path = Path(stash_dir).expanduser() if stash_dir else paths.default_stash_dir()
    free = stash.check(stash_path, recorder.ident)
    check.check_fuse_device()
    for warning in (
        check.stash_room_warning(stash_path, free, info.room * SECTOR_SIZE),
        check.speed_warning(recorder, settings.speed, info),
    ):
        if warning:
            print(f"cdfs: warning: {warning}", file=sys.stderr)
    return recorder, stash_path


def cmd_umount(args: argparse.Namespace) -> int:
    from cdfs.progress import read_status_file, wait_for_exit

    mp = Path(args.mountpoint).resolve()
    if mounts.remove_dead_cdfs_mount(mp):
        raise NotMountedError(
            f"the cdfs daemon of {mp} had stopped (killed or crashed), so nothing was burned: "
            "removed its dead mount. The staged files are kept; mounting again (cdfs mount "
            f"{mp}, with the same --drive) finishes any interrupted burn"
        )
    s = read_status(mp)
    burn = s.get("burn", {})
    earlier = burn.get("run") if burn.get("phase") in AT_REST else None
    pid, staging_dir = int(s["pid"]), Path(s["staging_dir"])
    status_file = staging_dir / names.STATUS_FILE_NAME
    before = (s.get("last_burn") or {}).get("id")
    res = subprocess.run(
        ["fusermount3", "-u", str(mp)], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode and "busy" in res.stderr.lower():
        raise BusyError(
            f"cannot unmount {mp}: it is busy (a program has a file or its working directory "
            f"in it); close those ('fuser -vm {mp}' lists them) and try again"
        )
    if res.returncode:
        raise CdfsError(f"cannot unmount {mp}: {res.stderr.strip()}")
    wait_for_exit(partial(daemon_gone, staging_dir, pid), status_file, args.quiet, earlier)
    last = read_status_file(status_file).get("last_burn") or {}
    if last and last.get("id") != before:
        return report_burn(last)
    return 0


def daemon_gone(staging_dir: Path, pid: int) -> bool:
    """Whether the daemon ``pid`` of ``staging_dir`` has finished: it has let
    go of the recorder, or another daemon has taken it over since."""
    from cdfs.daemon import recorder_released
    from cdfs.progress import read_status_file

    if recorder_released(staging_dir):
        return True
    published: object = read_status_file(staging_dir / names.STATUS_FILE_NAME).get("pid", pid)
    return published != pid


def cmd_burn(args: argparse.Namespace) -> int:
    mp = Path(args.mountpoint).resolve()
    # Refuse an unusable label or speed here, before the daemon sees it.
    if args.speed is not None:
        config.check("speed", args.speed)
    if args.label is not None and (warning := label_warning(args.label)):
        print(f"cdfs: warning: {warning}", file=sys.stderr)
    values = {"label": args.label} if args.label is not None else {}
    if args.rewrite:
        values["rewrite"] = "yes"
    values |= recording_values(args)
    if args.wait:  # an empty drive: ask for a disc, and wait for it
        from cdfs.progress import wait_for_disc

        wait_for_disc(partial(poll_status, mp), args.timeout, args.quiet, mp)
    ticket = request_burn(mp, [f"{key}={value}" for key, value in values.items()])
    if not args.wait:
        print(f"cdfs: burn requested (request {ticket}); see {mp / '.status'}")
        return 0
    return wait_and_report(mp, ticket, args.quiet)


def cmd_config_get(args: argparse.Namespace) -> int:
    settings, origin = config.load()
    if args.key:
        config.check(args.key, getattr(settings, args.key.replace("-", "_"), ""))
        print(config.show(getattr(settings, args.key.replace("-", "_"))))
        return 0
    for key in config.KEYS:
        where = f"  # {origin[key]}" if key in origin else "  # default"
        print(f"{key} = {config.show(getattr(settings, key))}{where}")
    return 0


def cmd_config_set(args: argparse.Namespace) -> int:
    value = config.set_value(args.key, args.value)
    print(f"{args.key.replace('-', '_')} = {config.show(value)}  # {config.user_config()}")
    return 0


def cmd_burn_image(args: argparse.Namespace) -> int:
    from cdfs.burn.image import burn_image, check_image
    from cdfs.burn.options import options_from
    from cdfs.desktop.inhibit import sleep_inhibited
    from cdfs.progress import PhaseBars
    from cdfs.recorders.opening import open_recorder

    check_image(Path(args.image))
    settings, _origin = config.load()
    policy.check(settings)
    recorder = open_recorder(resolve_drive(args.drive, settings))
    opts = options_from(recording_values(args)).resolve(settings)
    lock = hold_recorder(recorder, "unmount it first ('cdfs umount {mp}')")
    try:
        with PhaseBars(quiet=args.quiet) as bars, sleep_inhibited(f"Writing {args.image}"):
            bars.one_x = SPEED_1X[recorder.disc_info().media.family]
            message = burn_image(recorder, Path(args.image), opts, bars.start)
    finally:
        os.close(lock)
    print(f"cdfs: {message}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    mp = Path(args.mountpoint).resolve()
    s = read_status(mp)
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        sys.stdout.write(render_text(s))
    return 0


def confirm(question: str, yes: bool) -> None:
    """Ask before destroying data; without a terminal, only --yes will do."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Refusing without --yes (no terminal to ask).")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("nothing was erased")


def cmd_erase(args: argparse.Namespace) -> int:
    target = Path(args.target)
    mode = "full" if args.full else "quick"
    if os.path.ismount(target) or mounts.dead_mount(target.resolve()):
        return erase_mounted(target.resolve(), mode, args)
    return erase_drive(str(target), mode, args)


def erase_mounted(mp: Path, mode: str, args: argparse.Namespace) -> int:
    """Erase through the daemon of mount ``mp``: staged files are kept."""
    s = read_status(mp)
    confirm(
        f"Erase everything on the {s['media_title']} mounted at {mp} ({mode} erase; the staged "
        "files are kept)?",
        args.yes,
    )
    ticket = submit(
        mp, partial(os.setxattr, mp, names.ERASE_XATTR.decode(), mode.encode()), "erase"
    )
    return wait_and_report(mp, ticket, args.quiet)


def erase_drive(drive: str, mode: str, args: argparse.Namespace) -> int:
    """Erase a disc image or device that no daemon holds; one a mount holds
    is refused (busy), since the mount would go on showing what it erased."""
    from cdfs.desktop.inhibit import sleep_inhibited
    from cdfs.progress import PhaseBars
    from cdfs.recorders.media import erase_words
    from cdfs.recorders.opening import open_recorder

    policy.check(config.load()[0])
    recorder = open_recorder(drive)
    erase = f"cdfs erase{' --full' if args.full else ''} {{mp}}"
    lock = hold_recorder(
        recorder, f"erase it through the mount ('{erase}', which keeps the staged files)"
    )
    try:
        info = recorder.disc_info()
        if info.media.write_once:
            raise WriteOnceError(f"a {info.media.title} cannot be erased: it is write-once")
        mode = erase_words(info.media, args.full)  # a DVD-RW: always fully, and how long
        confirm(
            f"Erase everything on the {info.media.title} in {drive} ({mode})?",
            args.yes,
        )
        with PhaseBars(quiet=args.quiet) as bars, sleep_inhibited(f"Erasing {drive}"):
            recorder.erase(
                full=args.full,
                progress=bars.start("erasing", info.capacity * SECTOR_SIZE if args.full else 0),
            )
    finally:
        os.close(lock)
    print(f"cdfs: erased the disc ({mode})")
    return 0


# -- dispatch ----------------------------------------------------------------


Command = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, Command] = {
    "mount": cmd_mount,
    "umount": cmd_umount,
    "burn": cmd_burn,
    "status": cmd_status,
    "erase": cmd_erase,
    "burn-image": cmd_burn_image,
    "config get": cmd_config_get,
    "config set": cmd_config_set,
    "media create": mediacmd.cmd_media_create,
    "media info": mediacmd.cmd_media_info,
    "drives": drives.cmd_drives,
    "enable": system.cmd_enable,
    "disable": system.cmd_disable,
    **DESKTOP_COMMANDS,
}
"""Each ``handler`` name the parser sets, and the function that runs it."""


LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


class CommandLog(logging.FileHandler):
    """The log of the commands other than ``mount`` (``cdfs.log`` in the
    state directory, 0600): opened on the first record, so a command that
    logs nothing creates nothing."""

    def __init__(self) -> None:
        super().__init__(paths.state_dir() / "cdfs.log", delay=True)

    def _open(self) -> io.TextIOWrapper:
        private.own_dir(paths.state_dir())
        fd = private.open_file(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return open(fd, "a", encoding="utf-8")

    def handleError(self, record: logging.LogRecord) -> None:
        """A log that cannot be written is not worth a traceback on stderr."""


def setup_logging(args: argparse.Namespace) -> None:
    """Where log records go.  A mount in the foreground logs on stderr; one
    in the background, on stderr once that is its log file (:func:`log_to_stderr`),
    and until then (checks, an interrupted recording settled) like every
    other command.  Every other command
    prints its answer and its errors itself and keeps stderr for them (and
    its progress): its log records (a blank disc created, an interrupted
    recording settled) go to the command log; with -v also on stderr."""
    level = logging.DEBUG if args.verbose else logging.INFO
    if args.handler == "mount" and args.foreground:
        logging.basicConfig(level=level, format=LOG_FORMAT)
        return
    handler: logging.Handler = CommandLog()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handlers = [handler]
    if args.verbose:
        handlers.append(logging.StreamHandler())
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers)


def log_to_stderr() -> None:
    """From now on log on stderr (a background daemon's log file)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.root.handlers = [handler]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(mounthelper.argv(argv))  # also fstab's cdfs SOURCE MP -o
    setup_logging(args)
    try:
        return COMMANDS[args.handler](args)
    except CdfsError as exc:
        print(f"cdfs: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # A path the command was given cannot be reached (say, it lies under
        # a dead mount): one line naming it; the traceback only with -v.
        log.debug("%s", exc, exc_info=True)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cdfs: {where}{exc.strerror or exc}", file=sys.stderr)
        return OS_EXIT_CODES.get(exc.errno or 0, CdfsError.exit_code)
    except KeyboardInterrupt:
        return 130


OS_EXIT_CODES = {
    errno.ENOENT: NotFoundError.exit_code,
    errno.ENOTDIR: NotFoundError.exit_code,
    errno.ENOTCONN: NotMountedError.exit_code,
    errno.ENOSPC: NoSpaceError.exit_code,
    errno.EBUSY: BurnInProgressError.exit_code,
}
"""Exit codes for the system errors that have a kind of their own."""
