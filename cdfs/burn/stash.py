"""The stash: where the image a burn masters waits until it is recorded and
verified (the XP "CD Burning stash file").

Owns where stash files go and how they are made, for every burn: the
configured stash directory when only the user can change it, otherwise a
private ``cdfs-UID`` subdirectory that cdfs makes there (a shared directory
such as /tmp); each stash is a new 0600 file with an unpredictable name
(:mod:`cdfs.private`), so that no link planted by someone else is ever
written through.  :func:`check` makes the same checks when mounting, so that
a stash directory that is missing (only cdfs's default one is created),
read-only or unsafe is refused then, not at the first burn.  Also owns the
cleanup of stashes a crash left behind, and
:func:`keep`, which takes the stash of a rewrite (the only copy of a disc
erased for it) out of that cleanup.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import stat
from pathlib import Path

from cdfs import paths, private
from cdfs.errors import NoSpaceError, NotFoundError, UsageError

log = logging.getLogger(__name__)

STASH_PREFIX = "cdfs-stash-"
"""``cdfs-stash-RECORDER.RANDOM.iso``: removed when its burn ends, or on the
next mount after a crash."""
KEPT_PREFIX = "cdfs-rewrite-"
"""``cdfs-rewrite-RECORDER.RANDOM.iso``: a rewrite's stash, kept until the
user has burned it (a failed or interrupted rewrite says where it is)."""
SUFFIX = ".iso"
CHOOSE_ANOTHER = "choose another stash directory ('cdfs config set stash_dir DIR' or --stash-dir)"


def create(configured: Path, ident: str, need_bytes: int) -> Path:
    """A new, empty stash file for a burn on recorder ``ident``, once the
    stash directory is known to be safe, writable and to have ``need_bytes``
    free."""
    where = area(configured)
    free = shutil.disk_usage(where).free
    if free < need_bytes:
        raise NoSpaceError(
            f"not enough free disk space for the stash file in {where}: "
            f"{need_bytes // 1_000_000} MB needed, {free // 1_000_000} MB available"
        )
    return _new(where, ident)


def check(configured: Path, ident: str) -> int:
    """What :func:`create` checks before a burn, checked at mount: the stash
    directory is safe and a stash file can be made in it (one is made and
    removed again).  Returns the free bytes there; raises as :func:`create`."""
    where = area(configured)
    os.unlink(_new(where, ident))
    return shutil.disk_usage(where).free


def _new(where: Path, ident: str) -> Path:
    try:
        return private.create_unique(where, f"{STASH_PREFIX}{ident}.", SUFFIX)
    except OSError as exc:
        raise UsageError(
            f"cannot write the stash file in {where}: {exc.strerror}; make it writable, or "
            f"{CHOOSE_ANOTHER}"
        ) from None


def keep(stash: Path) -> Path:
    """Rename ``stash`` so that no cleanup removes it; returns its new path."""
    kept = stash.with_name(KEPT_PREFIX + stash.name.removeprefix(STASH_PREFIX))
    os.rename(stash, kept)
    return kept


def area(configured: Path) -> Path:
    """The directory stash files go in: ``configured`` when the user owns it
    and no one else may write there; a private ``cdfs-UID`` subdirectory of
    it when it is a shared directory (sticky, owned by root or the user,
    like /tmp).  Anything else is refused with the reason: someone else
    could swap what cdfs writes.  A missing directory is created (0700) only
    when it is cdfs's own default one: any other may be a disk that is not
    mounted, or a typing error, and is refused."""
    if configured != paths.default_stash_dir() and not os.path.lexists(configured):
        raise NotFoundError(
            f"the stash directory {configured} does not exist: create it (mkdir -p "
            f"{configured}), or {CHOOSE_ANOTHER}"
        )
    try:
        private.make_dirs(configured)
        real = Path(os.path.realpath(configured))
        st = os.stat(real)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    except OSError as exc:
        raise UsageError(
            f"cannot write the stash file in {configured}: {exc.strerror}; {CHOOSE_ANOTHER}"
        ) from None
    for parent in (*reversed(real.parents), real):
        if why := _not_safe(parent):
            raise UsageError(
                f"cdfs will not write the stash file in {configured}: {parent} {why}; "
                + CHOOSE_ANOTHER
            )
    if st.st_uid == os.geteuid() and not st.st_mode & 0o022:
        return real
    return _private_subdir(real, configured)


def _not_safe(path: Path) -> str:
    """Why other users could change what is in the directory ``path``
    (empty if they cannot)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot be examined ({exc.strerror})"
    if st.st_uid not in (0, os.geteuid()):
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        return "may be changed by other users (group or world writable, without the sticky bit)"
    return ""


def _private_subdir(shared: Path, configured: Path) -> Path:
    """``shared/cdfs-UID``, made if missing; refused unless it is a real
    directory of the user's (made 0700 if it was not)."""
    sub = shared / f"cdfs-{os.geteuid()}"
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(sub, private.DIR_MODE)
        fd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise UsageError(
                f"cannot write the stash file in {sub}: {exc.strerror}; {CHOOSE_ANOTHER}"
            ) from None
        fd = -1  # a link or a file
    try:
        st = os.fstat(fd) if fd >= 0 else None
        if st is None or st.st_uid != os.geteuid():
            raise UsageError(
                f"cdfs will not write the stash file in {configured}: it is shared with other "
                f"users, and {sub}, where cdfs keeps its stash files there, is not a directory "
                f"of yours (someone else made it); {CHOOSE_ANOTHER}"
            )
        if stat.S_IMODE(st.st_mode) != private.DIR_MODE:
            os.fchmod(fd, private.DIR_MODE)
    finally:
        if fd >= 0:
            os.close(fd)
    return sub


def clean(configured: Path, ident: str) -> list[Path]:
    """Remove the stash files of recorder ``ident`` that a crash left in the
    stash directory: regular files of the user's, named as :func:`create`
    names them (or as cdfs 0.1 did).  Kept rewrite stashes stay.  Returns
    what was removed; creates nothing, and a failure is only logged."""
    pattern = re.compile(
        rf"{re.escape(STASH_PREFIX + ident)}(\.[0-9a-f]{{16}})?{re.escape(SUFFIX)}"
    )
    real = Path(os.path.realpath(configured))
    me = os.geteuid()
    removed = []
    for where, owners in ((real, (0, me)), (real / f"cdfs-{me}", (me,))):
        try:
            fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_uid not in owners:
                continue
            for name in filter(pattern.fullmatch, os.listdir(fd)):
                st = os.lstat(name, dir_fd=fd)
                if stat.S_ISREG(st.st_mode) and st.st_uid == me:
                    os.unlink(name, dir_fd=fd)
                    log.warning("removed %s, the stash of a burn that was cut off", where / name)
                    removed.append(where / name)
        except OSError as exc:
            log.warning("cannot remove the stashes left in %s: %s", where, exc)
        finally:
            os.close(fd)
    return removed
