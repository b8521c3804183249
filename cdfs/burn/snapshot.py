"""Snapshots of the staging area: what a burn masters, and what it may
drop from staging once recorded.

Owns freezing the staged tree (hard links of staged files, so later writes
go to copies and never into a burn; the names it holds, in the view's
:class:`~cdfs.mount.frozen.Frozen`), building the complete tree of the next
session (disc entries kept at their extents, deletions applied, staged
entries on top), and removing afterwards exactly what was burned and left
unchanged since (for a session nobody verified, only what reads back as
staged), staging the deletion of what went away meanwhile.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from cdfs import names
from cdfs.burn.journal import Entry
from cdfs.iso import discread, reuse
from cdfs.iso.mastering import Kind, MasterEntry
from cdfs.iso.reuse import disc_entry
from cdfs.mount import dirattrs
from cdfs.mount.space import Counts, disc_counts
from cdfs.mount.staging import Upper, is_reserved, join
from cdfs.mount.view import View
from cdfs.units import SECTOR_SIZE, sectors_for

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    entries: list[MasterEntry]
    """The whole tree of the next session; emptied by the burn once the
    session is verified (the tree read back from the disc replaces it)."""
    items: list[Entry] = field(default_factory=list)
    files: int = 0
    symlinks: int = 0
    """Staged symbolic links (``files`` counts the staged regular files)."""
    bytes: int = 0
    counts: Counts = field(default_factory=Counts)
    dir_changes: int = 0
    """Burned directories whose staged attribute changes it records."""
    placed: dict[int, discread.Placed] = field(default_factory=dict)
    """Where the session put the directories it reused (once mastered)."""


def _key(st: os.stat_result, kind: Kind) -> tuple[int, ...]:
    if kind is Kind.DIR:
        return (st.st_ino, st.st_mode, st.st_uid, st.st_gid)
    return (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)


def take_snapshot(view: View, snap_dir: Path, *, hold: bool = True) -> Snapshot:
    """Freeze what is staged: hard links of staged files into ``snap_dir``
    plus the whole tree of the next session.  Runs in the event loop, so no
    FUSE request changes the staging tree meanwhile; files open for writing
    are left for the next burn, and later writes to a frozen file go to a
    copy of it (:meth:`cdfs.mount.files.Files.unshare`).  With ``hold`` (a burn
    that records; a simulation holds nothing) the view holds the names too,
    until :func:`release_snapshot`."""
    if snap_dir.exists():
        shutil.rmtree(snap_dir)
    snap_dir.mkdir(parents=True)
    snap_fd = os.open(snap_dir, os.O_PATH | os.O_DIRECTORY)
    busy = view.open_writer_paths()
    busy_inodes = {st.st_ino for st in map(view.upper.lstat, busy) if st is not None}
    tree: dict[tuple[bytes, ...], MasterEntry] = {}
    links = _Links()
    disc_root = view.root.disc
    facts = disc_root.session if disc_root is not None else None
    reusing = reuse.ENABLED and facts is not None and facts.joliet is not None
    if disc_root is not None and not reusing:
        for path, e in discread.walk(disc_root):
            tree[path] = disc_entry(path, e, links.disc(e))
    snap = Snapshot(entries=[])
    whiteouts: set[tuple[bytes, ...]] = set()
    staged: set[tuple[bytes, ...]] = set()

    def hidden(path: tuple[bytes, ...]) -> bool:
        return any(path[:i] in whiteouts for i in range(1, len(path) + 1))

    try:
        for rel, dnames, fnames, fd in view.upper.walk():
            prefix = tuple(rel.split(b"/")) if rel else ()
            # Whiteouts first: a directory replacing a deleted one must not
            # inherit the deleted one's burned attributes.
            for name in fnames:
                if name.startswith(names.WHITEOUT_PREFIX):
                    whiteouts.add((*prefix, name[len(names.WHITEOUT_PREFIX) :]))
                    st = os.lstat(name, dir_fd=fd)
                    rpath = rel + b"/" + name if rel else name
                    snap.items.append(Entry(rpath, Kind.FILE.value, _key(st, Kind.FILE)))
            for name in dnames + fnames:
                path, rpath = (*prefix, name), (rel + b"/" + name if rel else name)
                if rpath in busy or is_reserved(name):
                    continue
                st = os.lstat(name, dir_fd=fd)
                if st.st_ino in busy_inodes and stat.S_ISREG(st.st_mode):
                    continue  # another name of a file open for writing
                disc = None if hidden(path) else tree.get(path)
                if reusing and disc is None and disc_root is not None and not hidden(path):
                    disc = _disc_dir(disc_root, path)
                entry = links.staged(st, path) or _staged_entry(
                    path, st, name, fd, snap_fd, len(snap.items), snap_dir, disc
                )
                if entry is None:
                    continue
                if entry.kind is Kind.FILE:
                    entry = links.add(st, entry)
                tree[path] = entry
                staged.add(path)
                snap.items.append(Entry(rpath, entry.kind.value, _key(st, entry.kind)))
                if entry.kind is Kind.FILE:
                    snap.files += 1
                    snap.bytes += entry.size
                snap.symlinks += entry.kind is Kind.SYMLINK
    finally:
        os.close(snap_fd)
        view.frozen.hold_links(links.held)
    if disc_root is not None and reusing:
        changed = [*staged, *whiteouts, *(tuple(r.split(b"/")) for r in view.dir_attrs.changes)]
        add_disc(tree, disc_root, changed, links=links, hidden=hidden)
    for rel in list(view.dir_attrs.changes):
        path = tuple(rel.split(b"/"))
        kept = tree.get(path)
        if kept is None or kept.kind is not Kind.DIR or hidden(path):
            continue
        change = view.dir_attrs.effective(rel, view.upper.lstat(rel))
        tree[path] = dirattrs.apply(kept, change)
        snap.dir_changes += tree[path] != kept
    if whiteouts:
        tree = {p: e for p, e in tree.items() if p in staged or not hidden(p)}
    snap.entries = [tree[p] for p in sorted(tree)]
    below = [disc_counts(e.reuse) for e in tree.values() if e.reuse is not None]
    snap.counts = Counts(
        entries=len(tree) + sum(c.entries for c in below),
        dirs=sum(e.kind is Kind.DIR for e in tree.values()) + sum(c.dirs for c in below),
        symlinks=sum(e.kind is Kind.SYMLINK for e in tree.values())
        + sum(c.symlinks for c in below),
        data=sum(
            sectors_for(e.size)
            for e in {e.source: e for e in tree.values() if e.kind is Kind.FILE}.values()
            if e.source is not None
        ),
    )
    if hold:
        view.frozen.freeze(item.rel for item in snap.items)
    return snap


def _disc_dir(root: discread.DiscEntry, path: tuple[bytes, ...]) -> MasterEntry | None:
    """The directory of the disc at ``path``, as kept (None if there is none)."""
    e: discread.DiscEntry | None = root
    for name in path:
        e = e.children.get(name) if e is not None else None
    return disc_entry(path, e) if e is not None and e.kind is Kind.DIR else None


def add_disc(
    tree: dict[tuple[bytes, ...], MasterEntry],
    root: discread.DiscEntry,
    changed: list[tuple[bytes, ...]],
    *,
    links: _Links | None = None,
    hidden: Callable[[tuple[bytes, ...]], bool] = lambda _path: False,
) -> None:
    """Add the disc's entries to ``tree`` (what is there already stays):
    those in the directories that hold something ``changed`` (a path
    staged, deleted or with new attributes) entry by entry, the directories
    left as they were as reused ones (their entries not listed:
    :mod:`cdfs.iso.reuse`), unless their records cannot be reused."""
    links = links if links is not None else _Links()
    facts = root.session
    if not (reuse.ENABLED and facts is not None and facts.joliet is not None):
        for path, e in discread.walk(root):  # no directory of the disc reusable
            tree.setdefault(path, disc_entry(path, e, links.disc(e)))
        return
    touched = {path[:i] for path in changed for i in range(len(path) + 1)}
    todo: list[tuple[tuple[bytes, ...], discread.DiscEntry]] = [((), root)]
    while todo:
        prefix, d = todo.pop()
        for name, e in d.children.items():
            path = (*prefix, name)
            if hidden(path):
                continue
            if e.kind is not Kind.DIR or path in touched:
                tree.setdefault(path, disc_entry(path, e, links.disc(e)))
                if e.kind is Kind.DIR:
                    todo.append((path, e))
            elif e.where:
                tree.setdefault(path, reuse.reused_entry(path, e))
            else:
                tree.setdefault(path, disc_entry(path, e))
                for sub, f in discread.walk(e):
                    tree.setdefault((*path, *sub), disc_entry((*path, *sub), f, links.disc(f)))


class _Links:
    """Hard links in a snapshot: the names of one staged file share one
    link of it in the snapshot and one link number; so do the names of one
    file of the disc (:attr:`cdfs.iso.discread.DiscEntry.link`)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._disc: dict[object, int] = {}
        self._staged: dict[int, MasterEntry] = {}
        """Staging inode number -> the entry of its first name."""
        self.held: list[int] = []
        """Staging inode numbers of the files the snapshot holds a link to."""

    def disc(self, e: discread.DiscEntry) -> int:
        key = e.link
        if key is None:
            return 0
        if key not in self._disc:
            self._disc[key] = next(self._numbers)
        return self._disc[key]

    def staged(self, st: os.stat_result, path: tuple[bytes, ...]) -> MasterEntry | None:
        """Another name of a staged file already in the snapshot."""
        first = self._staged.get(st.st_ino) if stat.S_ISREG(st.st_mode) else None
        return None if first is None else replace(first, path=path)

    def add(self, st: os.stat_result, entry: MasterEntry) -> MasterEntry:
        """The entry of a staged file's name, with its link number when the
        file has several names (its st_nlink before the snapshot's link)."""
        if st.st_ino in self._staged:
            return entry
        self.held.append(st.st_ino)
        if st.st_nlink > 1:
            entry = replace(entry, link=next(self._numbers))
            self._staged[st.st_ino] = entry
        return entry


