"""Auto-mount: the systemd user unit ``cdfs@.service`` and ``cdfs enable``
/ ``cdfs disable``.

Owns the unit's text and installing it for one user: the template goes to
``$XDG_CONFIG_HOME/systemd/user/cdfs@.service`` (ExecStart naming this
``cdfs``), and enabling an instance (``cdfs@sr0.service``, the drive's
kernel name) links it into ``default.target.wants`` there, as
``systemctl --user enable`` does, so that it starts at login when the drive
has a disc.  udev starts it on each insertion through the rule in
``udev/61-cdfs.rules`` (``TAG+="systemd"``,
``ENV{SYSTEMD_USER_WANTS}+="cdfs@%k.service"``, and
``ENV{SYSTEMD_READY}="0"`` while the drive is empty, so that the drive's
device unit becomes active again at each insertion).  The unit mounts
the drive at ``$XDG_RUNTIME_DIR/cdfs/Recorder-sr0``; stopping it is
``cdfs umount``, which burns first if ``burn_on_unmount`` says so, within a
stop timeout long enough for a burn.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from cdfs import paths
from cdfs.errors import UsageError

UNIT = "cdfs@.service"
STOP_TIMEOUT_MIN = 150
"""Minutes a stop may take: a full BD-R recorded at 1x, verified, with room."""

UNIT_TEXT = """\
# cdfs: the recorder %I mounted as a folder while it holds a disc.
# Installed by 'cdfs enable'; removed by 'cdfs disable'.
[Unit]
Description=cdfs: the disc recorder %I as a folder
Documentation=man:cdfs(1) man:cdfs.conf(5)
BindsTo=dev-%i.device
After=dev-%i.device
ConditionPathExists=/dev/%I

[Service]
Type=exec
Environment=CDFS_MOUNTPOINT=%t/cdfs/Recorder-%I
ExecStartPre=/bin/mkdir -p %t/cdfs/Recorder-%I
ExecStart={cdfs} mount -f --drive /dev/%I ${{CDFS_MOUNTPOINT}}
ExecStop={cdfs} umount -q ${{CDFS_MOUNTPOINT}}
ExecStopPost=-/bin/rmdir %t/cdfs/Recorder-%I
TimeoutStopSec={timeout}min

[Install]
WantedBy=default.target
"""


def unit_dir() -> Path:
    return paths.config_dir().parent / "systemd" / "user"


def cdfs_executable() -> str:
    """The ``cdfs`` the unit runs: the one on the PATH, else this one."""
    found = shutil.which("cdfs")
    if found:
        return os.path.abspath(found)
    return f"{sys.executable} -m cdfs"


def unit_text(cdfs: str | None = None) -> str:
    return UNIT_TEXT.format(cdfs=cdfs or cdfs_executable(), timeout=STOP_TIMEOUT_MIN)


def instance(device: str) -> str:
    """``cdfs@sr0.service`` for ``sr0`` or ``/dev/sr0``."""
    name = device.removeprefix("/dev/")
    if not re.fullmatch(r"sr[0-9]+", name):
        raise UsageError(f"{device!r} is not a recorder's kernel name such as sr0 or /dev/sr0")
    return f"cdfs@{name}.service"


def enable(device: str) -> list[str]:
    """Install the unit and enable the instance of ``device``; what was done."""
    units = unit_dir()
    wants = units / "default.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    path = units / UNIT
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(unit_text())
    os.replace(tmp, path)
    link = wants / instance(device)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path("..") / UNIT)
    return [f"installed {path}", f"enabled {link.name} ({link} -> ../{UNIT})"]


def disable(device: str) -> list[str]:
    """Disable the instance of ``device``; remove the unit when no other
    instance is enabled."""
    units = unit_dir()
    wants = units / "default.target.wants"
    link = wants / instance(device)
    done = []
    if link.is_symlink() or link.exists():
        link.unlink()
        done.append(f"disabled {link.name}")
    others = list(wants.glob("cdfs@*.service")) if wants.is_dir() else []
    path = units / UNIT
    if not others and path.exists():
        path.unlink()
        done.append(f"removed {path}")
    return done or [f"{instance(device)} was not enabled"]


def user_manager(*args: str) -> bool:
    """Tell the user's systemd, if one runs, what changed; whether it did."""
    if not os.environ.get("XDG_RUNTIME_DIR") or shutil.which("systemctl") is None:
        return False
    res = subprocess.run(
        ["systemctl", "--user", *args], capture_output=True, timeout=300, check=False
    )
    return res.returncode == 0


def cmd_enable(args: argparse.Namespace) -> int:
    for line in enable(args.device):
        print(f"cdfs: {line}")
    if user_manager("daemon-reload") and args.now:
        user_manager("start", instance(args.device))
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    if args.now:
        user_manager("stop", instance(args.device))
    for line in disable(args.device):
        print(f"cdfs: {line}")
    user_manager("daemon-reload")
    return 0
