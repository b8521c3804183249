"""Mastering benchmarks: cdfs' :func:`cdfs.iso.mastering.master_session` (in a
process of its own, see ``_master_child.py``) against ``xorriso -as
mkisofs -J -R`` on the same source tree, time and peak memory.

Rows: a 700 MB tree of big and small files; 50,000 files in one directory
(and 12,500 and 25,000, to see how the time grows); appending one file to a
disc of 50,000 files (``bench/append.py``, when present).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .common import KIB, MIB, Bench, Result, Target, TreeSpec, make_tree, remove, warm
from .measure import measured, median

log = logging.getLogger("bench")

CHILD = Path(__file__).resolve().parent / "_master_child.py"
ISSUE_APPEND_TARGET = Target("<=", 1.0)


def tree_spec(bench: Bench) -> TreeSpec:
    """3 x 200 MiB + 5,000 x 20 KiB (3 x 50 MiB + 1,000 x 20 KiB with --quick)."""
    if bench.config.quick:
        return TreeSpec(files=1000, size=20 * KIB, per_dir=100, big=3, big_size=50 * MIB)
    return TreeSpec(files=5000, size=20 * KIB, per_dir=100, big=3, big_size=200 * MIB)


def flat_counts(bench: Bench) -> list[int]:
    return [2500, 5000, 10000] if bench.config.quick else [12500, 25000, 50000]


def xorriso_cmd(src: Path, out: Path) -> list[str]:
    return ["xorriso", "-as", "mkisofs", "-quiet", "-J", "-R", "-o", str(out), str(src)]


@dataclass
class Comparison:
    ours: list[dict[str, float]]
    """What ``_master_child.py`` reports, plus wall_s and peak_kib."""
    theirs: list[float]
    their_peak_mib: list[float]


def _compare(bench: Bench, src: Path, name: str) -> Comparison:
    """Master ``src`` with cdfs and with xorriso, alternately, ``runs`` times;
    the caches hold the source (warm), the output is removed and synced
    before each run."""
    out = bench.work / "master-out.iso"
    env = bench.env(bench.work / "home-master")
    warm(src)
    child = [sys.executable, str(CHILD), str(src), str(out)]
    ours: list[dict[str, float]] = []
    theirs: list[float] = []
    xorriso_peak: list[float] = []
    for i in range(bench.runs):
        for who in ("xorriso", "cdfs") if i % 2 == 0 else ("cdfs", "xorriso"):
            remove(out)
            os.sync()
            if who == "cdfs":
                u = measured(child, env=env)
                stats = json.loads(u.stdout)
                stats["wall_s"] = u.seconds
                stats["peak_kib"] = u.peak_kib
                ours.append(stats)
            else:
                u = measured(xorriso_cmd(src, out))
                theirs.append(u.seconds)
                xorriso_peak.append(u.peak_kib / 1024)
    remove(out)
    bench.profile_command(child, name)
    remove(out)
    return Comparison(ours, theirs, xorriso_peak)


def _seconds(stats: list[dict[str, float]]) -> list[float]:
    """The time the daemon would spend: listing the tree plus mastering
    (the interpreter's start-up and imports are not part of a burn)."""
    return [s["walk_s"] + s["master_s"] for s in stats]


def bench_tree(bench: Bench) -> None:
    spec = tree_spec(bench)
    src = make_tree(bench, "tree700", spec)
    c = _compare(bench, src, "master-tree")
    ours = c.ours
    what = (
        f"mastering {spec.total_bytes / 1e6:.0f} MB ({spec.big} x {spec.big_size // MIB} MiB"
        f" + {spec.files:,} x {spec.size // KIB} KiB) to the stash"
    )
    walk = median([s["walk_s"] for s in ours])
    wall = median([s["wall_s"] for s in ours])
    bench.add(
        Result(
            key="master-tree",
            what=what,
            unit="s",
            cdfs=_seconds(ours),
            baseline=c.theirs,
            baseline_name="xorriso -as mkisofs -J -R",
            target=Target("<=", 1.0),
            cache="warm source; output synced away before each run",
            notes=[
                f"cdfs: tree walk {walk:.2f} s of it; whole process incl. Python start-up "
                f"{wall:.2f} s"
            ],
        )
    )
    start = median([s["rss_start_kib"] for s in ours]) / 1024
    bench.add(
        Result(
            key="master-tree-mem",
            what=f"peak memory (VmHWM) of the process mastering the {spec.total_bytes / 1e6:.0f}"
            " MB tree",
            unit="MiB",
            cdfs=[s["peak_kib"] / 1024 for s in ours],
            baseline=c.their_peak_mib,
            baseline_name="xorriso",
            target=Target("<=", 64, on="value"),
            cache="",
            notes=[f"cdfs: {start:.1f} MiB of it is the interpreter with cdfs imported"],
        )
    )


def bench_flat(bench: Bench) -> None:
    counts = flat_counts(bench)
    per_file: dict[int, float] = {}
    peak: dict[int, float] = {}
    for n in counts:
        src = make_tree(bench, f"flat{n}", TreeSpec(files=n, size=KIB, per_dir=0, name_salt=True))
        c = _compare(bench, src, f"master-flat{n}")
        ours = c.ours
        peak[n] = median([s["peak_kib"] / 1024 for s in ours])
        r = bench.add(
            Result(
                key=f"master-flat{n}",
                what=f"mastering {n:,} files of 1 KiB in one directory",
                unit="s",
                cdfs=_seconds(ours),
                baseline=c.theirs,
                baseline_name="xorriso -as mkisofs -J -R",
                target=Target("<=", 1.0),
                cache="warm source",
                notes=[
                    f"peak memory: cdfs {peak[n]:.0f} MiB, xorriso"
                    f" {median(c.their_peak_mib):.0f} MiB"
                ],
            )
        )
        per_file[n] = r.median / n
    lo, hi = counts[0], counts[-1]
    growth = per_file[hi] * hi / (per_file[lo] * lo)
    bench.add(
        Result(
            key="master-flat-growth",
            what=f"growth of cdfs' mastering time from {lo:,} to {hi:,} files"
            f" (linear: {hi / lo:g}x)",
            unit="x",
            cdfs=[growth],
            target=Target("<=", hi / lo * 1.1, on="value"),
            notes=[
                "time per file: " + ", ".join(f"{n:,}: {per_file[n] * 1e6:.0f} µs" for n in counts),
                f"peak memory grows by {(peak[hi] - peak[lo]) * 1024 / (hi - lo):.1f} KiB per"
                " entry (pycdlib keeps every directory record as Python objects)",
            ],
        )
    )


def bench_append(bench: Bench) -> None:
    """Appending one small file to a disc of 50,000 files.

    HOOK: another engineer writes ``bench/append.py``; its function is
    called here when it exists (see :func:`_append_entry`)."""
    fn = _append_entry()
    if fn is None:
        log.warning("bench/append.py is not there yet: the append row is skipped")
        return
    before = len(bench.results)
    fn(bench)
    for r in bench.results[before:]:
        if r.key.startswith("append") and r.base_median is not None:
            # The issue's goal is xorriso's time or better; append.py checks
            # its own bound, kept as a note.
            if r.target != ISSUE_APPEND_TARGET:
                r.notes.append(f"bench/append.py's own bound: {r.target}")
            r.target = ISSUE_APPEND_TARGET


def _append_entry() -> Callable[[Bench], object] | None:
    try:
        mod = importlib.import_module("bench.append")
    except ModuleNotFoundError:
        return None
    for name in ("bench_append", "run", "main"):
        fn = getattr(mod, name, None)
        if callable(fn):
            found: Callable[[Bench], object] = fn
            return found
    return None


GROUP = {
    "master-tree": bench_tree,
    "master-flat": bench_flat,
    "append": bench_append,
}