def _staged_entry(
    path: tuple[bytes, ...],
    st: os.stat_result,
    name: bytes,
    fd: int,
    snap_fd: int,
    n: int,
    snap_dir: Path,
    disc: MasterEntry | None,
) -> MasterEntry | None:
    def entry(kind: Kind, **more: Any) -> MasterEntry:
        return MasterEntry(
            path=path,
            kind=kind,
            mode=stat.S_IMODE(st.st_mode),
            uid=st.st_uid,
            gid=st.st_gid,
            mtime_ns=st.st_mtime_ns,
            atime_ns=st.st_atime_ns,
            **more,
        )

    if stat.S_ISDIR(st.st_mode):
        if disc is not None and disc.kind is Kind.DIR:
            # A container for new names inside a directory of the disc: the
            # directory keeps its burned attributes, with the newer mtime.
            return replace(disc, mtime_ns=max(disc.mtime_ns, st.st_mtime_ns))
        return entry(Kind.DIR)
    if stat.S_ISLNK(st.st_mode):
        return entry(Kind.SYMLINK, target=os.readlink(name, dir_fd=fd))
    if stat.S_ISREG(st.st_mode):
        link = str(n)
        os.link(name, link, src_dir_fd=fd, dst_dir_fd=snap_fd, follow_symlinks=False)
        return entry(Kind.FILE, size=st.st_size, source=f"{snap_dir}/{n}")
    log.warning("ignoring staged special file %r", name)
    return None


