"""Which staged names readers of the disc will see differently.

Rock Ridge (Linux, macOS) keeps every name exactly; Joliet (what Windows
reads) and plain ISO 9660 (strict readers) cannot.  This module computes,
for ``cdfs status``, the names those views will show instead, with the
same mapping mastering uses (:mod:`cdfs.iso.isonames`).  It only reads.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from cdfs import names
from cdfs.iso.discread import DiscEntry
from cdfs.iso.isonames import iso_names, joliet_names
from cdfs.mount.staging import Upper, is_reserved

LIMIT = 50
"""How many renamed paths the status lists for Windows (Joliet)."""


def name_changes(upper: Upper, disc: DiscEntry | None) -> dict[str, Any]:
    """What readers other than Rock Ridge ones will see of the staged names:

    - ``joliet``: up to :data:`LIMIT` items ``{"path": str, "as": str}``,
      each a staged name Windows shows otherwise (shortened, characters
      replaced, numbered ``~N``), and ``joliet_count``, how many there are;
    - ``joliet_symlinks``: staged symbolic links, which the Joliet tree
      leaves out (Windows does not see them);
    - ``iso_count``: staged names that readers of plain ISO 9660 (neither
      Rock Ridge nor Joliet) see changed beyond upper case, which most of
      them show in lower case anyway: a count, not a list.

    Joliet names are chosen as mastering chooses them
    (:func:`cdfs.iso.mastering._plan`): symlinks have none, and files already on
    the disc keep theirs."""
    joliet: list[dict[str, str]] = []
    counts = {"joliet": 0, "iso": 0, "symlinks": 0}
    for rel, dnames, fnames, fd in upper.walk():
        node: DiscEntry | None = disc
        for part in rel.split(b"/") if rel else []:
            node = node.children.get(part) if node is not None else None
        staged = {
            n: stat.S_IFMT(os.lstat(n, dir_fd=fd).st_mode)
            for n in [*dnames, *fnames]
            if not is_reserved(n)
        }
        hidden = {
            n[len(names.WHITEOUT_PREFIX) :] for n in fnames if n.startswith(names.WHITEOUT_PREFIX)
        }
        children = {
            n: stat.S_IFMT(e.mode)
            for n, e in (node.children.items() if node else ())
            if n not in hidden
        }
        on_disc = {n for n, k in children.items() if k == stat.S_IFDIR}
        children.update(staged)
        text = {n: n.decode("utf-8", errors="replace") for n in children}
        kinds = [(text[n], k == stat.S_IFDIR) for n, k in children.items()]
        in_joliet = [(text[n], k == stat.S_IFDIR) for n, k in children.items() if k != stat.S_IFLNK]
        burned = {text[n] for n, k in children.items() if n not in staged and k == stat.S_IFREG}
        j_names = joliet_names(in_joliet, first=burned)
        i_names = iso_names(kinds)
        for name in sorted(staged):
            if staged[name] == stat.S_IFDIR and name in on_disc:
                continue  # a burned directory that holds staged files: not a new name
            path = (rel + b"/" + name if rel else name).decode("utf-8", errors="replace")
            if staged[name] == stat.S_IFLNK:
                counts["symlinks"] += 1
            elif j_names[text[name]] != text[name]:
                counts["joliet"] += 1
                if len(joliet) < LIMIT:
                    joliet.append({"path": path, "as": j_names[text[name]]})
            iso = i_names[text[name]].decode("ascii").removesuffix(";1").rstrip(".")
            if iso != text[name].upper():
                counts["iso"] += 1
    return {
        "joliet": joliet,
        "joliet_count": counts["joliet"],
        "joliet_symlinks": counts["symlinks"],
        "iso_count": counts["iso"],
    }
