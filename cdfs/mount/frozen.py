"""The names a running burn holds: the staged paths its snapshot took.

Owns that set (each path and every directory above one), and the staged
files (by inode number) its snapshot holds a hard link to, from the moment
the snapshot is taken (:func:`cdfs.burn.snapshot.take_snapshot`) until the burn
ends (:func:`cdfs.burn.snapshot.release_snapshot`), and the refusal, with its
reason, to let go of one of them.  Which media need the refusal is the
view's rule (:meth:`cdfs.mount.view.View.unlink` and its siblings); what a burn
does about names that did go away is :func:`cdfs.burn.snapshot.drop_burned`'s.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdfs.errors import BurnInProgressError


class Frozen:
    """The paths the running burn records (empty when no burn runs)."""

    def __init__(self) -> None:
        self._paths: frozenset[bytes] = frozenset()
        self._inodes: frozenset[int] = frozenset()

    def hold_links(self, inodes: Iterable[int]) -> None:
        """The snapshot holds one hard link to each of these staged files
        (inode numbers in the staging tree), also in a simulation."""
        self._inodes = frozenset(inodes)

    def links(self, st_ino: int) -> int:
        """Hard links the snapshot holds to the staged file ``st_ino`` (0 or
        1): a staged file's own names are its st_nlink less these, and a
        file the snapshot holds is copied before it is changed.  The inode
        number stays the file's while held: a held file is never freed."""
        return int(st_ino in self._inodes)

    def freeze(self, rels: Iterable[bytes]) -> None:
        """Hold ``rels`` (relative staged paths) and the directories above them."""
        paths: set[bytes] = set()
        for rel in rels:
            while rel and rel not in paths:
                paths.add(rel)
                rel = rel.rpartition(b"/")[0]
        self._paths = frozenset(paths)

    def thaw(self) -> None:
        self._paths = frozenset()
        self._inodes = frozenset()

    def refuse(self, rel: bytes, what: str) -> None:
        """EBUSY for ``what`` (delete, rename) of a held path: on a
        write-once disc its burned copy could never be deleted after."""
        if rel in self._paths:
            raise BurnInProgressError(
                f"cannot {what} {rel.decode(errors='replace')!r} while a burn is recording it: "
                "on a write-once disc it stays as burned; new files and new versions of "
                "files can still be staged"
            )