def release_snapshot(view: View, snap_dir: Path) -> None:
    """The burn has ended: its names are no longer held, its links go."""
    view.frozen.thaw()
    shutil.rmtree(snap_dir, ignore_errors=True)


def drop_burned(view: View, entries: Sequence[Entry], disc: discread.DiscEntry | None) -> None:
    """Remove from staging what a burn recorded and nobody changed since;
    ``disc`` is the tree of the new session.

    What was deleted or renamed while the burn ran is in the new session
    all the same: on rewritable media its deletion is staged (write-once
    media refuse the change while the burn runs, :class:`cdfs.mount.frozen.Frozen`).
    """
    upper = view.upper
    if view.rewritable and disc is not None:
        _stage_gone(view, entries, disc)
    for item in entries:
        if item.kind == Kind.DIR.value:
            continue
        st = upper.lstat(item.rel)
        if st is not None and _key(st, Kind(item.kind)) == item.key:
            upper.unlink(item.rel)
    dirs = sorted(
        (i for i in entries if i.kind == Kind.DIR.value),
        key=lambda i: i.rel.count(b"/"),
        reverse=True,
    )
    for item in dirs:
        st = upper.lstat(item.rel)
        if st is not None and _key(st, Kind.DIR) == item.key:
            with contextlib.suppress(OSError):  # not empty: something new waits inside
                upper.rmdir(item.rel)
    _drop_empty_containers(view, disc)


