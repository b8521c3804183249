"""The ``cdfs`` command line: argument parsing and what each command prints.

Owns user-facing output (the only place that prints), exit codes, and
talking to a running daemon through its mount (``.burn``, the status
attribute).  Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__, config, names, paths
from .errors import CdfsError, NotFoundError, NotMountedError, UsageError, WriteOnceError
from .media import MEDIA_TYPES, DiscInfo, media_type
from .options import ClosePolicy
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


def request_burn(mountpoint: Path, lines: Sequence[str]) -> int:
    """Write ``.burn``; returns the request number the daemon gave it."""
    read_status(mountpoint)
    text = "".join(f"{line}\n" for line in lines)
    try:
        with open(mountpoint / names.BURN_FILE.decode(), "w", encoding="utf-8") as f:
            f.write(text)
    except OSError:
        last = read_status(mountpoint).get("last_burn") or {}
        raise UsageError(last.get("message") or "the burn request was refused") from None
    return int(read_status(mountpoint)["requests"])


def wait_for_burn(
    poll: Callable[[], dict[str, Any] | None], ticket: int, show: bool
) -> dict[str, Any]:
    """Poll the status until a burn covering request ``ticket`` ended."""
    from tqdm import tqdm

    bar = None
    phase = ""
    try:
        while True:
            s = poll()
            if s is None:
                raise NotMountedError("the cdfs daemon went away before the burn finished")
            last = s.get("last_burn") or {}
            if last.get("request", 0) >= ticket and s["burn"]["phase"] in (
                "done",
                "failed",
                "idle",
            ):
                return dict(last)
            burn = s["burn"]
            if show and burn["phase"] not in ("idle", "done", "failed"):
                if burn["phase"] != phase:
                    if bar is not None:
                        bar.close()
                    phase = burn["phase"]
                    bar = tqdm(
                        total=max(burn["bytes_total"], 1),
                        desc=f"{phase:>9}",
                        unit="B",
                        unit_scale=True,
                        leave=True,
                        file=sys.stderr,
                    )
                if bar is not None:
                    bar.total = max(burn["bytes_total"], 1)
                    bar.n = burn["bytes_done"]
                    bar.refresh()
            time.sleep(0.2)
    finally:
        if bar is not None:
            bar.close()


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
    from .daemon import Daemon, MountOptions, daemonize, run
    from .recorder import open_recorder

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
    options = MountOptions(mp, stash, settings=settings, debug=args.debug)
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
    mp = Path(args.mountpoint).resolve()
    s = read_status(mp)
    pid, status_file = int(s["pid"]), Path(s["staging_dir"]) / names.STATUS_FILE_NAME
    before = (s.get("last_burn") or {}).get("finished")
    res = subprocess.run(
        ["fusermount3", "-u", str(mp)], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode:
        raise CdfsError(f"cannot unmount {mp}: {res.stderr.strip()}")

    def poll() -> dict[str, Any] | None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        try:
            data: dict[str, Any] = json.loads(status_file.read_text())
            return data
        except (OSError, ValueError):
            return {"burn": {"phase": "idle"}}

    from tqdm import tqdm

    bar = None
    while (s2 := poll()) is not None:
        burn = s2.get("burn", {})
        if burn.get("phase") not in (None, "idle", "done", "failed") and not args.quiet:
            if bar is None:
                bar = tqdm(total=1, desc="burning", unit="B", unit_scale=True, file=sys.stderr)
            bar.set_description(burn["phase"])
            bar.total = max(burn.get("bytes_total", 1), 1)
            bar.n = burn.get("bytes_done", 0)
            bar.refresh()
        time.sleep(0.2)
    if bar is not None:
        bar.close()
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
    lines = [f"label={args.label}"] if args.label is not None else []
    if args.close:
        lines.append("close=yes")
    if args.rewrite:
        lines.append("rewrite=yes")
    if args.speed is not None:
        lines.append(f"speed={args.speed}")
    if args.simulate:
        lines.append("simulate=yes")
    if args.verify is not None:
        lines.append(f"verify={args.verify}")
    if args.eject is not None:
        lines.append(f"eject={'yes' if args.eject else 'no'}")
    ticket = request_burn(mp, lines)
    if not args.wait:
        print(f"cdfs: burn requested (request {ticket}); see {mp / '.status'}")
        return 0

    def poll() -> dict[str, Any] | None:
        try:
            return read_status(mp)
        except NotMountedError:
            return None

    return report_burn(wait_for_burn(poll, ticket, show=not args.quiet))


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
    from tqdm import tqdm

    from .daemon import lock_recorder
    from .image import burn_image
    from .options import options_from
    from .recorder import open_recorder

    settings, _origin = config.load()
    recorder = open_recorder(resolve_drive(args.drive, settings.drive))
    values = {"close": "yes"} if args.close else {}
    for key in ("speed", "verify"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.simulate:
        values["simulate"] = "yes"
    if args.eject is not None:
        values["eject"] = "yes" if args.eject else "no"
    opts = options_from(values).resolve(settings)
    lock = lock_recorder(paths.staging_area(recorder.ident), recorder.description)
    bars: list[Any] = []

    def phase(name: str, total: int) -> Callable[[int, int], None]:
        for bar in bars:
            bar.close()
        bar = tqdm(
            total=max(total, 1),
            desc=f"{name:>9}",
            unit="B",
            unit_scale=True,
            file=sys.stderr,
            disable=args.quiet,
        )
        bars.append(bar)

        def update(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()

        return update

    try:
        message = burn_image(recorder, Path(args.image), opts, phase)
    finally:
        for bar in bars:
            bar.close()
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
        mp = target.resolve()
        s = read_status(mp)
        confirm(f"Erase everything on the {s['media_title']} in {s['drive']} ({mode})?", args.yes)
        try:
            os.setxattr(mp, names.ERASE_XATTR.decode(), mode.encode())
        except OSError:
            last = read_status(mp).get("last_burn") or {}
            raise UsageError(last.get("message") or "the erase was refused") from None
        ticket = int(read_status(mp)["requests"])

        def poll() -> dict[str, Any] | None:
            try:
                return read_status(mp)
            except NotMountedError:
                return None

        return report_burn(wait_for_burn(poll, ticket, show=not args.quiet))
    from tqdm import tqdm

    from .recorder import open_recorder

    recorder = open_recorder(str(target))
    info = recorder.disc_info()
    if info.media.write_once:
        raise WriteOnceError(f"a {info.media.title} cannot be erased: it is write-once")
    confirm(
        f"Erase everything on the {info.media.title} in {recorder.description} ({mode})?", args.yes
    )
    with tqdm(
        total=info.capacity * SECTOR_SIZE,
        desc="erasing",
        unit="B",
        unit_scale=True,
        file=sys.stderr,
        disable=args.quiet,
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()

        recorder.erase(full=args.full, progress=progress)
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


# -- parser ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cdfs",
        description="Burn discs like Windows XP did: mount the recorder, copy files in, "
        "touch .burn.",
        epilog="Without --drive, cdfs uses $CDFS_DRIVE or an emulated CD-R under "
        "~/.local/share/cdfs (created blank on first use).",
    )
    p.add_argument("--version", action="version", version=f"cdfs {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = sub.add_parser(
        "mount",
        help="mount a recorder as a file system",
        description="Mount a recorder: the disc's files read-only, with a "
        "writable staging area on top.  Runs in the background "
        "unless -f is given.",
    )
    m.add_argument("mountpoint", metavar="MOUNTPOINT")
    m.add_argument(
        "--drive",
        metavar="DISC_OR_DEVICE",
        help="emulated disc image (see 'cdfs media create') or device such as /dev/sr0",
    )
    m.add_argument("-f", "--foreground", action="store_true", help="stay in the foreground")
    m.add_argument(
        "--stash-dir",
        metavar="DIR",
        help="where the stash file (the mastered image) is written (default ~/.cache/cdfs)",
    )
    m.add_argument(
        "--no-burn-on-unmount",
        action="store_true",
        help="keep staged files staged when unmounting instead of burning them",
    )
    m.add_argument(
        "--close-policy",
        choices=[p.value for p in ClosePolicy],
        help="when burns close the disc: never (the default setting), auto (when 2%% or "
        "less would remain, or no further session could fit), always",
    )
    m.add_argument("--debug", action="store_true", help="log every FUSE request")
    m.set_defaults(func=cmd_mount)

    u = sub.add_parser(
        "umount",
        help="unmount, after burning what is staged",
        description="Unmount; returns when the burn that unmounting starts "
        "has finished.  Exit status 1 if that burn failed.",
    )
    u.add_argument("mountpoint", metavar="MOUNTPOINT")
    u.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    u.set_defaults(func=cmd_umount)

    b = sub.add_parser(
        "burn",
        help="burn the staged files as a new session",
        description="Start a burn of everything staged (like touching MOUNTPOINT/.burn).",
    )
    b.add_argument("mountpoint", metavar="MOUNTPOINT")
    b.add_argument("--label", metavar="NAME", help="disc name (default: today's date)")
    b.add_argument(
        "--wait", action="store_true", help="show progress; exit 0 only if the burn succeeded"
    )
    b.add_argument(
        "--close",
        action="store_true",
        help="close the disc after this session: nothing can be added afterwards",
    )
    b.add_argument(
        "--rewrite",
        action="store_true",
        help="rewritable discs: erase and write everything (disc and staged) as one session, "
        "when a new session no longer fits",
    )
    b.add_argument("--speed", metavar="N", help="write speed as an x-factor, or max")
    b.add_argument("--simulate", action="store_true", help="a dummy burn: do everything but write")
    b.add_argument(
        "--verify",
        choices=config.VERIFY_MODES,
        help="after recording compare none, quick (a sample and the tree) or full "
        "(every byte; the default setting)",
    )
    b.add_argument(
        "--eject",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="eject the disc after recording (default: the eject setting)",
    )
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar with --wait")
    b.set_defaults(func=cmd_burn)

    s = sub.add_parser(
        "status",
        help="show the disc, the staging area and the burn",
        description="Show disc type, state, capacity, used and free space, "
        "staged files, the running burn and the last result.",
    )
    s.add_argument("mountpoint", metavar="MOUNTPOINT")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_status)

    e = sub.add_parser(
        "erase",
        help="blank a rewritable disc",
        description="Blank a rewritable disc (CD-RW, DVD-RW, DVD+RW, BD-RE): quick erases the "
        "table of contents so the data is unreachable, --full every sector.  TARGET is a "
        "cdfs mount point (staged files are kept) or a disc image or device.",
    )
    e.add_argument("target", metavar="TARGET")
    e.add_argument("--full", action="store_true", help="erase every sector (slow)")
    e.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_erase)

    bi = sub.add_parser(
        "burn-image",
        help="burn an existing ISO image onto a blank disc",
        description="Record an ISO 9660 image as it is onto a blank disc (the XP ISO "
        "Burner), with the same checks, progress and verification as a burn.  The drive "
        "must not be mounted by cdfs meanwhile.",
    )
    bi.add_argument("image", metavar="FILE.iso")
    bi.add_argument("--drive", metavar="DISC_OR_DEVICE", help="as for cdfs mount")
    bi.add_argument("--speed", metavar="N", help="write speed as an x-factor, or max")
    bi.add_argument("--close", action="store_true", help="close the disc afterwards")
    bi.add_argument("--simulate", action="store_true", help="do everything but write")
    bi.add_argument("--verify", choices=config.VERIFY_MODES, help="none, quick or full")
    bi.add_argument(
        "--eject",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="eject the disc after recording",
    )
    bi.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    bi.set_defaults(func=cmd_burn_image)

    c = sub.add_parser(
        "config",
        help="show or change settings",
        description="Settings are read from /etc/cdfs/config.toml, then "
        "~/.config/cdfs/config.toml (which 'set' writes).  Keys: "
        + ", ".join(
            f"{k} ({config.show(getattr(config.Settings(), k)) or 'empty'})" for k in config.KEYS
        )
        + ".",
    )
    csub = c.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    cg = csub.add_parser("get", help="show one setting, or all with where each comes from")
    cg.add_argument("key", nargs="?", metavar="KEY")
    cg.set_defaults(func=cmd_config_get)
    cs = csub.add_parser("set", help="change a setting in the user's config file")
    cs.add_argument("key", metavar="KEY")
    cs.add_argument("value", metavar="VALUE")
    cs.set_defaults(func=cmd_config_set)

    md = sub.add_parser("media", help="emulated discs: create, inspect")
    msub = md.add_subparsers(dest="media_command", required=True, metavar="ACTION")
    mc = msub.add_parser(
        "create",
        help="make a blank emulated disc",
        description="Make a blank emulated disc: a sparse image of "
        "2048-byte sectors with its table of contents beside it.",
    )
    mc.add_argument("path", metavar="PATH")
    mc.add_argument(
        "--type",
        required=True,
        choices=sorted(MEDIA_TYPES),
        metavar="TYPE",
        help="one of: " + ", ".join(MEDIA_TYPES),
    )
    mc.set_defaults(func=cmd_media_create)
    mi = msub.add_parser("info", help="show a disc's type, state, sessions and space")
    mi.add_argument("path", metavar="PATH", help="emulated disc image or device")
    mi.add_argument("--json", action="store_true", help="machine-readable output")
    mi.set_defaults(func=cmd_media_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    try:
        code: int = args.func(args)
        return code
    except CdfsError as exc:
        print(f"cdfs: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
