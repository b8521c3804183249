"""What a mount is asked for: ``cdfs mount``'s options, checked.

:class:`MountOptions` is what the daemon (:mod:`cdfs.daemon`) is started
with; :func:`parse_mount_options` turns the ``-o`` words into its fields and
refuses what cdfs does not know, or what fusermount3 would refuse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cdfs.config import Settings
from cdfs.errors import UsageError

FUSE_CONF = Path("/etc/fuse.conf")
MOUNT_OPTIONS = ("allow_other", "nonempty")
"""What ``cdfs mount -o`` accepts (``default_permissions`` is always on;
``nonempty`` is cdfs's own: FUSE 3 mounts over anything, cdfs refuses a
non-empty mount point without it)."""


@dataclass(frozen=True)
class MountOptions:
    mountpoint: Path
    stash_dir: Path
    settings: Settings = Settings()
    debug: bool = False
    allow_other: bool = False


def parse_mount_options(values: list[str], fuse_conf: Path = FUSE_CONF) -> dict[str, bool]:
    """The ``-o`` words as :class:`MountOptions` fields; anything else is
    refused, never ignored, and so is what fusermount3 would refuse."""
    words = [w.strip() for v in values for w in v.split(",") if w.strip()]
    for word in words:
        if word not in MOUNT_OPTIONS:
            raise UsageError(
                f"unknown mount option {word!r}: -o accepts {', '.join(MOUNT_OPTIONS)}"
            )
    if "allow_other" in words and os.geteuid() != 0 and not _user_allow_other(fuse_conf):
        raise UsageError(
            f"-o allow_other needs the line user_allow_other in {fuse_conf} (or mounting as root)"
        )
    return {word: True for word in words}


def _user_allow_other(fuse_conf: Path) -> bool:
    """Whether fuse.conf lets users other than root mount with allow_other."""
    try:
        lines = fuse_conf.read_text(errors="replace").splitlines()
    except OSError:
        return False
    return any(line.split("#", 1)[0].strip() == "user_allow_other" for line in lines)