def read_back_failures(
    upper: Upper, entries: Sequence[Entry], session: discread.DiscEntry, fp: BinaryIO
) -> list[Entry]:
    """The items of a recorded but unverified session that do not read back
    as they are staged: unchanged staged files whose copy in ``session``
    (read through ``fp``) is missing or differs byte for byte, symlinks with
    another target, staged deletions of names the session still has.
    Items changed since the snapshot are not compared: they stay staged."""
    bad = []
    for item in entries:
        parent, _, name = item.rel.rpartition(b"/")
        if name.startswith(names.WHITEOUT_PREFIX):
            if _find(session, join(parent, name[len(names.WHITEOUT_PREFIX) :])) is not None:
                bad.append(item)
            continue
        st = upper.lstat(item.rel)
        if item.kind == Kind.DIR.value or st is None or _key(st, Kind(item.kind)) != item.key:
            continue
        disc = _find(session, item.rel)
        if disc is None or not _reads_back(upper, item, disc, fp):
            bad.append(item)
    return bad


def _reads_back(upper: Upper, item: Entry, disc: discread.DiscEntry, fp: BinaryIO) -> bool:
    if item.kind == Kind.SYMLINK.value:
        return disc.kind is Kind.SYMLINK and disc.target == upper.readlink(item.rel)
    fd = upper.open(item.rel, os.O_RDONLY)
    try:
        if disc.kind is not Kind.FILE or os.fstat(fd).st_size != disc.size:
            return False
        off = 0
        for lba, length in disc.extents:
            fp.seek(lba * SECTOR_SIZE)
            for n in _chunks(length):
                if fp.read(n) != os.pread(fd, n, off):
                    return False
                off += n
        return True
    finally:
        os.close(fd)


def _chunks(length: int, size: int = 1 << 20) -> list[int]:
    return [min(size, length - pos) for pos in range(0, length, size)]


def _stage_gone(view: View, entries: Sequence[Entry], disc: discread.DiscEntry) -> None:
    """Stage the deletion (a whiteout, as for anything deleted from a
    rewritable disc) of every burned item that is no longer at its path in
    staging (deleted, renamed away, replaced by another object), topmost
    path only: a whiteout hides what is below it."""
    gone: set[bytes] = set()
    for item in sorted(entries, key=lambda i: i.rel):
        parent, _, name = item.rel.rpartition(b"/")
        if is_reserved(name) or any(p in gone for p in _parents(item.rel)):
            continue
        st = view.upper.lstat(item.rel)
        if st is not None and (st.st_ino, stat.S_IFMT(st.st_mode)) == (
            item.key[0],
            stat.S_IFMT(item.key[1]),
        ):
            continue
        if _find(disc, item.rel) is not None:
            view.upper.add_whiteout(parent, name)
            gone.add(item.rel)
            log.info("%r went away during the burn: its deletion is staged", item.rel)


def _parents(rel: bytes) -> list[bytes]:
    parts = rel.split(b"/")
    return [b"/".join(parts[:i]) for i in range(1, len(parts))]


def _find(root: discread.DiscEntry, rel: bytes) -> discread.DiscEntry | None:
    entry: discread.DiscEntry | None = root
    for part in rel.split(b"/"):
        entry = entry.children.get(part) if entry is not None else None
    return entry


def _drop_empty_containers(view: View, disc: discread.DiscEntry | None) -> None:
    """Upper directories that only held names inside directories of the
    (new) disc tree and are empty now, deepest first."""
    if disc is None:
        return
    dirs = [rel for rel, _d, _f, _fd in view.upper.walk() if rel]
    for rel in sorted(dirs, key=lambda r: r.count(b"/"), reverse=True):
        entry = _find(disc, rel)
        if entry is not None and stat.S_ISDIR(entry.mode):
            with contextlib.suppress(OSError):  # not empty
                view.upper.rmdir(rel)
