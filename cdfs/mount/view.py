"""The merged view: what is on the disc, read-only, with the staging tree on top.

This module says, here and only here, what the mount looks like as a file
system: which inode a name has, its attributes (:mod:`cdfs.mount.attrs`), which operations
the write-once rules allow, and how staged data is accounted against the
disc's free space.  It speaks in domain terms (nodes, :class:`Attr`,
:class:`~cdfs.errors.CdfsError` and ``OSError``); :mod:`cdfs.mount.fs` turns that
into FUSE replies.  Control files are delegated to a :class:`Controls`
object owned by the daemon.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import time
from typing import BinaryIO

from cdfs import names
from cdfs.errors import NameTooLongError, UsageError, WriteOnceError, os_error
from cdfs.iso.discread import DiscEntry
from cdfs.iso.isonames import check_target, joliet_problem, windows_key
from cdfs.mount.attrs import Attributes
from cdfs.mount.dirattrs import DirAttrs
from cdfs.mount.files import Files
from cdfs.mount.frozen import Frozen
from cdfs.mount.hardlinks import HardLinks
from cdfs.mount.nodes import ROOT_INO, Attr, Caller, Controls, Handle, Node
from cdfs.mount.space import Budget, Figures
from cdfs.mount.staging import Upper, is_reserved, join
from cdfs.recorders.media import DiscInfo

log = logging.getLogger(__name__)


class View:
    """The merged tree, its inodes, and the write-once rules."""

    def __init__(
        self,
        upper: Upper,
        info: DiscInfo,
        disc_root: DiscEntry | None,
        reader: BinaryIO | None,
        controls: Controls,
        *,
        strict_names: bool = False,
        disc_problem: str = "",
    ) -> None:
        self.strict_names = strict_names
        self.upper = upper
        self.controls = controls
        self.reader = reader
        self.root = Node(ROOT_INO, None, b"")
        self.inodes: dict[int, Node] = {ROOT_INO: self.root}
        """Inode number -> its node; for a hard-linked file, the node of one
        of its names (the one FUSE requests by inode number act through)."""
        self.links = HardLinks(self)
        self._next_ino = itertools.count(ROOT_INO + 1)
        self.control_inos: dict[bytes, int] = {}
        for cname in names.CONTROL_FILES:
            node = Node(next(self._next_ino), self.root, cname)
            self.inodes[node.ino] = node
            self.control_inos[cname] = node.ino
        self.info = info
        self.budget = Budget(info)
        self.uid, self.gid = os.getuid(), os.getgid()
        self.mounted_ns = time.time_ns()
        self.files = Files(self)
        self.frozen = Frozen()
        self.generation = 0
        """Bumped by every change of names: lets callers cache what they
        derive from the tree (the status's name report)."""
        self.dir_attrs = DirAttrs(upper.root.parent / names.DIR_ATTRS_FILE)
        self.attrs = Attributes(self)
        self.disc_problem = ""
        self.set_disc(info, disc_root, disc_problem)

    # -- disc -----------------------------------------------------------

    def use_reader(self, reader: BinaryIO | None) -> None:
        """Read the disc's files through ``reader`` from now on: one opened
        after the disc changed (a burn, an erase, another disc), as one
        opened before can still see a real drive's disc as it was.  The
        previous reader is closed."""
        old, self.reader = self.reader, reader
        if old is not None and old is not reader:
            old.close()

    def set_disc(self, info: DiscInfo, disc_root: DiscEntry | None, problem: str = "") -> None:
        """Point every node at the disc's (new) newest readable session;
        ``problem`` names newer sessions that do not read whole
        (:attr:`cdfs.iso.disccontents.Contents.problem`)."""
        if self.generation:  # not the first: the disc changed
            self.dir_attrs.settle(disc_root)
        self.generation += 1
        self.info = info
        self.disc_problem = problem
        self.root.disc = disc_root
        gone: list[tuple[int, bytes]] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            for kid in node.kids.values():
                before, kid.disc = kid.disc, self._disc_child(node, kid.name)
                if before is not None and kid.disc is None:
                    gone.append((node.ino, kid.name))
                if kid.disc is not None and kid.disc.link is not None:
                    self.links.inos.setdefault((b"d", kid.disc.link), kid.ino)
                stack.append(kid)
        self.budget.reset(info, disc_root, self.upper)
        if gone:
            self.controls.names_gone(gone)

    @property
    def rewritable(self) -> bool:
        return self.info.media.rewritable

    def _disc_child(self, parent: Node, name: bytes) -> DiscEntry | None:
        """The disc's entry ``name`` in ``parent`` unless a staged deletion
        (a whiteout, rewritable discs only) hides it."""
        pdisc = parent.disc
        if pdisc is None:
            return None
        entry = pdisc.children.get(name)
        if entry is not None and self.rewritable and self.upper.is_whiteout(parent.rel, name):
            return None
        return entry

    # -- resolution -------------------------------------------------------

    def node(self, ino: int) -> Node:
        try:
            return self.inodes[ino]
        except KeyError:
            raise os_error(errno.ESTALE) from None

    def is_control(self, node: Node) -> bool:
        return node.parent is self.root and node.name in self.control_inos

    def _new_node(
        self,
        parent: Node,
        name: bytes,
        st: os.stat_result | None = None,
        disc: DiscEntry | None = None,
    ) -> Node:
        """The node of a name (``st``, ``disc``: its staged lstat and disc
        entry, which tell whether it is another name of a hard-linked file)."""
        node = self.links.node(parent, name, st, disc, self._next_ino)
        parent.kids[name] = node
        self.inodes.setdefault(node.ino, node)
        return node

    def _detach(self, node: Node) -> None:
        """The node's name is gone: it has no path any more (nor have the
        nodes below it), and lives on only while handles are open on it --
        or, for a hard-linked file, as its other names."""
        if node.parent is not None and node.parent.kids.get(node.name) is node:
            del node.parent.kids[node.name]
        node.parent = None
        node.disc = None
        for kid in list(node.kids.values()):
            self._detach(kid)
        if self.links.drop(node):
            return
        if not node.handles:
            self.inodes.pop(node.ino, None)

    def child(self, parent: Node, name: bytes) -> Node | None:
        """The node called ``name`` in ``parent``, or None."""
        if parent is self.root and name in self.control_inos:
            return self.inodes[self.control_inos[name]]
        if is_reserved(name):
            return None
        disc = self._disc_child(parent, name)
        node = parent.kids.get(name)
        st = None
        if disc is None or node is None:
            st = self.upper.lstat(join(parent.rel, name))
        if disc is None and st is None:
            if node is not None:
                self._detach(node)
            return None
        if node is None:
            node = self._new_node(parent, name, st, disc)
        node.disc = disc
        return node

    def lookup(self, parent: Node, name: bytes) -> Node:
        if name == b".":
            return parent
        if name == b"..":
            if parent.detached:
                raise os_error(errno.ENOENT)
            return parent.parent or self.root
        node = self.child(parent, name)
        if node is None:
            raise os_error(errno.ENOENT)
        return node

    def staged_stat(self, node: Node) -> os.stat_result | None:
        return self.upper.lstat(node.rel)

    # -- attributes -------------------------------------------------------

    def getattr(self, node: Node) -> Attr:
        return self.attrs.get(node)

    def state(self, node: Node) -> bytes:
        """The value of ``user.cdfs.state``."""
        return self.attrs.state(node)

    # -- listing ----------------------------------------------------------

    def listdir(self, node: Node) -> list[tuple[bytes, Attr]]:
        """Every entry of a directory but the control files, sorted by name,
        with full attributes:
        pyfuse3 answers with READDIRPLUS, so the kernel caches them."""
        if not self._is_dir(node):
            raise os_error(errno.ENOTDIR)
        # One scandir gives every staged entry's lstat: no failing lstat per
        # name that is only on the disc.
        staged = self.upper.scan(node.rel) if self.staged_stat(node) is not None else {}
        disc = node.disc.children if node.disc is not None else {}
        wp = names.WHITEOUT_PREFIX
        hidden = {n[len(wp) :] for n in staged if n.startswith(wp)} if self.rewritable else set()
        found = set(disc).difference(hidden)
        found.update(n for n in staged if not is_reserved(n))
        if node is self.root:
            found.difference_update(names.CONTROL_FILES)
        out = []
        for name in sorted(found):
            kdisc = None if name in hidden else disc.get(name)
            kid = node.kids.get(name) or self._new_node(node, name, staged.get(name), kdisc)
            kid.disc = kdisc
            attr = self.attrs.of(kid, staged.get(name))
            if attr is not None:
                out.append((name, attr))
        # The control files answer lookups but are not listed, so that
        # cp -a, rsync and file managers copying the disc leave them out.
        return out

    def _names(self, node: Node) -> set[bytes]:
        """Names in a directory: the disc's (less deleted ones) and the
        staged ones, without bookkeeping and control files."""
        disc: set[bytes] = set(node.disc.children) if node.disc is not None else set()
        staged: set[bytes] = set()
        if self.staged_stat(node) is not None:
            for name, _is_dir in self.upper.listdir(node.rel):
                if name.startswith(names.WHITEOUT_PREFIX):
                    disc.discard(name[len(names.WHITEOUT_PREFIX) :])
                elif not is_reserved(name):
                    staged.add(name)
        found = disc | staged
        if node is self.root:
            found.difference_update(names.CONTROL_FILES)
        return found

    def _is_dir(self, node: Node) -> bool:
        if node is self.root:
            return True
        st = self.staged_stat(node)
        if st is not None:
            return stat.S_ISDIR(st.st_mode)
        return node.disc is not None and stat.S_ISDIR(node.disc.mode)

    def readlink(self, node: Node) -> bytes:
        st = self.staged_stat(node)
        if st is not None:
            if not stat.S_ISLNK(st.st_mode):
                raise os_error(errno.EINVAL)
            return self.upper.readlink(node.rel)
        if node.disc is not None and stat.S_ISLNK(node.disc.mode):
            return node.disc.target
        raise os_error(errno.EINVAL)

    # -- rules ------------------------------------------------------------

    def check_new_name(self, parent: Node, name: bytes) -> None:
        if not self._is_dir(parent):
            raise os_error(errno.ENOTDIR)
        if parent is self.root and name in self.control_inos:
            raise os_error(errno.EEXIST)
        if len(name) > 255:
            raise os_error(errno.ENAMETOOLONG)
        self._check_name(name)
        if self.child(parent, name) is not None:
            raise os_error(errno.EEXIST)
        self._check_strict(parent, name)

    def ensure_upper_dir(self, node: Node) -> None:
        """Create the upper directories that hold staged children of ``node``
        (containers for names added inside directories of the disc)."""
        if node is self.root or self.staged_stat(node) is not None:
            return
        assert node.parent is not None
        self.ensure_upper_dir(node.parent)
        up = self.staged_stat(node.parent)
        self.upper.mkdir(node.rel, 0o755)
        # Bookkeeping, not a change of names: the times shown stay.
        if node.disc is not None:
            self.upper.utime(node.rel, node.disc.atime_ns, node.disc.mtime_ns)
        if up is not None:
            self.upper.utime(node.parent.rel, up.st_atime_ns, up.st_mtime_ns)

    def _own(self, rel: bytes, uid: int, gid: int) -> None:
        if os.geteuid() == 0 and (uid, gid) != (0, 0):
            self.upper.chown(rel, uid, gid)

    # -- changes ----------------------------------------------------------

    def create(
        self,
        parent: Node,
        name: bytes,
        mode: int,
        flags: int,
        uid: int,
        gid: int,
        caller: Caller | None = None,
    ) -> tuple[Node, Handle]:
        self.generation += 1
        self.check_new_name(parent, name)
        self.budget.check_entries(1)
        self.ensure_upper_dir(parent)
        rel = join(parent.rel, name)
        acc = flags & os.O_ACCMODE
        fd = self.upper.open(rel, acc | os.O_CREAT | os.O_EXCL, stat.S_IMODE(mode))
        os.fchmod(fd, stat.S_IMODE(mode))
        self._own(rel, uid, gid)
        self.budget.add_entry()
        node = self._new_node(parent, name)
        node.size = 0
        handle = Handle(node, fd, writable=True, caller=caller)
        node.handles.append(handle)
        return node, handle

    def mkdir(self, parent: Node, name: bytes, mode: int, uid: int, gid: int) -> Node:
        self.generation += 1
        self.check_new_name(parent, name)
        self.budget.check_entries(1, is_dir=True)
        self.ensure_upper_dir(parent)
        rel = join(parent.rel, name)
        self.upper.mkdir(rel, 0o700)
        self.upper.chmod(rel, stat.S_IMODE(mode))
        self._own(rel, uid, gid)
        self.budget.add_entry(is_dir=True)
        return self._new_node(parent, name)

    def symlink(self, parent: Node, name: bytes, target: bytes, uid: int, gid: int) -> Node:
        self.generation += 1
        self.check_new_name(parent, name)
        rel = join(parent.rel, name)
        check_target(target, tuple(rel.split(b"/")))
        self.budget.check_entries(1, is_link=True)
        self.ensure_upper_dir(parent)
        self.upper.symlink(rel, target)
        self._own(rel, uid, gid)
        self.budget.add_entry(is_link=True)
        return self._new_node(parent, name)

    def link(self, node: Node, parent: Node, name: bytes) -> Node:
        """A new name for a staged file (link(2)): :meth:`HardLinks.make`."""
        self.generation += 1
        return self.links.make(node, parent, name)

    def refuse_on_disc(self, node: Node, what: str) -> WriteOnceError:
        return WriteOnceError(
            f"cannot {what} {node.rel.decode(errors='replace')!r}: it is on the disc"
        )

    def _delete_from_disc(self, parent: Node, node: Node) -> None:
        """Stage the deletion of what the disc has at ``node`` (rewritable
        discs): a whiteout hides it, and the next session leaves it out."""
        e = node.disc
        assert e is not None
        # The data of a hard-linked file stays while another name has it.
        data = stat.S_ISREG(e.mode) and self.links.disc_nlink(e) <= 1
        self.ensure_upper_dir(parent)
        self.upper.add_whiteout(parent.rel, node.name)
        if stat.S_ISDIR(e.mode):
            self.dir_attrs.forget(node.rel)
        self.generation += 1  # the names counted above have changed
        self.budget.drop_disc_entry(
            is_dir=stat.S_ISDIR(e.mode), size=e.size if data else 0, is_link=stat.S_ISLNK(e.mode)
        )

    def _check_frozen(self, parent: Node, name: bytes, what: str) -> None:
        """A name the running burn records onto write-once media stays (EBUSY)."""
        if not self.rewritable:
            self.frozen.refuse(join(parent.rel, name), what)

    def unlink(self, parent: Node, name: bytes) -> None:
        self.generation += 1
        self._check_frozen(parent, name, "delete")
        node = self.lookup(parent, name)
        if self.is_control(node):
            raise os_error(errno.EPERM)
        st = self.staged_stat(node)
        if (st is not None and stat.S_ISDIR(st.st_mode)) or (
            st is None and node.disc is not None and stat.S_ISDIR(node.disc.mode)
        ):
            raise os_error(errno.EISDIR)
        if node.disc is not None and not self.rewritable and st is None:
            raise self.refuse_on_disc(node, "delete")
        if st is not None:
            self.upper.unlink(node.rel)
            self.budget.remove_entry(st, data=self.links.nlink(st) <= 1)
        if node.disc is not None and self.rewritable:
            self._delete_from_disc(parent, node)
        self.child(parent, name)

    def rmdir(self, parent: Node, name: bytes) -> None:
        self.generation += 1
        self._check_frozen(parent, name, "delete")
        node = self.lookup(parent, name)
        if self.is_control(node) or node is self.root:
            raise os_error(errno.EPERM)
        if not self._is_dir(node):
            raise os_error(errno.ENOTDIR)
        if node.disc is not None and not self.rewritable:
            raise self.refuse_on_disc(node, "delete")
        if self._names(node):
            raise os_error(errno.ENOTEMPTY)
        st = self.staged_stat(node)
        if st is not None:
            self.upper.remove_tree(node.rel)  # may hold whiteouts only
            self.budget.remove_entry(st)
        if node.disc is not None:
            self._delete_from_disc(parent, node)
        self.child(parent, name)

    def rename(
        self, old_parent: Node, old: bytes, new_parent: Node, new: bytes, noreplace: bool
    ) -> None:
        self.generation += 1
        self._check_frozen(old_parent, old, "rename")
        node = self.lookup(old_parent, old)
        if self.is_control(node) or (new_parent is self.root and new in self.control_inos):
            raise os_error(errno.EPERM)
        st = self.staged_stat(node)
        if st is None or (node.disc is not None and stat.S_ISDIR(st.st_mode)):
            if not self.rewritable:
                raise self.refuse_on_disc(node, "rename")
            # What is on a rewritable disc is moved by copying and deleting:
            # EXDEV makes mv and file managers do exactly that.
            raise os_error(errno.EXDEV)
        if not self._is_dir(new_parent):
            raise os_error(errno.ENOTDIR)
        self._check_name(new)
        self._check_strict(new_parent, new, moving=node)
        target = self.child(new_parent, new)
        if target is not None and target.ino == node.ino:
            return  # rename(2): two names of one file, nothing to do
        ancestor: Node | None = new_parent
        while ancestor is not None:
            if ancestor is node:
                raise os_error(errno.EINVAL)  # into itself
            ancestor = ancestor.parent
        if target is not None:
            if noreplace:
                raise os_error(errno.EEXIST)
            self._clear_target(new_parent, target, is_dir=stat.S_ISDIR(st.st_mode))
        self.ensure_upper_dir(new_parent)
        self.upper.rename(node.rel, join(new_parent.rel, new))
        had_disc = node.disc is not None
        assert node.parent is not None
        del node.parent.kids[node.name]
        node.parent, node.name = new_parent, new
        new_parent.kids[new] = node
        node.disc = self._disc_child(new_parent, new)
        if had_disc and self.rewritable:
            # It replaced a disc file at the old name: that one stays deleted.
            gone = self.child(old_parent, old)
            if gone is not None and gone.disc is not None:
                self._delete_from_disc(old_parent, gone)
        self.child(old_parent, old)

    def _clear_target(self, parent: Node, target: Node, *, is_dir: bool) -> None:
        """Make room for a rename onto ``target`` as rename(2) would."""
        target_dir = self._is_dir(target)
        if target_dir and not is_dir:
            raise os_error(errno.EISDIR)
        if is_dir and not target_dir:
            raise os_error(errno.ENOTDIR)
        if target_dir and self._names(target):
            raise os_error(errno.ENOTEMPTY)
        tst = self.staged_stat(target)
        if (
            target.disc is not None
            and not self.rewritable
            and (tst is None or stat.S_ISDIR(tst.st_mode))
        ):
            raise self.refuse_on_disc(target, "replace")
        if tst is not None:
            if stat.S_ISDIR(tst.st_mode):
                self.upper.remove_tree(target.rel)
            else:
                self.upper.unlink(target.rel)
            self.budget.remove_entry(tst, data=self.links.nlink(tst) <= 1)
        if target.disc is not None and self.rewritable:
            self._delete_from_disc(parent, target)
        self._detach(target)

    def _check_strict(self, parent: Node, name: bytes, moving: Node | None = None) -> None:
        """names=strict: refuse what Joliet cannot carry unchanged."""
        if not self.strict_names:
            return
        text = name.decode("utf-8")
        problem = joliet_problem(text)
        if problem is not None:
            error = NameTooLongError if problem.startswith("longer") else UsageError
            raise error(f"{text!r} {problem} (names=strict)")
        key = windows_key(text)
        for other in self._names(parent):
            if other == name or (
                moving is not None and moving.parent is parent and other == moving.name
            ):
                continue
            if windows_key(other.decode("utf-8", errors="replace")) == key:
                raise UsageError(
                    f"{text!r} and {other.decode(errors='replace')!r} are the same name to "
                    "Windows (names=strict)"
                )

    def _check_name(self, name: bytes) -> None:
        if is_reserved(name):
            raise UsageError(
                f"names starting with {names.RESERVED_PREFIX.decode()!r} are reserved for cdfs"
            )
        try:
            name.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("file names must be valid UTF-8") from None

    # -- burn support -----------------------------------------------------

    def open_writer_paths(self) -> set[bytes]:
        """Relative paths of staged files open for writing right now."""
        return {n.rel for n in self.inodes.values() if n.writers > 0 and not n.detached}

    def space(self) -> Figures:
        """The space figures (:mod:`cdfs.mount.space`) of the disc and staging."""
        return self.budget.figures()


__all__ = ["ROOT_INO", "Attr", "Caller", "Controls", "Handle", "Node", "View"]
