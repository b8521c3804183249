"""Hard links in the merged view: which names are one file.

The view has a node per name (:class:`cdfs.mount.nodes.Node`); the names of a
hard-linked file share one inode number.  This module owns that sharing:
which nodes are names of one file (a staged file's inode number in the
staging tree, or a disc file's Rock Ridge serial number and extents), which
of them FUSE requests by inode number act through (the view's ``inodes``
entry, with the open handles, handed to another name when that one goes),
and how many names a file has: a staged file's st_nlink less the link a
running burn's snapshot holds (:class:`cdfs.mount.frozen.Frozen`), a disc file's
names that are still shown.

It makes links (:meth:`HardLinks.make`, checked by the view's rules) and
gives a file of a rewritable disc copied into staging its other names
(:meth:`HardLinks.copied_up`); copies of linked files made during a burn
are :mod:`cdfs.mount.files`'s.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from typing import Protocol

from cdfs.errors import WriteOnceError, os_error
from cdfs.iso.discread import DiscEntry
from cdfs.mount.frozen import Frozen
from cdfs.mount.nodes import Node
from cdfs.mount.space import Budget
from cdfs.mount.staging import Upper, join

Key = tuple[bytes, object]
"""(b"s", staging inode number) or (b"d", DiscEntry.link)."""


class LinkView(Protocol):
    """What hard links need of the merged view (:class:`cdfs.mount.view.View`
    has it): its nodes, staged files, budget and rules for new names.  A
    protocol, so that this module, which the view uses, does not import it."""

    upper: Upper
    budget: Budget
    frozen: Frozen
    inodes: dict[int, Node]
    root: Node
    generation: int

    @property
    def rewritable(self) -> bool: ...

    def staged_stat(self, node: Node) -> os.stat_result | None: ...

    def is_control(self, node: Node) -> bool: ...

    def lookup(self, parent: Node, name: bytes) -> Node: ...

    def check_new_name(self, parent: Node, name: bytes) -> None: ...

    def ensure_upper_dir(self, node: Node) -> None: ...


class HardLinks:
    """The names of the view's hard-linked files."""

    def __init__(self, view: LinkView) -> None:
        self.view = view
        self.names: dict[int, list[Node]] = {}
        """Inode number -> the nodes of the names of a hard-linked file."""
        self.inos: dict[Key, int] = {}
        """What the names of a hard-linked file share -> its inode number."""
        self._disc_counts: tuple[int, dict[object, int]] = (-1, {})

    def nlink(self, st: os.stat_result) -> int:
        """The user's names of a staged file: its st_nlink less the link a
        running burn's snapshot holds."""
        return max(1, st.st_nlink - self.view.frozen.links(st.st_ino))

    def key(self, st: os.stat_result | None, disc: DiscEntry | None) -> Key | None:
        """What the names of a hard-linked file share (None: one name)."""
        if st is not None:
            if stat.S_ISREG(st.st_mode) and self.nlink(st) > 1:
                return (b"s", st.st_ino)
            return None
        if disc is not None and disc.link is not None:
            return (b"d", disc.link)
        return None

    def ino_of(self, key: Key | None) -> int | None:
        """The inode number of the file ``key`` names, if a node has it."""
        ino = self.inos.get(key) if key is not None else None
        if ino is None or key is None:
            return None
        node = self.view.inodes.get(ino)
        if node is None or node.detached:
            return None
        if key[0] == b"d":
            same = node.disc is not None and node.disc.link == key[1]
        else:
            # A staging inode number is reused once its file is gone.
            st = self.view.staged_stat(node)
            same = st is not None and st.st_ino == key[1]
        return ino if same else None

    def node(
        self,
        parent: Node,
        name: bytes,
        st: os.stat_result | None,
        disc: DiscEntry | None,
        numbers: Iterator[int],
    ) -> Node:
        """A new node for a name (``st``, ``disc``: its staged lstat and
        disc entry): another name of a hard-linked file that has a node
        shares that node's inode number; any other gets the next of
        ``numbers``."""
        key = self.key(st, disc)
        ino = self.ino_of(key)
        if ino is None:
            new = Node(next(numbers), parent, name)
            self.note(key, new.ino)
        else:
            new = Node(ino, parent, name)
            self.join(self.view.inodes[ino], new)
        return new

    def note(self, key: Key | None, ino: int) -> None:
        if key is not None:
            self.inos[key] = ino

    def join(self, node: Node, new: Node) -> None:
        """``new`` is another name of ``node``'s file."""
        group = self.names.setdefault(node.ino, [node])
        if node not in group:
            group.append(node)
        group.append(new)

    def drop(self, node: Node) -> bool:
        """A detached node leaves its file's names; True when the file has
        names left: the inode then acts through one of them, which takes
        the handles open on it."""
        group = self.names.get(node.ino)
        if group is None or node not in group:
            return False
        group.remove(node)
        alive = [n for n in group if not n.detached]
        if len(alive) <= 1:
            del self.names[node.ino]
        if not alive:
            return False
        inodes = self.view.inodes
        if inodes.get(node.ino) is node:
            heir = alive[0]
            heir.handles.extend(node.handles)
            for h in node.handles:
                h.node = heir
            heir.size, node.size = node.size, -1
            node.handles = []
            inodes[node.ino] = heir
        return True

    # -- files of the disc --

    def disc_names(self, link: object) -> Iterator[bytes]:
        """The paths of the names of the disc file ``link`` that the view
        still shows as the disc's (not deleted, not replaced by a staged file)."""
        view = self.view
        root = view.root.disc
        if root is None:
            return
        todo: list[tuple[bytes, DiscEntry]] = [(b"", root)]
        while todo:
            rel, d = todo.pop()
            for name, e in d.children.items():
                if view.rewritable and view.upper.is_whiteout(rel, name):
                    continue
                path = join(rel, name)
                if e.children:
                    todo.append((path, e))
                elif e.link == link and view.upper.lstat(path) is None:
                    yield path

    def disc_nlink(self, e: DiscEntry) -> int:
        """The names of a file of the disc: on a rewritable disc, those not
        deleted or replaced since (counted once per change of the tree)."""
        if e.link is None or not self.view.rewritable:
            return e.nlink
        generation, counts = self._disc_counts
        if generation != self.view.generation:
            counts = {}
            self._disc_counts = (self.view.generation, counts)
        if e.link not in counts:
            counts[e.link] = sum(1 for _ in self.disc_names(e.link))
        return max(1, counts[e.link])

    # -- changes --

    def make(self, node: Node, parent: Node, name: bytes) -> Node:
        """A new name for a staged file (link(2)): the names are one file,
        burned as one copy of its data with a link count (Rock Ridge)."""
        view = self.view
        if view.is_control(node) or node is view.root:
            raise os_error(errno.EPERM)
        if node.detached:
            raise os_error(errno.ENOENT)
        st = view.staged_stat(node)
        if st is None:
            # A new record at the burned extent is possible, but the file
            # would then live in both layers: on a rewritable disc a change
            # through one name would have to copy up every other.
            raise WriteOnceError(
                f"cannot link to {node.rel.decode(errors='replace')!r}: it is on the disc "
                "(hard links are kept between staged files only): copy it instead"
            )
        if not stat.S_ISREG(st.st_mode):
            raise os_error(errno.EPERM)  # directories (link(2)), symlinks
        view.check_new_name(parent, name)
        view.budget.check_entries(1)
        view.ensure_upper_dir(parent)
        view.upper.hardlink(node.rel, join(parent.rel, name))
        view.budget.add_entry()
        new = Node(node.ino, parent, name)
        parent.kids[name] = new
        self.join(node, new)
        self.note((b"s", st.st_ino), node.ino)
        return new

    def copied_up(self, node: Node, disc: DiscEntry) -> None:
        """A file of a rewritable disc was just copied into staging at
        ``node``'s name: its other names on the disc become names of that
        copy, so that a change through one shows through all."""
        if disc.link is None:
            return
        view = self.view
        rel = node.rel
        others = [p for p in self.disc_names(disc.link) if p != rel]
        for other in others:
            parent = view.root
            for part in other.split(b"/")[:-1]:
                parent = view.lookup(parent, part)
            view.ensure_upper_dir(parent)
            view.upper.hardlink(rel, other)  # replaces the disc's name: no new entry
        st = view.upper.lstat(rel)
        if others and st is not None:
            self.note((b"s", st.st_ino), node.ino)
