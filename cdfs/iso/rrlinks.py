"""Rock Ridge symbolic links: the longest target a session may hold, how a
target is cut into SL entries, and how an SL target is read back.

This module owns the encoding of a target as RRIP 1.12 (IEEE P1282) 4.1.3
SL entries and its decoding, so that the mastering side
(:mod:`cdfs.iso.rockridge` puts the entries into pycdlib's records) and the
reading side (:mod:`cdfs.iso.discread`) agree byte for byte.  It touches neither
pycdlib nor the disc.

An SL entry holds at most 250 bytes of *component records* (flags, length,
text); a component flagged CONTINUE goes on in the next one, and an entry
flagged CONTINUE is followed by another SL entry (maybe in a continuation
area).  The readers that matter put a target together differently, so the
rules here keep to what all of them read the same way (from their sources):

- Linux ``fs/isofs/rock.c`` (``get_symlink_chunk``) and isoinfo
  (cdrkit ``parse_rr``) write a ``/`` after every component that is neither
  ROOT nor CONTINUE, whatever entry it ends; so does this module's reader.
- libarchive (``parse_rockridge_SL1``, bsdtar and file managers) starts
  every SL entry without a separator: an entry ending with a complete
  component loses the ``/`` after it (``a/b`` read as ``ab``).  So every
  entry but the last ends with a CONTINUE component: a piece of a name cut
  there, or an empty one when nothing can be cut (a ``.``, ``..`` or ROOT
  component, or a name of one byte, comes next).
- libisofs (``read_rr_SL``, xorriso) writes no separator after a target
  that already ends in ``/``: an empty component between two slashes is lost
  (``a//b`` read as ``a/b``).  So, as mkisofs and xorriso write them, each
  slash that does not separate two components is a ROOT component; only a
  trailing slash is an empty component.
- ``.`` and ``..`` are CURRENT and PARENT components (a name piece that
  happens to be ``.`` stays text: readers add text as it is).

Limits: libisofs refuses to load a session holding a target of
``LIBISOFS_NODE_PATH_MAX`` (1024) bytes or more (``fs_image.c``
``ifs_readlink``: ``len >= bufsiz`` is ISO_RR_PATH_TOO_LONG, a FAILURE that
cancels loading the whole tree), hence :data:`TARGET_MAX`.  isoinfo holds
2,043 bytes (``xname[2048]`` holds ``-> ``, the target, a ``/`` and a NUL;
longer ones overflow it) and the kernel a page less one byte (4,095);
libarchive has no limit.  isoinfo's listing also drops a trailing ``/`` of
every target (``parse_rr``, once per area of SUSP entries it reads), so a
target ending in ``/`` shows without it there; no encoding avoids that.
"""

from __future__ import annotations

from collections import deque

CONTINUE, CURRENT, PARENT, ROOT = 0x01, 0x02, 0x04, 0x08
"""Component flags (RRIP 4.1.3.1); CONTINUE is also the SL entry's flag."""

TARGET_MAX = 1023
"""Longest symlink target in bytes that every reader reads back (xorriso's
limit, see above)."""

ENTRY_MAX = 250
"""Bytes of component records in one SL entry: its length byte holds at
most 255, of which 5 are the entry's header."""

HEADER = 5
"""``SL``, length, version, flags."""

Component = tuple[int, bytes]
"""Flags and text of one component record."""


def components(target: bytes) -> list[Component]:
    """The component records of ``target``, none cut yet: names as text,
    ``.``/``..`` as CURRENT/PARENT, each slash that does not separate two
    components as ROOT, a trailing slash as an empty last component."""
    parts = target.split(b"/")
    out: list[Component] = []
    for i, part in enumerate(parts):
        if part == b".":
            out.append((CURRENT, b""))
        elif part == b"..":
            out.append((PARENT, b""))
        elif part:
            out.append((0, part))
        elif i < len(parts) - 1:
            out.append((ROOT, b""))  # a leading slash, or one of two in a row
        elif out and out[-1][0] != ROOT:
            out.append((0, b""))  # a trailing slash after a component
    return out


def entries(target: bytes, first: int = ENTRY_MAX) -> list[bytes]:
    """The bodies (flags byte, then component records) of the SL entries
    holding ``target``, the first with room for ``first`` bytes of component
    records (at least 2: what is left in the directory record), the others
    for :data:`ENTRY_MAX`."""
    assert first >= 2, first
    todo = deque(components(target))
    out: list[bytearray] = []
    body, room = bytearray(), first
    while todo:
        flags, text = todo[0]
        size = 2 + len(text)
        # Keep room for the CONTINUE component that ends a full entry.
        if size <= room - len(body) - (2 if len(todo) > 1 else 0):
            body += bytes((flags, len(text))) + text
            todo.popleft()
            continue
        cut = max(0, min(len(text) - 1, room - len(body) - 2)) if flags == 0 else 0
        body += bytes((CONTINUE, cut)) + text[:cut]
        if cut:
            todo[0] = (0, text[cut:])
        out.append(body)
        body, room = bytearray(), ENTRY_MAX
    out.append(body)
    return [bytes((CONTINUE if i < len(out) - 1 else 0,)) + b for i, b in enumerate(out)]


def length_bound(target_length: int) -> int:
    """An upper bound of the bytes (headers included) that the SL entries of
    any target of ``target_length`` bytes take, wherever the first starts.
    Component records take at most twice the target's length (a slash is a
    ROOT component of two bytes) plus an empty last component; each entry
    adds its header and at most one empty CONTINUE component, and every
    entry but the first and the last is filled to within 4 bytes."""
    records = 2 * target_length + 2
    count = 2 + records // (ENTRY_MAX - 4) + 1
    return records + count * (HEADER + 2)


def target(records: bytes) -> bytes:
    """The target that the component records of a symlink's SL entries
    (concatenated, in order, without the entries' headers) spell: a ``/``
    between two components unless the first is ROOT or CONTINUE, as the
    kernel reads them.  Unknown flags are taken for text."""
    out = bytearray()
    pos, separate = 0, False
    while pos + 2 <= len(records):
        flags, size = records[pos], records[pos + 1]
        text = records[pos + 2 : pos + 2 + size]
        pos += 2 + size
        if separate:
            out += b"/"
        if flags & ROOT:
            out += b"/"
            separate = False
            continue
        out += b"." if flags & CURRENT else b".." if flags & PARENT else text
        separate = not flags & CONTINUE
    return bytes(out)
