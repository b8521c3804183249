"""The ``cdfs`` command line: what each command does and prints.

Owns user-facing output (the only place that prints), exit codes, and
talking to a running daemon through its mount (``.burn``, the status
attribute).  Errors are one line on stderr, never a traceback.  The options
are defined in :mod:`cdfs.parser` (``build_parser`` is re-exported here for
the man page generator), progress bars and waiting in :mod:`cdfs.progress`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from . import config, names, paths
from .errors import CdfsError, NotFoundError, NotMountedError, UsageError, WriteOnceError
from .isonames import volume_ids
from .media import DiscInfo, media_type
from .parser import build_parser, recording_values
from .status import human_bytes, render_text
from .units import SECTOR_SIZE

log = logging.getLogger(__name__)

DEFAULT_MEDIA = "cd-r80"


# -- talking to a mount ---------------------------------------------------


def read_status(mountpoint: Path) -> dict[str, Any]:
    """The daemon's status, from the status attribute of the mount root."""
    try:
        raw = os.getxattr(mountpoint, names.STATUS_XATTR.decode())
    except OSError as exc:
        raise NotMountedError(f"{mountpoint} is not a cdfs mount ({exc.strerror})") from None
    data: dict[str, Any] = json.loads(raw)
    return data


def poll_status(mountpoint: Path) -> dict[str, Any] | None:
    """The daemon's status, or ``None`` once the mount is gone."""
    try:
        return read_status(mountpoint)
    except NotMountedError:
        return None


def submit(mountpoint: Path, send: Callable[[], object], what: str) -> int:
    """Hand the daemon a request with ``send``; returns the number it gave
    the request.  A refusal says why, in the daemon's words if it has any."""
    try:
        send()
    except OSError:
        last = read_status(mountpoint).get("last_burn") or {}
        raise UsageError(last.get("message") or f"the {what} was refused") from None
    return int(read_status(mountpoint)["requests"])


def request_burn(mountpoint: Path, lines: Sequence[str]) -> int:
    """Write ``.burn``; returns the request number the daemon gave it."""
    read_status(mountpoint)
    text = "".join(f"{line}\n" for line in lines)
    burn_file = mountpoint / names.BURN_FILE.decode()
    return submit(mountpoint, partial(burn_file.write_text, text, encoding="utf-8"), "burn request")


def wait_and_report(mountpoint: Path, ticket: int, quiet: bool) -> int:
    """Wait for the burn or erase of request ``ticket``; says how it ended."""
    from .progress import wait_for_burn

    return report_burn(wait_for_burn(partial(poll_status, mountpoint), ticket, show=not quiet))


def report_burn(last: dict[str, Any]) -> int:
    if last.get("ok"):
        print(f"cdfs: {last.get('message')}")
        return 0
    print(f"cdfs: burn failed: {last.get('message')}", file=sys.stderr)
    return 1


# -- recorder resolution -----------------------------------------------------


def resolve_drive(spec: str | None, configured: str = "") -> str:
    """The drive to use: the option, else $CDFS_DRIVE, else the configured
    drive, else the default emulated disc (created blank, as a cd-r80, on
    first use)."""
    spec = spec or os.environ.get("CDFS_DRIVE") or configured
    if spec:
        return spec
    disc = paths.default_disc()
    if not disc.exists():
        from .emulated import create_media

        disc.parent.mkdir(parents=True, exist_ok=True)
        create_media(disc, media_type(DEFAULT_MEDIA))
        log.info("created a blank %s emulated disc at %s", DEFAULT_MEDIA, disc)
    return str(disc)


# -- commands ----------------------------------------------------------------


def cmd_mount(args: argparse.Namespace) -> int:
    from .daemon import Daemon, MountOptions, daemonize, parse_mount_options, run
    from .recorder import open_recorder

    fuse = parse_mount_options(args.options)
    mp = Path(args.mountpoint).resolve()
    if not mp.is_dir():
        raise NotFoundError(f"mount point {mp} is not a directory")
    if os.path.ismount(mp):
        raise UsageError(f"{mp} is already a mount point")
    settings, _origin = config.load()
    recorder = open_recorder(resolve_drive(args.drive, settings.drive))
    stash_dir = args.stash_dir or settings.stash_dir
    stash = Path(stash_dir).expanduser() if stash_dir else paths.default_stash_dir()
    if args.no_burn_on_unmount:
        settings = replace(settings, burn_on_unmount=False)
    if args.close_policy:
        settings = replace(settings, close_policy=args.close_policy)
    if args.names:
        settings = replace(settings, names=args.names)
    options = MountOptions(mp, stash, settings=settings, debug=args.debug, **fuse)
    ready = None if args.foreground else daemonize(paths.log_file(recorder.ident))
    try:
        daemon = Daemon(recorder, options)
    except CdfsError as exc:
        if ready is None:
            raise
        os.write(ready, f"{exc}\n".encode())
        return exc.exit_code
    try:
        return run(daemon, ready)
    except RuntimeError as exc:
        if ready is not None:
            os.write(ready, f"cannot mount {mp}: {exc}\n".encode())
        raise CdfsError(f"cannot mount {mp}: {exc}") from None


