"""Masters one source tree as cdfs' burn does, in a process of its own, and
prints its timings and memory as JSON (run by :mod:`bench.mastering`).

Run as a script, not with ``-m``: it imports nothing from ``bench``, so that
``PYTHONPATH`` alone decides which cdfs is measured (``--cdfs-path``).

usage: python bench/_master_child.py SOURCE_DIR OUT_IMAGE [START_LBA]
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path


def _kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main() -> None:
    from cdfs.iso.mastering import Kind, MasterEntry, master_session
    from cdfs.units import Lba

    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    start = Lba(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    rss_start = _kib("VmRSS")
    t0 = time.perf_counter()
    # The records burn.take_snapshot makes of staged files.
    entries: list[MasterEntry] = []
    root = os.fsencode(src)
    for top, dirs, files, fd in os.fwalk(root):
        rel = os.path.relpath(top, root)
        prefix = () if rel == b"." else tuple(rel.split(b"/"))
        for name in sorted(dirs + files):
            st = os.lstat(name, dir_fd=fd)
            if stat.S_ISDIR(st.st_mode):
                kind, size, source = Kind.DIR, 0, None
            elif stat.S_ISREG(st.st_mode):
                kind, size = Kind.FILE, st.st_size
                source = os.fsdecode(os.path.join(top, name))  # a str, as the snapshot's
            else:
                continue
            entries.append(
                MasterEntry(
                    path=(*prefix, name),
                    kind=kind,
                    mode=stat.S_IMODE(st.st_mode),
                    uid=st.st_uid,
                    gid=st.st_gid,
                    mtime_ns=st.st_mtime_ns,
                    atime_ns=st.st_atime_ns,
                    size=size,
                    source=source,
                )
            )
    entries.sort(key=lambda e: e.path)
    t1 = time.perf_counter()
    sectors = master_session(entries, out, start=start, label="BENCH")
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "entries": len(entries),
                "sectors": int(sectors),
                "walk_s": t1 - t0,
                "master_s": t2 - t1,
                "rss_start_kib": rss_start,
                "hwm_kib": _kib("VmHWM"),
            }
        )
    )


if __name__ == "__main__":
    main()
