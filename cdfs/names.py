"""Reserved names and fixed identifiers: the one place they are defined.

Control files live at the mount root; their names can never be staged.
Extended attribute names and the layout of a recorder's staging area are
here too, so that the daemon, the CLI and the tests agree on them.
"""

from __future__ import annotations

BURN_FILE = b".burn"
"""Touch or write ``key=value`` lines into it to start a burn."""

STATUS_FILE = b".status"
"""Read-only, human-readable status of the recorder and the last burn."""

CONTROL_FILES = (BURN_FILE, STATUS_FILE)

STATE_XATTR = b"user.cdfs.state"
"""Per file: ``disc`` (only on the disc) or ``staged`` (waits to be burned)."""

ERASE_XATTR = b"user.cdfs.erase"
"""Set on the mount root to ``quick`` or ``full`` to erase a rewritable disc."""

STATUS_XATTR = b"user.cdfs.status"
"""On the mount root: the status as JSON (what ``cdfs status --json`` shows)."""

# Layout of one recorder's staging area (under the XDG data directory).
STAGING_TREE = "staged"
"""The writable upper tree: new files and directories, mirrored by path."""
SNAPSHOT_DIR = "snapshot"
"""Hard links to what the running burn masters; gone when the burn ends."""
JOURNAL_FILE = "burn-journal.json"
"""Written before recording; lets a restarted daemon finish or undo a burn."""
STATUS_FILE_NAME = "status.json"
"""The last status the daemon published (kept after unmount)."""
LOCK_FILE = "lock"
DIR_ATTRS_FILE = "dir-attrs.json"
"""Staged mode, owner and time changes of directories on the disc
(:mod:`cdfs.mount.dirattrs`); private, applied by the next burn."""

RESERVED_PREFIX = b".cdfs."
"""Names in the staging tree that start with this are cdfs's bookkeeping;
users cannot create them."""
WHITEOUT_PREFIX = b".cdfs.wh."
"""``.cdfs.wh.NAME`` in a staged directory: NAME on the (rewritable) disc is
deleted in the next session."""
OPAQUE_MARKER = b".cdfs.opaque"
"""In a staged directory: it replaces a deleted disc directory of the same
name, whose contents stay hidden."""
COW_PREFIX = b".cdfs.cow."
"""Transient copies made when a file frozen by a running burn is changed."""

FSNAME = "cdfs"
FSTYPE = "fuse.cdfs"
"""A cdfs mount's type in /proc/self/mountinfo (FUSE with subtype ``cdfs``)."""