def cmd_umount(args: argparse.Namespace) -> int:
    from .progress import wait_for_exit

    mp = Path(args.mountpoint).resolve()
    s = read_status(mp)
    pid, status_file = int(s["pid"]), Path(s["staging_dir"]) / names.STATUS_FILE_NAME
    before = (s.get("last_burn") or {}).get("finished")
    res = subprocess.run(
        ["fusermount3", "-u", str(mp)], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode:
        raise CdfsError(f"cannot unmount {mp}: {res.stderr.strip()}")
    wait_for_exit(pid, status_file, quiet=args.quiet)
    try:
        final = json.loads(status_file.read_text())
    except (OSError, ValueError):
        return 0
    last = final.get("last_burn") or {}
    if last and last.get("finished") != before:
        return report_burn(last)
    return 0


def cmd_burn(args: argparse.Namespace) -> int:
    mp = Path(args.mountpoint).resolve()
    if args.label is not None:
        volume_ids(args.label)  # refuse an unusable label here, before the daemon sees it
    values = {"label": args.label} if args.label is not None else {}
    if args.rewrite:
        values["rewrite"] = "yes"
    values |= recording_values(args)
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
    from .daemon import lock_recorder
    from .image import burn_image
    from .options import options_from
    from .progress import PhaseBars
    from .recorder import open_recorder

    settings, _origin = config.load()
    recorder = open_recorder(resolve_drive(args.drive, settings.drive))
    opts = options_from(recording_values(args)).resolve(settings)
    lock = lock_recorder(paths.staging_area(recorder.ident), recorder.description)
    try:
        with PhaseBars(quiet=args.quiet) as bars:
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
    if os.path.ismount(target):
        return erase_mounted(target.resolve(), mode, args)
    return erase_drive(str(target), mode, args)


def erase_mounted(mp: Path, mode: str, args: argparse.Namespace) -> int:
    """Erase through the daemon of mount ``mp``: staged files are kept."""
    s = read_status(mp)
    confirm(f"Erase everything on the {s['media_title']} in {s['drive']} ({mode})?", args.yes)
    ticket = submit(
        mp, partial(os.setxattr, mp, names.ERASE_XATTR.decode(), mode.encode()), "erase"
    )
    return wait_and_report(mp, ticket, args.quiet)


def erase_drive(drive: str, mode: str, args: argparse.Namespace) -> int:
    """Erase a disc image or device that no daemon holds."""
    from .progress import advance, byte_bar
    from .recorder import open_recorder

    recorder = open_recorder(drive)
    info = recorder.disc_info()
    if info.media.write_once:
        raise WriteOnceError(f"a {info.media.title} cannot be erased: it is write-once")
    confirm(
        f"Erase everything on the {info.media.title} in {recorder.description} ({mode})?", args.yes
    )
    with byte_bar("erasing", info.capacity * SECTOR_SIZE, args.quiet) as bar:
        recorder.erase(full=args.full, progress=partial(advance, bar))
    print(f"cdfs: erased the disc ({mode} erase)")
    return 0


def info_dict(info: DiscInfo) -> dict[str, Any]:
    return {
        "media": info.media.name,
        "title": info.media.title,
        "state": info.state.value,
        "capacity_bytes": info.capacity * SECTOR_SIZE,
        "used_bytes": info.used * SECTOR_SIZE,
        "free_bytes": info.free * SECTOR_SIZE,
        "next_writable_address": info.nwa,
        "sessions": [{"start": s.start, "length": s.length} for s in info.sessions],
    }


def cmd_media_create(args: argparse.Namespace) -> int:
    from .emulated import create_media

    rec = create_media(Path(args.path), media_type(args.type))
    info = rec.disc_info()
    print(
        f"created blank {info.media.title} at {args.path} "
        f"({human_bytes(info.capacity * SECTOR_SIZE)})"
    )
    return 0


def cmd_media_info(args: argparse.Namespace) -> int:
    from .recorder import open_recorder

    info = open_recorder(args.path).disc_info()
    d = info_dict(info)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"Media:     {d['title']} ({d['media']})")
    print(f"State:     {d['state']}")
    print(f"Capacity:  {human_bytes(d['capacity_bytes'])} ({info.capacity} sectors)")
    print(f"Used:      {human_bytes(d['used_bytes'])}")
    print(f"Free:      {human_bytes(d['free_bytes'])}")
    print(f"Sessions:  {len(info.sessions)}")
    for i, s in enumerate(info.sessions, 1):
        print(f"  {i:2}: start {s.start}, length {s.length} sectors")
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
    "media create": cmd_media_create,
    "media info": cmd_media_info,
}
"""Each ``handler`` name the parser sets, and the function that runs it."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    try:
        return COMMANDS[args.handler](args)
    except CdfsError as exc:
        print(f"cdfs: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
