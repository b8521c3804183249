"""The grammar of the ``cdfs`` command line: commands, options, help texts.

Owns the argparse definitions, from which both ``--help`` and the man page
are generated, and the translation of the recording flags back into the
``key=value`` words of a burn request (the names :mod:`cdfs.burn.options`
parses).  Runs nothing: every command's parser sets ``handler`` to the
command's name, and :func:`cdfs.cli.main` looks the function up by it, so
this module needs none of the commands.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TypeAlias

from cdfs import __version__, config
from cdfs.burn.options import ClosePolicy
from cdfs.desktop.commands import add_desktop
from cdfs.recorders.media import MEDIA_TYPES

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


QUIET_HELP = (
    "show no progress (else on stderr: a bar per phase on a terminal, plain lines "
    "to a pipe or file)"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cdfs",
        description="Burn discs like Windows XP did: mount the recorder, copy files in, "
        "touch .burn.",
        epilog="Without --drive, cdfs uses $CDFS_DRIVE, else the drive setting, else the "
        "one recorder udev finds (with several, it asks you to choose; 'cdfs drives' lists "
        "them), else an emulated CD-R under ~/.local/share/cdfs (created blank on first use).  "
        "As a mount helper (mount -t fuse.cdfs, fstab), cdfs SOURCE MOUNTPOINT -o OPTIONS is "
        "cdfs mount with the options allow_other, nonempty, stash_dir=DIR, close_policy=, "
        "names=, burn_on_unmount=.",
    )
    p.add_argument("--version", action="version", version=f"cdfs {__version__}")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log more, and on stderr (commands other than mount log to "
        "~/.local/state/cdfs/cdfs.log)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_mount,
        add_umount,
        add_burn,
        add_status,
        add_erase,
        add_burn_image,
        add_drives,
    ):
        add(sub)
    add_config(sub)
    add_media(sub)
    add_desktop(sub)
    add_enable(sub)
    return p


def command(sub: Subparsers, name: str, handler: str = "", **kw: Any) -> argparse.ArgumentParser:
    """A subcommand's parser, naming its handler (by default its own name)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, **kw)
    parser.set_defaults(handler=handler or name)
    return parser


def add_recording_flags(parser: argparse.ArgumentParser) -> None:
    """How to record: the flags ``burn`` and ``burn-image`` share."""
    parser.add_argument(
        "--close",
        action="store_true",
        help="close the disc after this session: nothing can be added afterwards "
        "(overwritable discs, DVD+RW and BD-RE, cannot be closed; DVD-R DL and "
        "quick-blanked DVD-RW are closed by their one session anyway)",
    )
    parser.add_argument("--speed", metavar="N", help="write speed as an x-factor, or max")
    parser.add_argument(
        "--simulate", action="store_true", help="a dummy burn: do everything but write"
    )
    parser.add_argument(
        "--verify",
        choices=config.VERIFY_MODES,
        help="after recording compare none, quick (a sample and the tree) or full "
        "(every byte; the default setting)",
    )
    parser.add_argument(
        "--eject",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="eject the disc after recording (default: the eject setting)",
    )


def recording_values(args: argparse.Namespace) -> dict[str, str]:
    """The recording flags that were given, as ``key=value`` pairs of a burn
    request; the flags left out fall back to the settings."""
    values: dict[str, str] = {}
    if args.close:
        values["close"] = "yes"
    if args.speed is not None:
        values["speed"] = args.speed
    if args.simulate:
        values["simulate"] = "yes"
    if args.verify is not None:
        values["verify"] = args.verify
    if args.eject is not None:
        values["eject"] = "yes" if args.eject else "no"
    return values


