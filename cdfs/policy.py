"""Who may burn: the system's burn policy (XP's ``AllocateDASD``).

Owns the decision whether a user may record or erase (``burn_policy`` and
``burn_group``, system settings of :mod:`cdfs.config`) and the one message
that names the policy when it refuses.  Users who may not burn can still
mount and read.  On a shared (``allow_other``) mount a request from another
user is taken only from root and members of ``burn_group`` the policy lets
burn; the mount's owner must be allowed too, as its daemon does the writing.

The policy is enforced by cdfs itself, in the process of the user asking: it
binds users who burn through cdfs; the drive's device node (its group and
mode, udev's ``uaccess``) is what binds every other program.
"""

from __future__ import annotations

import grp
import os
import pwd
from typing import Any

from cdfs import config, names
from cdfs.config import Settings
from cdfs.errors import PolicyError


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def process_groups(pid: int) -> set[int]:
    """The groups (effective and supplementary) process ``pid`` has now, as
    the kernel checks them; empty when it is gone."""
    groups: set[int] = set()
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "Groups":
                    groups.update(int(g) for g in value.split())
                elif key == "Gid":
                    groups.update(int(g) for g in value.split()[:2])
    except OSError:
        return set()
    return groups


def own_groups() -> set[int]:
    return {os.getegid(), *os.getgroups()}


def allowed(settings: Settings, uid: int, groups: set[int]) -> bool:
    """Whether the policy lets user ``uid`` (in ``groups``) burn and erase."""
    if uid == 0 or settings.burn_policy == "everyone":
        return True
    if settings.burn_policy == "group":
        gid = group_id(settings.burn_group)
        return gid is not None and gid in groups
    return False


def describe(settings: Settings) -> str:
    """The policy in words, with the setting that says it."""
    who = {
        "everyone": "every user who can open the drive",
        "group": f"root and members of group {settings.burn_group}",
        "root": "root only",
    }[settings.burn_policy]
    return f"burn_policy = {settings.burn_policy} in {config.SYSTEM_CONFIG}: {who} may burn"


def refusal(settings: Settings, uid: int) -> PolicyError:
    return PolicyError(
        f"{user_name(uid)} may not burn or erase discs ({describe(settings)}); "
        "mounting and reading are allowed"
    )


def check(settings: Settings, uid: int | None = None, groups: set[int] | None = None) -> None:
    """Refuse (:class:`PolicyError`, EACCES, exit status 9) a burn or erase
    by user ``uid`` (by default this process's user)."""
    if uid is None:
        uid, groups = os.geteuid(), own_groups()
    if not allowed(settings, uid, groups or set()):
        raise refusal(settings, uid)


def check_request(settings: Settings, owner: int, uid: int, pid: int) -> None:
    """Refuse a burn or erase that process ``pid`` of user ``uid`` asks of
    the mount of user ``owner``: the owner must be allowed, and a request
    from another user is taken from root and allowed members of burn_group."""
    check(settings)
    if uid in (owner, 0):
        return
    groups = process_groups(pid)
    gid = group_id(settings.burn_group)
    if gid is None or gid not in groups or not allowed(settings, uid, groups):
        raise PolicyError(
            f"{user_name(uid)} may not burn or erase on the mount of {user_name(owner)}: on a "
            f"shared mount only its owner, root and members of group {settings.burn_group} "
            f"may ({describe(settings)})"
        )


def burn_file_group(settings: Settings) -> int | None:
    """The group ``.burn`` belongs to and may write (the kernel checks it on
    shared mounts): burn_group when it exists and the policy lets it burn."""
    if settings.burn_policy == "root":
        return None
    return group_id(settings.burn_group)


def denied(status: dict[str, Any], what: str, before: dict[str, Any]) -> str:
    """Why a request to a mount was refused with EACCES: the daemon's words
    when it refused it (the burn policy; ``status`` is the daemon's after
    the refusal, ``before`` before the request), else the kernel's: the
    mount is another user's, and its ``.burn`` not writable by this one."""
    if status.get("refusals", 0) > before.get("refusals", 0):
        last = status.get("last_burn") or {}
        return str(last.get("message") or f"the {what} was refused")
    mp = status.get("mountpoint", "")
    try:
        gid = os.stat(os.path.join(mp, names.BURN_FILE.decode())).st_gid
        group = f"group {grp.getgrgid(gid).gr_name}"
    except (OSError, KeyError):
        group = "the burn_group setting's group"
    return (
        f"the {what} was refused: the mount at {mp} is another user's; on a shared mount "
        f"only its owner, root and members of {group} may burn or erase"
    )
