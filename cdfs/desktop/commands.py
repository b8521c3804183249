"""``cdfs desktop``: install the file managers' actions, and run them.

The actions (:mod:`cdfs.desktop.actions`) run ``cdfs desktop send|write|erase|
burn-image`` with the selected paths.  They find the cdfs mount to act on:
the one a selected path (or the working directory, where the file manager
runs a script) lies in, else the only cdfs mount of the user.  ``write``,
``burn-image`` hand over to ``cdfs burn --wait`` (the wizard where there is
a display) and ``cdfs burn-image``, so they end with the exit codes and the
log of those commands; ``erase`` opens the "Erase disc" window, which asks
before anything is erased (and refuses where it cannot ask).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

from cdfs import names, paths
from cdfs.errors import NotFoundError, UsageError
from cdfs.mounts import MOUNTINFO, parse_mountinfo

FSTYPE = "fuse." + names.FSNAME


def add_desktop(sub: Any) -> None:
    """The ``desktop`` command and its subcommands, for :mod:`cdfs.parser`."""
    from cdfs.desktop.actions import FILE_MANAGERS

    d = sub.add_parser(
        "desktop",
        help="context-menu actions for file managers",
        description="Install or remove the per-user context-menu actions 'Write to disc' "
        "(stage the selection on the cdfs mount), 'Write these files to disc' (burn), "
        "'Erase disc' and 'Burn image to disc' (.iso files) for Nautilus, Caja, Nemo, "
        "Thunar and Dolphin; and the commands those actions run.",
    )
    dsub = d.add_subparsers(dest="desktop_command", required=True, metavar="ACTION")
    inst = dsub.add_parser("install", help="install the actions for this user")
    inst.add_argument(
        "--for",
        dest="managers",
        action="append",
        choices=FILE_MANAGERS,
        help="only for this file manager (repeatable; default: all of them)",
    )
    inst.set_defaults(handler="desktop install")
    dsub.add_parser(
        "uninstall", help="remove exactly what install added (Thunar: only cdfs's actions)"
    ).set_defaults(handler="desktop uninstall")
    for key, text in (
        ("send", "copy FILES (files and folders) onto the cdfs mount: staged, not yet burned"),
        ("write", "burn what the cdfs mount that FILES lie in (or the only one) has staged"),
        (
            "erase",
            "erase the rewritable disc of the cdfs mount FILES lie in, after asking in a window "
            "(without a display nothing is erased: use cdfs erase)",
        ),
    ):
        p = dsub.add_parser(key, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("files", metavar="FILES", nargs="*")
        p.add_argument("--to", metavar="MOUNTPOINT", help="the cdfs mount to use")
        p.set_defaults(handler=f"desktop {key}")
    bi = dsub.add_parser("burn-image", help="record FILE.iso (cdfs burn-image)")
    bi.add_argument("files", metavar="FILE.iso", nargs=1)
    bi.set_defaults(handler="desktop burn-image")
    w = sub.add_parser(
        "wizard",
        help="the Write to disc wizard (a window)",
        description="A window that asks for the disc name (default: today's date), shows "
        "what will be written and the space left, the options (close the disc, verify, "
        "eject, speed), then the progress (phase, percent, speed, time left) and the result "
        "in plain words.  Cancel is offered only before the burn starts.  Needs a display "
        "and Debian's python3-gi and gir1.2-gtk-4.0 (it runs under /usr/bin/python3).  "
        "Exit 0 when written or cancelled, 1 when the burn failed.",
    )
    w.add_argument(
        "mountpoint", metavar="MOUNTPOINT", nargs="?", help="default: your only cdfs mount"
    )
    w.set_defaults(handler="wizard")


def cdfs_mounts() -> list[Path]:
    """The cdfs mounts of this user, in mount order: mounted by this uid,
    with their staging area in this user's data directory (so also the
    mounts of one ``$XDG_DATA_HOME``, when one uid has several)."""
    uid = os.getuid()
    found = []
    for e in parse_mountinfo(MOUNTINFO.read_text()):
        if e.fstype != FSTYPE or e.owner not in (uid, None):
            continue
        try:
            status = json.loads(os.getxattr(e.mountpoint, names.STATUS_XATTR.decode()))
        except (OSError, ValueError):
            continue  # a dead mount, or not one cdfs answers for
        if Path(str(status.get("staging_dir", ""))).is_relative_to(paths.data_dir()):
            found.append(Path(e.mountpoint))
    return found


def local_path(arg: str) -> Path:
    """A selected file as a path: file managers pass paths, or ``file://``
    URIs from views that are not one folder (Nautilus's search, recent)."""
    if arg.startswith("file://"):
        return Path(unquote(urlsplit(arg).path))
    return Path(arg)


def find_mount(files: list[str], to: str | None) -> Path:
    if to:
        return Path(to).resolve()
    found = cdfs_mounts()
    for hint in [*files, "."]:
        here = local_path(hint).absolute()
        for mp in found:
            if here == mp or mp in here.parents:
                return mp
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError("no cdfs mount: mount the recorder first (cdfs mount)")
    raise UsageError(
        "more than one cdfs mount: choose one with --to (" + ", ".join(map(str, found)) + ")"
    )


def cmd_install(args: argparse.Namespace) -> int:
    from cdfs.desktop.actions import FILE_MANAGERS, install

    for path in install(tuple(args.managers or FILE_MANAGERS)):
        print(f"installed {path}")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from cdfs.desktop.actions import uninstall

    for path in uninstall():
        print(f"removed {path}" if not path.exists() else f"updated {path}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Stage the selection: a copy of each file or folder (symbolic links
    as links) at the root of the mount; a name already there is refused,
    before anything is copied."""
    mp = find_mount(args.files, args.to)
    if not args.files:
        raise UsageError("nothing selected to write to the disc")
    sources = [local_path(f).absolute() for f in args.files]
    sources = [s for s in sources if not (s == mp or mp in s.parents)]  # already there
    taken = [s.name for s in sources if os.path.lexists(mp / s.name)]
    if taken:
        raise UsageError(f"already on the disc or waiting to be written: {', '.join(taken)}")
    for src in sources:
        dest = mp / src.name
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dest, symlinks=True)
        else:
            shutil.copy2(src, dest, follow_symlinks=False)
    return 0


def run_cdfs(*words: str) -> NoReturn:
    """Hand over to another cdfs command (this process becomes it)."""
    from cdfs.desktop.actions import cdfs_program

    program = cdfs_program()
    sys.stdout.flush()
    os.execv(program[0], [*program, *words])


def cmd_write(args: argparse.Namespace) -> int:
    """The wizard where there is a display to show it on, else the burn."""
    mp = find_mount(args.files, args.to)
    if has_display() and wizard_missing() is None:
        run_wizard(mp)
    return run_cdfs("burn", "--wait", "--quiet", str(mp))


SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter of Debian's python3-gi, which the wizard runs under."""
GTK_CHECK = "import gi; gi.require_version('Gtk', '4.0'); from gi.repository import Gtk"


def wizard_missing() -> str | None:
    """Why the wizard cannot run here, or None."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} is missing"
    res = subprocess.run(
        [SYSTEM_PYTHON, "-c", GTK_CHECK], capture_output=True, timeout=30, check=False
    )
    return "GTK 4 for Python is missing" if res.returncode else None


def run_wizard(mp: Path, *extra: str) -> NoReturn:
    """This process becomes the wizard: Debian's Python, with this checkout
    first on its path (the wizard imports only the standard library and gi)."""
    from cdfs import config

    settings = config.load()[0]  # the options' defaults: the user's settings
    defaults = [
        f"verify={settings.verify}",
        f"eject={'yes' if settings.eject else 'no'}",
        f"speed={config.show(settings.speed)}",
    ]
    checkout = str(Path(__file__).resolve().parent.parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [checkout, env.get("PYTHONPATH")]))
    sys.stdout.flush()
    argv = [SYSTEM_PYTHON, "-m", "cdfs.desktop.wizard", str(mp), *defaults, *extra]
    os.execve(SYSTEM_PYTHON, argv, env)


def cmd_wizard(args: argparse.Namespace) -> int:
    mp = find_mount([args.mountpoint] if args.mountpoint else [], args.mountpoint)
    if why := wizard_missing():
        raise NotFoundError(
            f"the wizard cannot start: {why} (apt-get install python3-gi gir1.2-gtk-4.0)"
        )
    run_wizard(mp)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_erase(args: argparse.Namespace) -> int:
    """The "Erase disc" window, which says what will be lost and asks
    first; with no window to ask in, nothing is erased."""
    mp = find_mount(args.files, args.to)
    why = "no display" if not has_display() else wizard_missing()
    if why:
        raise UsageError(
            f"Erase disc asks in a window before erasing, and cannot here ({why}): nothing was "
            f"erased. To erase from a terminal: cdfs erase {mp}"
        )
    run_wizard(mp, "mode=erase")


def cmd_burn_image(args: argparse.Namespace) -> int:
    image = Path(args.files[0]).absolute()
    if not image.is_file():
        raise NotFoundError(f"{image}: no such disc image")
    return run_cdfs("burn-image", "--quiet", str(image))


COMMANDS = {
    "desktop install": cmd_install,
    "desktop uninstall": cmd_uninstall,
    "desktop send": cmd_send,
    "desktop write": cmd_write,
    "desktop erase": cmd_erase,
    "desktop burn-image": cmd_burn_image,
    "wizard": cmd_wizard,
}
"""The handlers of the ``desktop`` subcommands, for :data:`cdfs.cli.COMMANDS`."""
