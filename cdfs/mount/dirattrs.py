"""Staged attribute changes of directories that are on the disc.

Every session writes the records of every directory again, so the mode,
owner, group and times of a burned directory may change with the next
session, on write-once media as on rewritable ones (a burned *file* keeps
its data and attributes on write-once media: :class:`cdfs.mount.view.View`).
This module owns those changes: kept per directory path in one private
file of the staging area (``dir-attrs.json``, 0600, never read or written
through a symbolic link: one JSON line per change, each appended with one
write, the whole file replaced atomically by a compact copy now and then,
so that ``chmod -R`` of a large tree does not rewrite it per folder),
shown over the disc's
attributes, applied to the next session's tree (:func:`apply`), and
forgotten once the disc shows them (:meth:`DirAttrs.settle`): a failed or
killed burn keeps them, a successful one clears them.  It also says which
attribute changes of a burned file on write-once media change nothing
(:func:`unchanged`), so that copying tools may set them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from cdfs import private
from cdfs.iso.discread import DiscEntry

if TYPE_CHECKING:
    from cdfs.iso.mastering import MasterEntry
    from cdfs.mount.nodes import Attr

log = logging.getLogger(__name__)

FIELDS = ("mode", "uid", "gid", "atime_ns", "mtime_ns")
_SECOND = 10**9
"""Discs keep times in whole seconds (Rock Ridge TF, short form)."""

Change = dict[str, int]
"""Field -> value (``mode``: permission bits; ``base_ns``: the staged
container's mtime when the times were set (a container made later starts
at the disc's mtime), see :meth:`DirAttrs.effective`;
``ctime_ns``: when it was changed)."""

Asked = dict[str, int | None]
"""What a setattr asks for, by field of :data:`FIELDS` (None: unchanged)."""


def _same(field: str, a: int, b: int) -> bool:
    """Whether a value and the disc's are the same as the disc records them."""
    if field.endswith("_ns"):
        return a // _SECOND == b // _SECOND
    return a == b


