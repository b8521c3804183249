"""The names a running burn holds: the staged paths its snapshot took.

Owns that set (each path and every directory above one) from the moment
the snapshot is taken (:func:`cdfs.snapshot.take_snapshot`) until the burn
ends (:func:`cdfs.snapshot.release_snapshot`), and the refusal, with its
reason, to let go of one of them.  Which media need the refusal is the
view's rule (:meth:`cdfs.view.View.unlink` and its siblings); what a burn
does about names that did go away is :func:`cdfs.snapshot.drop_burned`'s.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import BurnInProgressError


class Frozen:
    """The paths the running burn records (empty when no burn runs)."""

    def __init__(self) -> None:
        self._paths: frozenset[bytes] = frozenset()

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

    def refuse(self, rel: bytes, what: str) -> None:
        """EBUSY for ``what`` (delete, rename) of a held path: on a
        write-once disc its burned copy could never be deleted after."""
        if rel in self._paths:
            raise BurnInProgressError(
                f"cannot {what} {rel.decode(errors='replace')!r} while a burn is recording it: "
                "on a write-once disc it stays as burned; new files and new versions of "
                "files can still be staged"
            )