def add_mount(sub: Subparsers) -> None:
    m = command(
        sub,
        "mount",
        help="mount a recorder as a file system",
        description="Mount a recorder: the disc's files read-only, with a "
        "writable staging area on top.  Runs in the background "
        "unless -f is given.  A dead cdfs mount at MOUNTPOINT (its daemon was killed "
        "or crashed) is removed first, and mounting finishes any burn it interrupted.  "
        "Before anything is created or the daemon starts, it checks that MOUNTPOINT is an "
        "empty directory, that the drive answers, that the stash directory exists and is "
        "writable (warning when it has less room than a session could take) and that "
        "/dev/fuse can be opened; each refusal says what to do.",
    )
    m.add_argument(
        "mountpoint",
        metavar="MOUNTPOINT",
        nargs="?",
        help="where to mount; without it, ~/NAME (created when missing), NAME being the "
        "disc's label or the drive's kind (CD-R Drive): file managers list a mount under "
        "the home, /media or /run/media/$USER by the last part of its path",
    )
    m.add_argument(
        "--drive",
        metavar="DISC_OR_DEVICE",
        help="emulated disc image (see 'cdfs media create') or device such as /dev/sr0",
    )
    m.add_argument("-f", "--foreground", action="store_true", help="stay in the foreground")
    m.add_argument(
        "--stash-dir",
        metavar="DIR",
        help="where the stash file (the mastered image) is written (default ~/.cache/cdfs, "
        "created when missing; any other directory must exist and be writable; in a shared "
        "directory such as /tmp, in a private cdfs-UID subdirectory of it)",
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
    m.add_argument(
        "--names",
        choices=config.NAME_POLICIES,
        help="strict: refuse, when copied in, names Windows would not see unchanged "
        "(ENAMETOOLONG, EINVAL); relaxed (the default setting): map them, and list the "
        "mappings in the status",
    )
    m.add_argument(
        "-o",
        dest="options",
        metavar="OPTIONS",
        action="append",
        default=[],
        help="FUSE mount options, comma-separated: allow_other (let other users use the "
        "mount, with the files' modes checked by the kernel; only the owner, root and "
        "members of the burn_group setting's group may burn or erase on it; as a user other "
        "than root it needs the line user_allow_other in /etc/fuse.conf); nonempty (mount over a "
        "directory that is not empty, hiding its files until unmounted; refused without it)",
    )
    m.add_argument("--debug", action="store_true", help="log every FUSE request")


def add_umount(sub: Subparsers) -> None:
    u = command(
        sub,
        "umount",
        help="unmount, after burning what is staged",
        description="Unmount; returns when the daemon has finished the burn that "
        "unmounting starts.  Exit status 1 if that burn failed (5 or 6 when the disc or space "
        "was the reason: not writable, swapped, full, no room for the stash file; with no "
        "disc in the drive nothing is burned, the staged files are kept, and the status is "
        "0); 8 if the mount is busy (a program has a file or its working directory in it: "
        "nothing is unmounted or burned).  "
        "A dead mount (its daemon "
        "was killed or crashed) is removed with exit status 3, as nothing was burned: "
        "mount it again to finish any interrupted burn.",
    )
    u.add_argument("mountpoint", metavar="MOUNTPOINT")
    u.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


def add_burn(sub: Subparsers) -> None:
    b = command(
        sub,
        "burn",
        help="burn the staged files as a new session",
        description="Start a burn of everything staged (like touching MOUNTPOINT/.burn).",
    )
    b.add_argument("mountpoint", metavar="MOUNTPOINT")
    b.add_argument("--label", metavar="NAME", help="disc name (default: today's date)")
    b.add_argument(
        "--rewrite",
        action="store_true",
        help="rewritable discs: erase and write everything (disc and staged) as one session, "
        "when a new session no longer fits",
    )
    add_recording_flags(b)
    b.add_argument(
        "--wait",
        action="store_true",
        help="show progress; exit 0 only if the burn succeeded, 1 if it failed, 5 or 6 when "
        "the disc or space was the reason (not writable: closed, swapped, write-protected; "
        "full, or no room for the stash file).  "
        "With no disc in the drive, first ask for one and wait until it is inserted",
    )
    b.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="with --wait: give up (exit 5, nothing burned, the staged files kept) when no "
        "disc is inserted within SECONDS (default: wait as long as it takes)",
    )
    b.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


SPACE_FIGURES = (
    "Used runs to where the next session starts (all of a closed disc). Free is what "
    "files of the next session can take: the rest of the disc less what any session "
    "costs (the recorder's 300 KiB padding, the run-out, the session's own "
    "descriptors, path tables and the directory records of the files already on the "
    "disc). Still fits is free minus what the staged changes need (their data and "
    "directory records): df shows it as available, and staging takes no more (ENOSPC). "
    "A closed or full disc has 0 free. On a rewritable disc, 'If rewritten' is what "
    "would still fit after cdfs burn --rewrite. JSON keys: capacity_bytes, used_bytes, "
    "free_bytes, staged_need_bytes, available_bytes (still fits), "
    "rewrite_available_bytes."
)


def add_status(sub: Subparsers) -> None:
    s = command(
        sub,
        "status",
        help="show the disc, the staging area and the burn",
        description="Show disc type, state, capacity, used and free space, "
        "staged files, the running burn and the last result. " + SPACE_FIGURES,
    )
    s.add_argument("mountpoint", metavar="MOUNTPOINT")
    s.add_argument("--json", action="store_true", help="machine-readable output")