class DirAttrs:
    """Attribute changes of burned directories, by relative path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changes: dict[bytes, Change] = {}
        self._lines = 0
        """Lines in the file: it is compacted when most are out of date."""
        if not self._load():
            self._compact()

    # -- the file -----------------------------------------------------------

    def _load(self) -> bool:
        """Replay the file; False when it must be written anew (it is a
        link, or its last line was cut short)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                log.warning("%s is a symbolic link: not read (cdfs replaces it)", self.path)
            else:
                log.warning("cannot read %s: %s", self.path, exc.strerror)
            return False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                log.warning("%s is not a regular file: not read", self.path)
                return False
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
        finally:
            os.close(fd)
        for line in data.splitlines():
            try:
                record = json.loads(line)
                rel, change = os.fsencode(record["rel"]), record["change"]
                if change is None:
                    self.changes.pop(rel, None)
                else:
                    self.changes[rel] = {str(k): int(v) for k, v in change.items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("ignoring a line of %s: %s", self.path, exc)
            self._lines += 1
        return data.endswith(b"\n") or not data

    def _save(self, rel: bytes) -> None:
        """Record the change of ``rel`` (or that it has none any more)."""
        if not self.changes or self._lines > 2 * len(self.changes) + 64:
            self._compact()
            return
        line = _line(rel, self.changes.get(rel))
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                         | os.O_CLOEXEC, private.FILE_MODE)  # fmt: skip
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            self._compact()  # a link was planted there: replaced, not followed
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != private.FILE_MODE:
                self._compact()
                return
            os.write(fd, line)
            self._lines += 1
        finally:
            os.close(fd)

    def _compact(self) -> None:
        """Write the file anew, atomically, one line per change (or remove
        it when there is none)."""
        self._lines = len(self.changes)
        if not self.changes:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # unlink never follows a link
            return
        data = b"".join(_line(rel, c) for rel, c in sorted(self.changes.items()))
        private.write_file(self.path, data)

    # -- changes -------------------------------------------------------------

    def set(
        self,
        rel: bytes,
        disc: DiscEntry,
        container: os.stat_result | None,
        asked: Asked,
    ) -> None:
        """Stage a change of the burned directory ``rel`` (``disc``: its
        entry; ``container``: the lstat of its staged container, if any).
        A value the disc already has (to the second, for times) is not a
        change."""
        old = self.changes.get(rel, {})
        change = dict(old)
        for field, value in asked.items():
            if value is None:
                continue
            if field == "mode":
                value = stat.S_IMODE(value)
            if _same(field, value, _disc_value(disc, field)):
                change.pop(field, None)
            else:
                change[field] = value
        if "mtime_ns" not in change:
            change.pop("base_ns", None)
        elif asked.get("mtime_ns") is not None:
            # A container made later starts at the disc's mtime.
            change["base_ns"] = disc.mtime_ns if container is None else container.st_mtime_ns
        if _fields(change) == _fields(old):
            return  # nothing new (rsync sets every folder's times again): no write
        change["ctime_ns"] = time.time_ns()
        if set(change) <= {"ctime_ns", "base_ns"}:
            self.changes.pop(rel, None)
        else:
            self.changes[rel] = change
        self._save(rel)

    def forget(self, rel: bytes) -> None:
        """The directory at ``rel`` is deleted: its changes, and those of
        the directories below it, go."""
        prefix = rel + b"/"
        gone = [r for r in self.changes if r == rel or r.startswith(prefix)]
        for r in gone:
            del self.changes[r]
        if gone:
            self._compact()

    def settle(self, root: DiscEntry | None) -> None:
        """The disc changed (a burn, an erase): forget what it shows now,
        and the changes of directories it no longer has."""
        before = dict(self.changes)
        for rel, change in before.items():
            disc = _find(root, rel)
            if disc is None or not stat.S_ISDIR(disc.mode):
                del self.changes[rel]
                continue
            left = {
                k: v
                for k, v in change.items()
                if k not in FIELDS or not _same(k, v, _disc_value(disc, k))
            }
            if set(left) <= {"ctime_ns", "base_ns"}:
                del self.changes[rel]
            else:
                self.changes[rel] = left
        if self.changes != before:
            self._compact()

    # -- what they show ------------------------------------------------------

    def effective(self, rel: bytes, container: os.stat_result | None) -> Change:
        """The changes of ``rel`` that still hold: a staged mtime gives way
        to a later change of names in the directory (its container's mtime
        moved past the one it had when the time was set)."""
        change = self.changes.get(rel)
        if not change:
            return {}
        out = {k: v for k, v in change.items() if k in FIELDS or k == "ctime_ns"}
        moved = container is not None and container.st_mtime_ns > change.get("base_ns", 0)
        if "mtime_ns" in out and moved:
            del out["mtime_ns"]
        return out

    def show(self, rel: bytes, attr: Attr, container: os.stat_result | None) -> None:
        """Put the staged changes of ``rel`` into ``attr`` (a getattr)."""
        change = self.effective(rel, container)
        if not change:
            return
        if "mode" in change:
            attr.mode = stat.S_IFMT(attr.mode) | change["mode"]
        attr.uid = change.get("uid", attr.uid)
        attr.gid = change.get("gid", attr.gid)
        attr.atime_ns = change.get("atime_ns", attr.atime_ns)
        if "mtime_ns" in change:
            attr.mtime_ns = change["mtime_ns"]
        attr.ctime_ns = max(attr.ctime_ns, change.get("ctime_ns", 0), attr.mtime_ns)


def unchanged(disc: DiscEntry, shown_mode: int, asked: Asked) -> bool:
    """Whether a setattr of a burned file asks for what the disc has (to
    the second, for times) or, for the mode, what the mount shows: such a
    change is answered with success (rsync -a and cp -a set the mode and
    times of every file they find up to date; cp -u probes the times)."""
    mode = asked.get("mode")
    if mode is not None:
        shown = stat.S_IMODE(mode) == stat.S_IMODE(shown_mode)
        asked = {**asked, "mode": None if shown else stat.S_IMODE(mode)}
    return all(v is None or _same(k, v, _disc_value(disc, k)) for k, v in asked.items())


def apply(entry: MasterEntry, change: Change) -> MasterEntry:
    """A directory entry of the next session with its staged changes."""
    return replace(
        entry,
        mode=change.get("mode", entry.mode),
        uid=change.get("uid", entry.uid),
        gid=change.get("gid", entry.gid),
        atime_ns=change.get("atime_ns", entry.atime_ns),
        mtime_ns=change.get("mtime_ns", entry.mtime_ns),
    )


def _line(rel: bytes, change: Change | None) -> bytes:
    """One line of the file: a directory's change, or null for none."""
    record = {"rel": os.fsdecode(rel), "change": change}
    return json.dumps(record, sort_keys=True).encode() + b"\n"


def _fields(change: Change) -> Change:
    return {k: v for k, v in change.items() if k != "ctime_ns"}


def _disc_value(disc: DiscEntry, field: str) -> int:
    return stat.S_IMODE(disc.mode) if field == "mode" else int(getattr(disc, field))


def _find(root: DiscEntry | None, rel: bytes) -> DiscEntry | None:
    entry = root
    for part in rel.split(b"/"):
        entry = entry.children.get(part) if entry is not None else None
    return entry
