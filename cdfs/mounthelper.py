"""cdfs as a mount helper: ``mount -t fuse.cdfs`` and ``/etc/fstab``.

Owns the translation of the mount helper convention into ``cdfs mount``
arguments.  mount(8) hands a ``fuse.TYPE`` mount to ``mount.fuse3``, which
runs ``TYPE SOURCE MOUNTPOINT -o OPTIONS`` through ``/bin/sh`` (so ``cdfs``
must be on the PATH), having dropped ``user``, ``users``, ``nouser``,
``auto``, ``noauto``, ``nofail`` and ``_netdev`` and added ``dev`` and
``suid`` unless ``nodev``/``nosuid`` were given.  SOURCE is the drive (a
device or an emulated disc image), or ``cdfs`` for the configured one.
cdfs's settings come as ``-o`` words; the generic mount options are taken
or refused here, never silently dropped when they would change something.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cdfs.errors import UsageError

COMMANDS = ("mount", "umount", "burn", "status", "erase", "burn-image", "config", "media")
DEFAULT_SOURCE = "cdfs"
"""The fstab source that means the configured drive (or the default one)."""

GENERIC = frozenset(
    {"rw", "dev", "suid", "nodev", "nosuid", "exec", "noexec", "atime", "noatime"}
    | {"relatime", "nodiratime", "async", "default_permissions", "defaults"}
    | {"user", "users", "nouser", "owner", "group", "auto", "noauto", "nofail", "_netdev"}
)
"""Taken and left to FUSE and mount(8): cdfs mounts are read-write, always
nodev, nosuid and checked by the kernel (default_permissions); the others
say who may mount and when, which mount(8) has decided already."""

FLAGS = {
    "allow_other": ["-o", "allow_other"],
    "nonempty": ["-o", "nonempty"],
    "no_burn_on_unmount": ["--no-burn-on-unmount"],
}
VALUES = {"stash_dir": "--stash-dir", "close_policy": "--close-policy", "names": "--names"}
IGNORED_PREFIXES = ("x-", "comment=", "user=", "helper=")
"""Words for other programs (x-gvfs-show, x-systemd.*) or for mount(8)."""


def is_helper_call(argv: Sequence[str]) -> bool:
    """Whether cdfs was run as ``cdfs SOURCE MOUNTPOINT [-o OPTIONS]``."""
    return (
        len(argv) >= 2
        and argv[0] not in COMMANDS
        and not argv[0].startswith("-")
        and (argv[0] == DEFAULT_SOURCE or "/" in argv[0])
    )


def mount_args(argv: Sequence[str]) -> list[str]:
    """The ``cdfs mount`` arguments of a mount helper call."""
    source, mountpoint, *rest = argv
    args = ["mount"] if source == DEFAULT_SOURCE else ["mount", "--drive", source]
    words: list[str] = []
    i = 0
    while i < len(rest):
        if rest[i] == "-o" and i + 1 < len(rest):
            words += [w.strip() for w in rest[i + 1].split(",") if w.strip()]
            i += 2
        elif rest[i] == "-v":
            i += 1
        else:
            raise UsageError(f"as a mount helper, cdfs takes SOURCE MOUNTPOINT -o OPTIONS, "
                             f"not {rest[i]!r}")  # fmt: skip
    for word in words:
        key, eq, value = word.partition("=")
        if word in GENERIC or word.startswith(IGNORED_PREFIXES):
            continue
        if word in FLAGS:
            args += FLAGS[word]
        elif key == "burn_on_unmount" and eq and value.lower() in ("no", "false", "off", "0"):
            args.append("--no-burn-on-unmount")
        elif key == "burn_on_unmount" and eq and value.lower() in ("yes", "true", "on", "1"):
            continue
        elif key in VALUES and eq and value:
            args += [VALUES[key], value]
        elif word == "ro":
            raise UsageError(
                "cdfs mounts are writable (files are staged on them): remove the ro option"
            )
        else:
            raise UsageError(
                f"unknown mount option {word!r}: cdfs takes allow_other, nonempty, "
                "stash_dir=DIR, close_policy=never|auto|always, names=relaxed|strict, "
                "burn_on_unmount=yes|no, and the generic options of mount(8)"
            )
    return [*args, mountpoint]


def argv(given: Sequence[str] | None = None) -> list[str]:
    """The command line to parse: ``given`` (by default the process's), or,
    for a mount helper call, the ``cdfs mount`` it stands for.  A bad
    option of such a call is said on stderr and ends the process (exit 2)."""
    words = list(sys.argv[1:] if given is None else given)
    if not is_helper_call(words):
        return words
    try:
        return mount_args(words)
    except UsageError as exc:
        print(f"cdfs: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