def add_erase(sub: Subparsers) -> None:
    e = command(
        sub,
        "erase",
        help="blank a rewritable disc",
        description="Blank a rewritable disc (CD-RW, DVD-RW, DVD+RW, BD-RE): quick erases the "
        "table of contents so the data is unreachable, --full every sector (on DVD+RW and "
        "BD-RE by overwriting it with zeros).  A DVD-RW is always erased fully: a quick "
        "erase would leave it able to take one session only.  TARGET is a "
        "cdfs mount point (staged files are kept) or a disc image or device; one that a "
        "cdfs mount is using is refused (exit status 8): erase it through the mount "
        "(exit status 1 if the erase failed, 5 when the disc was the reason).",
    )
    e.add_argument("target", metavar="TARGET")
    e.add_argument("--full", action="store_true", help="erase every sector (slow)")
    e.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    e.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


def add_burn_image(sub: Subparsers) -> None:
    bi = command(
        sub,
        "burn-image",
        help="burn an existing ISO image onto a blank disc",
        description="Record an ISO 9660 image as it is onto a blank disc (the XP ISO "
        "Burner), with the same checks, progress and verification as a burn.  The drive "
        "must not be mounted by cdfs meanwhile.",
    )
    bi.add_argument("image", metavar="FILE.iso")
    bi.add_argument("--drive", metavar="DISC_OR_DEVICE", help="as for cdfs mount")
    add_recording_flags(bi)
    bi.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)


def add_drives(sub: Subparsers) -> None:
    d = command(
        sub,
        "drives",
        help="list the recorders and which one recording is enabled on",
        description="List the optical drives udev knows: device, vendor and model, what "
        "each writes, the disc loaded (its type, state and free space, from the drive), the "
        "write speeds it offers with that disc (xorriso -list_speeds), and which one "
        "recording is enabled on: --drive, $CDFS_DRIVE or the drive setting, else the only "
        "recorder; with several, choose one with 'cdfs config set drive DEVICE'; with none, "
        "the emulated disc.  The drive_types setting (DEVICE=cd-r|cd-rw|cd-rom, "
        "comma-separated) forces a misdetected drive to be a writer or read-only.",
    )
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument(
        "--no-probe",
        action="store_true",
        help="only what udev says: do not ask the drives for free space and speeds",
    )


def add_config(sub: Subparsers) -> None:
    keys = ", ".join(
        f"{k} ({config.show(getattr(config.Settings(), k)) or 'empty'})" for k in config.KEYS
    )
    c = sub.add_parser(
        "config",
        help="show or change settings",
        description="Settings are read from /etc/cdfs/config.toml, then "
        f"~/.config/cdfs/config.toml (which 'set' writes).  Keys: {keys}.  "
        "burn_policy (everyone, group or root: who may burn and erase) and burn_group are "
        "system settings: only /etc/cdfs/config.toml sets them; a user's file that does is "
        "refused.  A burn or erase the policy refuses fails with exit status 9.",
    )
    csub = c.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    get = command(
        csub, "get", "config get", help="show one setting, or all with where each comes from"
    )
    get.add_argument("key", nargs="?", metavar="KEY")
    set_ = command(csub, "set", "config set", help="change a setting in the user's config file")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE")


def add_media(sub: Subparsers) -> None:
    md = sub.add_parser("media", help="emulated discs: create, inspect")
    msub = md.add_subparsers(dest="media_command", required=True, metavar="ACTION")
    mc = command(
        msub,
        "create",
        "media create",
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
    mi = command(
        msub,
        "info",
        "media info",
        help="show a disc's type, state, sessions and space",
        description="Show a disc's type, state, sessions (start, length in sectors), "
        "capacity, used and free space (as cdfs status defines them, with nothing staged); "
        "on a rewritable disc also what would be free after a rewrite.",
    )
    mi.add_argument("path", metavar="PATH", help="emulated disc image or device")
    mi.add_argument("--json", action="store_true", help="machine-readable output")


def add_enable(sub: Subparsers) -> None:
    for name, text in (
        (
            "enable",
            "Auto-mount a recorder for this user: install the systemd user unit cdfs@.service "
            "in ~/.config/systemd/user and enable cdfs@DEVICE.service, which mounts the drive "
            "at $XDG_RUNTIME_DIR/cdfs/Recorder-DEVICE at login when it holds a disc, and on "
            "each insertion once the udev rule (udev/61-cdfs.rules, installed by root) is in "
            "place.  Stopping the unit unmounts (burning first if burn_on_unmount says so).",
        ),
        (
            "disable",
            "Stop auto-mounting a recorder for this user: disable cdfs@DEVICE.service and "
            "remove the unit when no other recorder is enabled.",
        ),
    ):
        e = command(sub, name, help=text.split(":")[0].lower(), description=text)
        e.add_argument(
            "device",
            nargs="?",
            default="sr0",
            metavar="DEVICE",
            help="the recorder's kernel name (default sr0) or /dev/srN",
        )
        e.add_argument(
            "--now",
            action="store_true",
            help="also start (enable) or stop (disable) the unit now, if a user systemd runs",
        )
