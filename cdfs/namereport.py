"""Which staged names readers of the disc will see differently.

Rock Ridge (Linux, macOS) keeps every name exactly; Joliet (what Windows
reads) and plain ISO 9660 (strict readers) cannot.  This module computes,
for ``cdfs status``, the names those views will show instead, with the
same mapping mastering uses (:mod:`cdfs.isonames`).  It only reads.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from . import names
from .discread import DiscEntry
from .isonames import iso_names, joliet_names
from .staging import Upper, is_reserved

LIMIT = 50
"""How many renamed paths the status lists per view."""


def name_changes(upper: Upper, disc: DiscEntry | None) -> dict[str, Any]:
    """``{"joliet": [...], "iso": [...], "joliet_count": n, "iso_count": n}``
    where each list item is ``{"path": str, "as": str}`` for a staged name."""
    joliet: list[dict[str, str]] = []
    iso: list[dict[str, str]] = []
    counts = {"joliet": 0, "iso": 0}
    for rel, dnames, fnames, fd in upper.walk():
        node: DiscEntry | None = disc
        for part in rel.split(b"/") if rel else []:
            node = node.children.get(part) if node is not None else None
        staged = {
            n: stat.S_ISDIR(os.lstat(n, dir_fd=fd).st_mode)
            for n in [*dnames, *fnames]
            if not is_reserved(n)
        }
        hidden = {
            n[len(names.WHITEOUT_PREFIX) :] for n in fnames if n.startswith(names.WHITEOUT_PREFIX)
        }
        children = {
            n: stat.S_ISDIR(e.mode)
            for n, e in (node.children.items() if node else ())
            if n not in hidden
        }
        children.update(staged)
        decoded = [(n.decode("utf-8", errors="replace"), d) for n, d in children.items()]
        burned = {n.decode("utf-8", errors="replace") for n in children if n not in staged}
        j_names = joliet_names(decoded, first=burned)
        i_names = iso_names(decoded)
        for name in sorted(staged):
            text = name.decode("utf-8", errors="replace")
            path = (rel + b"/" + name if rel else name).decode("utf-8", errors="replace")
            if j_names[text] != text:
                counts["joliet"] += 1
                if len(joliet) < LIMIT:
                    joliet.append({"path": path, "as": j_names[text]})
            shown = i_names[text].decode("ascii").removesuffix(";1").rstrip(".")
            if shown != text:
                counts["iso"] += 1
                if len(iso) < LIMIT:
                    iso.append({"path": path, "as": shown})
    return {
        "joliet": joliet,
        "iso": iso,
        "joliet_count": counts["joliet"],
        "iso_count": counts["iso"],
    }
