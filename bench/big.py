"""Big discs (issue 18): 100,000 to 500,000 files per session.

Rows:

- ``big-master100k`` / ``big-master500k`` (+ ``-mem``): mastering 100,000
  files of 100 bytes in 1,000 directories (500,000 in 1,000 with 500 each)
  with cdfs' :func:`cdfs.iso.mastering.master_session` (in a process of its
  own, ``_master_child.py``) against ``xorriso -as mkisofs -J -R``,
  alternated; genisoimage measured in the same runs, given in the notes;
- ``big-mount`` / ``big-ls`` / ``big-find`` / ``big-status``: a disc whose
  one session holds the 500,000 files (mastered by xorriso, recorded on an
  emulated BD-R): the time ``cdfs mount`` takes to come up (it reads the
  session's tree) against ``xorriso -indev ... -find /``, then ``ls -lR``,
  ``find`` and the status attribute on the mount against ``ls -lR`` and
  ``find`` of the source tree on ext4;
- ``big-burn-memory``: the daemon's peak RSS (VmHWM, reset before the burn)
  while it burns 100,000 staged files to an emulated BD-R.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from .append import _child_cmd
from .common import Bench, Mount, Result, Target, TreeSpec, make_tree, remove, step, warm
from .measure import measured, median, proc_status, reset_peak_rss, timed

log = logging.getLogger("bench")

CHILD = Path(__file__).resolve().parent / "_master_child.py"
SIZE = 100


def _spec(bench: Bench, files: int) -> TreeSpec:
    if bench.config.quick:
        files //= 20
    return TreeSpec(files=files, size=SIZE, per_dir=max(1, files // 1000))


def _master_rows(bench: Bench, files: int, key: str) -> None:
    spec = _spec(bench, files)
    src = make_tree(bench, f"big{spec.files}", spec)
    warm(src)
    out = bench.work / "big-out.iso"
    env = bench.env(bench.work / "home-big")
    ours: list[dict[str, float]] = []
    xorriso: list[tuple[float, float]] = []
    geniso: list[tuple[float, float]] = []
    order = ("cdfs", "xorriso", "genisoimage")
    for i in range(bench.runs):
        for who in order[i % 3 :] + order[: i % 3]:
            remove(out)
            os.sync()
            if who == "cdfs":
                u = measured([sys.executable, CHILD, src, out], env=env)
                stats = json.loads(u.stdout)
                stats["wall_s"], stats["peak_kib"] = u.seconds, u.peak_kib
                ours.append(stats)
            else:
                tool = ["xorriso", "-as", "mkisofs"] if who == "xorriso" else [who]
                cmd: list[str | os.PathLike[str]] = [*tool, "-quiet", "-J", "-R", "-o", out, src]
                u = measured(cmd)
                (xorriso if who == "xorriso" else geniso).append((u.seconds, u.peak_kib / 1024))
    remove(out)
    n = f"{spec.files:,}"
    gen_s, gen_m = median([s for s, _m in geniso]), median([m for _s, m in geniso])
    walk = median([s["walk_s"] for s in ours])
    bench.add(
        Result(
            key=key,
            what=f"mastering {n} files of {SIZE} bytes in {spec.files // spec.per_dir:,}"
            " directories (whole process)",
            unit="s",
            cdfs=[s["wall_s"] for s in ours],
            baseline=[s for s, _m in xorriso],
            baseline_name="xorriso -as mkisofs -J -R",
            target=Target("<=", 1.0),
            cache="warm source",
            notes=[
                f"genisoimage -J -R: {gen_s:.2f} s (cdfs / genisoimage"
                f" {median([s['wall_s'] for s in ours]) / gen_s:.2f})",
                f"cdfs: listing the tree {walk:.2f} s (the bench's own MasterEntry list),"
                f" master_session {median([s['master_s'] for s in ours]):.2f} s",
            ],
        )
    )
    start = median([s["rss_start_kib"] for s in ours]) / 1024
    per_file = (median([s["peak_kib"] for s in ours]) / 1024 - start) * 1024 / spec.files
    bench.add(
        Result(
            key=f"{key}-mem",
            what=f"peak memory (VmHWM) mastering the {n} files",
            unit="MiB",
            cdfs=[s["peak_kib"] / 1024 for s in ours],
            baseline=[m for _s, m in xorriso],
            baseline_name="xorriso",
            target=Target("<=", 1.0),
            notes=[
                f"genisoimage: {gen_m:.0f} MiB; cdfs: {start:.0f} MiB is the interpreter with"
                f" cdfs imported, about {per_file:.2f} KiB per file above it"
            ],
        )
    )


def bench_big_master(bench: Bench) -> None:
    _master_rows(bench, 100_000, "big-master100k")
    _master_rows(bench, 500_000, "big-master500k")


def _big_disc(bench: Bench, src: Path) -> Path:
    """An emulated BD-R whose one session (by xorriso) holds ``src``."""
    home = bench.work / "home-append"
    disc = bench.make_disc(bench.work / "big-disc.iso", "bd-r", home)
    image = bench.work / "big-s1.iso"
    with step("first session of the big disc"):
        subprocess.run(
            ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", image, src],
            check=True,
            timeout=3600,
            capture_output=True,
        )
        _child_cmd(bench, "record", disc, image)
    image.unlink()
    return disc


def bench_big_disc(bench: Bench) -> None:
    spec = _spec(bench, 500_000)
    src = make_tree(bench, f"big{spec.files}", spec)
    disc = _big_disc(bench, src)
    n = f"{spec.files:,}"
    mount_s: list[float] = []
    find_x: list[float] = []
    rows: dict[str, list[float]] = {"ls": [], "find": [], "status": []}
    native: dict[str, list[float]] = {"ls": [], "find": []}
    rss: list[float] = []
    mp = bench.work / "big-mnt"
    for i in range(bench.runs):
        for who in ("xorriso", "cdfs") if i % 2 == 0 else ("cdfs", "xorriso"):
            if who == "xorriso":
                find_x.append(timed(["xorriso", "-indev", f"stdio:{disc}", "-find", "/"]))
                native["ls"].append(timed(["ls", "-lR", src]))
                native["find"].append(timed(["find", src]))
                continue
            home = bench.scratch("home-big-mount")
            t0 = time.perf_counter()
            with Mount(bench, disc, mp, home) as m:
                mount_s.append(time.perf_counter() - t0)
                rows["ls"].append(timed(["ls", "-lR", mp]))
                rows["find"].append(timed(["find", mp]))
                t1 = time.perf_counter()
                m.status()
                rows["status"].append(time.perf_counter() - t1)
                rss.append(proc_status(m.pid)["VmRSS"] / 1024)
            remove(home)
    remove(disc)
    remove(Path(f"{disc}.toc"))
    mem = f"daemon RSS with the tree loaded {median(rss):.0f} MiB"
    bench.add(
        Result(
            key="big-mount",
            what=f"`cdfs mount` of a disc of {n} files until the mount is up (reads the tree)",
            unit="s",
            cdfs=mount_s,
            baseline=find_x,
            baseline_name="xorriso -indev DISC -find /",
            notes=[mem, "reported next to xorriso (no target ratio in the issue)"],
        )
    )
    for key, cmd in (("ls", "ls -lR"), ("find", "find")):
        bench.add(
            Result(
                key=f"big-{key}",
                what=f"`{cmd}` of the mounted disc of {n} files (right after the mount)",
                unit="s",
                cdfs=rows[key],
                baseline=native[key],
                baseline_name=f"{cmd} of the source tree (ext4, warm)",
                target=Target("<=", 10, on="value"),
            )
        )
    bench.add(
        Result(
            key="big-status",
            what=f"reading `user.cdfs.status` of the mounted disc of {n} files",
            unit="s",
            cdfs=rows["status"],
            target=Target("<=", 10, on="value"),
        )
    )


def bench_big_burn(bench: Bench) -> None:
    """Daemon peak RSS while burning 100,000 staged files to a BD-R."""
    spec = _spec(bench, 100_000)
    src = make_tree(bench, f"big{spec.files}", spec)
    peaks: list[float] = []
    before: list[float] = []
    took: list[float] = []
    for _ in range(bench.runs):
        home = bench.scratch("home-big-burn")
        disc = bench.make_disc(home / "disc.iso", "bd-r", home)
        with Mount(bench, disc, bench.work / "mnt-big-burn", home) as m:
            with step(f"staging {spec.files:,} files"):
                subprocess.run(["cp", "-r", str(src), str(m.path / "tree")], check=True)
            m.status()
            before.append(proc_status(m.pid)["VmRSS"] / 1024)
            reset_peak_rss(m.pid)
            t0 = time.perf_counter()
            last = m.burn()
            took.append(time.perf_counter() - t0)
            assert last.get("ok"), last
            peaks.append(proc_status(m.pid)["VmHWM"] / 1024)
        remove(home)
    bench.add(
        Result(
            key="big-burn-memory",
            what=f"daemon peak RSS while burning {spec.files:,} staged files of {SIZE} bytes"
            " to a BD-R",
            unit="MiB",
            cdfs=peaks,
            target=Target("<=", 256, on="value"),
            notes=[
                f"RSS before the burn {median(before):.0f} MiB; `cdfs burn --wait`"
                f" {median(took):.1f} s"
            ],
        )
    )


GROUP = {
    "big-master": bench_big_master,
    "big-disc": bench_big_disc,
    "big-burn": bench_big_burn,
}
