"""The ``cdfs media`` commands: making a blank emulated disc and describing
a disc (its type, state, space figures and sessions) without mounting it.

The figures are :mod:`cdfs.mount.space`'s, the same ``df`` and ``.status``
show; the rest of the command line is :mod:`cdfs.cli`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cdfs.burn.status import human_bytes
from cdfs.errors import CdfsError
from cdfs.mount.space import Figures
from cdfs.recorders.media import DiscInfo, media_type
from cdfs.units import SECTOR_SIZE


def info_dict(info: DiscInfo, space: Figures) -> dict[str, Any]:
    figures = space.as_bytes()
    for staging_only in ("staged_need_bytes", "available_bytes"):
        del figures[staging_only]
    return {
        "media": info.media.name,
        "title": info.media.title,
        "state": info.state.value,
        **figures,
        "next_writable_address": info.nwa,
        "sessions": [{"start": s.start, "length": s.length} for s in info.sessions],
    }


def cmd_media_create(args: argparse.Namespace) -> int:
    from cdfs.recorders.emulated import create_media

    rec = create_media(Path(args.path), media_type(args.type))
    info = rec.disc_info()
    print(
        f"created blank {info.media.title} at {args.path} "
        f"({human_bytes(info.capacity * SECTOR_SIZE)})"
    )
    return 0


def cmd_media_info(args: argparse.Namespace) -> int:
    from cdfs.iso.disccontents import read_contents
    from cdfs.mount.space import disc_figures
    from cdfs.recorders.opening import open_recorder

    recorder = open_recorder(args.path)
    info = recorder.disc_info()
    try:
        with recorder.open_reader() as fp:
            shown = read_contents(fp, info)
        root = shown.root  # the next session lists it again
        if shown.problem:
            room = "; free leaves out the room the next session would take to list them"
            print(f"cdfs: warning: {shown.problem}{room * (root is None)}", file=sys.stderr)
    except CdfsError as exc:
        root = None  # the table of contents is still worth showing
        print(f"cdfs: warning: cannot read the disc's files ({exc}); free leaves out the "
              "room the next session would take to list them", file=sys.stderr)  # fmt: skip
    space = disc_figures(info, root)
    d = info_dict(info, space)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"Media:     {d['title']} ({d['media']})")
    print(f"State:     {d['state']}")
    print(f"Capacity:  {human_bytes(d['capacity_bytes'])} ({info.capacity} sectors)")
    print(f"Used:      {human_bytes(d['used_bytes'])}")
    print(f"Free:      {human_bytes(d['free_bytes'])} (what files of a next session can take)")
    if space.rewrite_fits is not None:
        print(f"Rewrite:   {human_bytes(d['rewrite_available_bytes'])} free after a rewrite")
    print(f"Sessions:  {len(info.sessions)}")
    for i, s in enumerate(info.sessions, 1):
        print(f"  {i:2}: start {s.start}, length {s.length} sectors")
    return 0
