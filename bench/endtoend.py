"""End-to-end benchmarks through a real mount and ``cdfs burn --wait``:
copy a tree in, burn and verify it on the unthrottled emulated recorder,
against the same work done natively; and the daemon's memory while it
masters a DVD-sized session.
"""

from __future__ import annotations

import statistics
import subprocess
import time

from .common import (
    GIB,
    KIB,
    MIB,
    Bench,
    Mount,
    PhaseWatch,
    Result,
    Target,
    TreeSpec,
    make_tree,
    remove,
    step,
)
from .mastering import tree_spec, xorriso_cmd
from .measure import RssSampler, drop_caches, proc_status, reset_peak_rss, run


def _median_phases(runs: list[dict[str, float]]) -> str:
    names = list(dict.fromkeys(name for r in runs for name in r))
    return ", ".join(
        f"{name} {statistics.median(r.get(name, 0.0) for r in runs):.2f} s" for name in names
    )


def bench_e2e(bench: Bench) -> None:
    """cp -r into the mount + cdfs burn --wait (mastering, recording, full
    verification) vs cp -r + xorriso -as mkisofs + recording the image to a
    disc image file (dd conv=fsync, as the emulated recorder fsyncs) + cmp."""
    spec = tree_spec(bench)
    src = make_tree(bench, "tree700", spec)
    ours: list[float] = []
    theirs: list[float] = []
    our_steps: list[dict[str, float]] = []
    their_steps: list[dict[str, float]] = []
    for i in range(bench.runs):
        nat = bench.scratch("e2e-native")
        stash, image = nat / "stash.iso", nat / "disc.img"
        drop_caches()
        t = [time.perf_counter()]
        for cmd in (
            ["cp", "-r", str(src), str(nat / "tree")],
            xorriso_cmd(nat / "tree", stash),
            ["dd", f"if={stash}", f"of={image}", "bs=1M", "conv=fsync", "status=none"],
            ["cmp", str(stash), str(image)],
        ):
            run(cmd)
            t.append(time.perf_counter())
        theirs.append(t[-1] - t[0])
        names = ("cp", "mastering", "recording", "cmp")
        their_steps.append({n: b - a for n, a, b in zip(names, t[:-1], t[1:], strict=True)})
        remove(nat)

        home = bench.scratch("home-e2e")
        disc = bench.make_disc(home / "disc.iso", "dvd+r", home)
        with Mount(bench, disc, bench.work / "mnt-e2e", home) as m:
            drop_caches()
            t0 = time.perf_counter()
            with bench.profile(m.pid, "e2e", when=i == 0):
                subprocess.run(["cp", "-r", str(src), str(m.path / "tree")], check=True)
                t1 = time.perf_counter()
                with PhaseWatch(m, interval=0.05) as watch:
                    last = m.burn()
                t2 = time.perf_counter()
            assert last.get("ok"), last
            ours.append(t2 - t0)
            our_steps.append({"cp": t1 - t0, **watch.durations(t2)})
        remove(home)
    bench.add(
        Result(
            key="e2e",
            what=f"end to end: cp -r {spec.total_bytes / 1e6:.0f} MB in, burn, full verify"
            " (unthrottled emulated DVD+R)",
            unit="s",
            cdfs=ours,
            baseline=theirs,
            baseline_name="cp + xorriso + dd conv=fsync + cmp",
            target=Target("<=", 2.5),
            cache="cold (caches dropped before each run)",
            notes=[
                f"cdfs steps: {_median_phases(our_steps)}",
                f"native steps: {_median_phases(their_steps)}",
            ],
        )
    )


def dvd_spec(bench: Bench) -> TreeSpec:
    """About 4 GiB: 15 x 256 MiB + 10,000 x 24 KiB (1 GiB with --quick)."""
    if bench.config.quick:
        return TreeSpec(files=2000, size=24 * KIB, per_dir=100, big=4, big_size=256 * MIB)
    return TreeSpec(files=10000, size=24 * KIB, per_dir=100, big=15, big_size=256 * MIB)


def bench_memory(bench: Bench) -> None:
    """Peak RSS of the daemon (VmHWM, reset just before the burn) while it
    burns an about 4 GiB staged tree to an emulated DVD+R."""
    spec = dvd_spec(bench)
    src = make_tree(bench, "tree4g", spec)
    peaks: list[float] = []
    before: list[float] = []
    by_phase: list[dict[str, int]] = []
    steps: list[dict[str, float]] = []
    for i in range(bench.runs):
        home = bench.scratch("home-mem")
        disc = bench.make_disc(home / "disc.iso", "dvd+r", home)
        with Mount(bench, disc, bench.work / "mnt-mem", home) as m:
            with step(f"staging {spec.total_bytes / GIB:.1f} GiB"):
                subprocess.run(["cp", "-r", str(src), str(m.path / "tree")], check=True)
            m.status()  # the status the burn will publish, computed once before
            before.append(proc_status(m.pid)["VmRSS"] / 1024)
            reset_peak_rss(m.pid)
            with (
                bench.profile(m.pid, "memory", when=i == 0),
                PhaseWatch(m, interval=0.1) as watch,
                RssSampler(m.pid, lambda: watch.phase) as sampler,
            ):
                last = m.burn()
            assert last.get("ok"), last
            steps.append(watch.durations(time.perf_counter()))
            peaks.append(proc_status(m.pid)["VmHWM"] / 1024)
            by_phase.append(sampler.peak_by_label())
        remove(home)
    phases = dict.fromkeys(k for b in by_phase for k in b)
    phase_peaks = {p: max(b.get(p, 0) for b in by_phase) / 1024 for p in phases}
    bench.add(
        Result(
            key="daemon-memory",
            what=f"daemon peak RSS while burning {spec.total_bytes / GIB:.1f} GiB "
            f"({spec.big} x {spec.big_size // MIB} MiB + {spec.files:,} x {spec.size // KIB} KiB)"
            " to a DVD+R",
            unit="MiB",
            cdfs=peaks,
            target=Target("<=", 100, on="value"),
            cache="",
            notes=[
                f"RSS before the burn {statistics.median(before):.0f} MiB",
                "peak RSS by phase: "
                + ", ".join(f"{p} {v:.0f} MiB" for p, v in phase_peaks.items()),
                f"burn phases: {_median_phases(steps)}",
            ],
        )
    )


GROUP = {
    "e2e": bench_e2e,
    "memory": bench_memory,
}
