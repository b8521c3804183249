"""File system benchmarks: data and metadata through a real cdfs mount,
each against the same operation on a native directory of the same disk.

Rows: sequential write and read of a big file (dd bs=1M), ``cp -r`` of
many small files, and ``ls -lR`` / ``find`` over staged plus burned files.
The two sides alternate run by run (and which goes first alternates too),
so that both see the same machine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .common import (
    GIB,
    KIB,
    MIB,
    Bench,
    Mount,
    Result,
    Target,
    TreeSpec,
    make_tree,
    remove,
    step,
    warm,
)
from .measure import cpu_seconds, drop_caches, median, run, throughput, timed

Cmd = Sequence[str | Path]


def big_size(bench: Bench) -> int:
    return 256 * MIB if bench.config.quick else GIB


def small_spec(bench: Bench) -> TreeSpec:
    """5,000 files of 20 KiB in 50 directories of 100 (1,000 with --quick)."""
    return TreeSpec(files=1000 if bench.config.quick else 5000, size=20 * KIB, per_dir=100)


@dataclass
class Pair:
    """Samples of one measurement on the mount and natively."""

    cdfs: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """The daemon's CPU seconds during each cdfs run."""

    def notes(self) -> list[str]:
        return [f"daemon CPU {median(self.cpu):.2f} s per run (median)"]


def measure_pair(
    bench: Bench,
    m: Mount,
    name: str,
    commands: tuple[Cmd, Cmd],
    before: Callable[[bool], None],
    value: Callable[[float], float] = lambda seconds: seconds,
) -> Pair:
    """Run ``commands`` (native, on the mount) ``runs`` times each,
    alternating, with ``before(on_mount)`` untimed ahead of every run."""
    pair = Pair()
    for i in range(bench.runs):
        for on_mount in (False, True) if i % 2 == 0 else (True, False):
            before(on_mount)
            if not on_mount:
                pair.base.append(value(timed(commands[0])))
                continue
            c0 = cpu_seconds(m.pid)
            with bench.profile(m.pid, name, when=i == 0):
                seconds = timed(commands[1])
            pair.cpu.append(cpu_seconds(m.pid) - c0)
            pair.cdfs.append(value(seconds))
    return pair


def _dd_write(target: Path, size: int, fsync: bool) -> list[str]:
    cmd = ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={size // MIB}", "status=none"]
    return [*cmd, "conv=fsync"] if fsync else cmd


def bench_write(bench: Bench) -> None:
    """dd bs=1M of a big file into the mount vs into a native directory."""
    size = big_size(bench)
    home = bench.scratch("home-write")
    native = bench.scratch("native-write")
    disc = bench.make_disc(home / "disc.iso", "dvd+r", home)
    with Mount(bench, disc, bench.work / "mnt-write", home) as m:
        for fsync in (False, True):
            files = (native / "big.bin", m.path / "big.bin")

            def before(on_mount: bool, files: tuple[Path, Path] = files) -> None:
                for f in files:
                    f.unlink(missing_ok=True)
                drop_caches()

            pair = measure_pair(
                bench,
                m,
                f"write-{'fsync' if fsync else 'cache'}",
                (_dd_write(files[0], size, fsync), _dd_write(files[1], size, fsync)),
                before,
                lambda seconds: throughput(size, seconds),
            )
            before(False)
            label = "conv=fsync: data on the disk" if fsync else "no fsync: into the page cache"
            bench.add(
                Result(
                    key=f"write-{'fsync' if fsync else 'cache'}",
                    what=f"sequential write, dd bs=1M of {size // MIB} MiB ({label})",
                    unit="MB/s",
                    cdfs=pair.cdfs,
                    baseline=pair.base,
                    baseline_name="native dir",
                    target=Target(">=", 0.75),
                    cache="cold start (caches dropped before each run)",
                    notes=pair.notes(),
                )
            )


def _file_offset(disc: Path, name: str) -> tuple[int, int]:
    """(byte offset, size) of a file's data in a one-session disc image, as
    xorriso (an independent reader) reports it."""
    out = run(
        ["xorriso", "-indev", f"stdio:{disc}", "-find", f"/{name}", "-exec", "report_lba"],
        stdout=subprocess.PIPE,
    ).stdout.decode()
    for line in out.splitlines():
        if line.startswith("File data lba:"):
            _xt, lba, _blocks, size, _path = (f.strip() for f in line.split(":", 1)[1].split(","))
            return int(lba) * 2048, int(size)
    raise RuntimeError(f"xorriso does not show /{name} in {disc}:\n{out}")


def bench_read(bench: Bench) -> None:
    """dd bs=1M of a burned file through the mount vs the same bytes read
    from the disc image natively."""
    size = big_size(bench)
    src = make_tree(bench, "onebig", TreeSpec(big=1, big_size=size))
    home = bench.scratch("home-read")
    disc = bench.make_disc(home / "disc.iso", "dvd+r", home)
    with Mount(bench, disc, bench.work / "mnt-read", home) as m:
        with step("burning the file to read"):
            subprocess.run(["cp", src / "big" / "big0.bin", m.path / "big.bin"], check=True)
            m.burn()
        offset, length = _file_offset(disc, "big.bin")
        assert length == size
        native = ["dd", f"if={disc}", "of=/dev/null", "bs=1M", "status=none"]
        native += [f"skip={offset}", f"count={size}", "iflag=skip_bytes,count_bytes"]
        mounted = ["dd", f"if={m.path / 'big.bin'}", "of=/dev/null", "bs=1M", "status=none"]
        for cold in (True, False):

            def before(on_mount: bool, cold: bool = cold) -> None:
                if cold:
                    drop_caches()
                else:
                    timed(mounted if on_mount else native)  # fill the cache

            key = f"read-{'cold' if cold else 'warm'}"
            pair = measure_pair(
                bench, m, key, (native, mounted), before, lambda seconds: throughput(size, seconds)
            )
            bench.add(
                Result(
                    key=key,
                    what=f"sequential read of a burned {size // MIB} MiB file, dd bs=1M",
                    unit="MB/s",
                    cdfs=pair.cdfs,
                    baseline=pair.base,
                    baseline_name="disc image",
                    target=Target(">=", 0.9),
                    cache="cold (caches dropped)" if cold else "warm (read just before)",
                    notes=pair.notes(),
                )
            )


def bench_cp_small(bench: Bench) -> None:
    """cp -r of many small files into the mount vs into a native directory."""
    spec = small_spec(bench)
    src = make_tree(bench, "small", spec)
    home = bench.scratch("home-cp")
    native = bench.scratch("native-cp")
    disc = bench.make_disc(home / "disc.iso", "cd-r80", home)
    with Mount(bench, disc, bench.work / "mnt-cp", home) as m:

        def before(on_mount: bool) -> None:
            remove((m.path if on_mount else native) / "small")
            drop_caches()
            warm(src)

        pair = measure_pair(
            bench,
            m,
            "cp-small",
            (["cp", "-r", src, native / "small"], ["cp", "-r", src, m.path / "small"]),
            before,
        )
        bench.add(
            Result(
                key="cp-small",
                what=f"cp -r of {spec.files:,} files of {spec.size // KIB} KiB "
                f"({spec.files // spec.per_dir} dirs)",
                unit="s",
                cdfs=pair.cdfs,
                baseline=pair.base,
                baseline_name="native cp",
                target=Target("<=", 3.0),
                cache="source in the page cache, destination cold",
                notes=pair.notes(),
            )
        )


def bench_listing(bench: Bench) -> None:
    """ls -lR and find over staged plus burned files vs a native copy."""
    spec = small_spec(bench)
    src = make_tree(bench, "small", spec)
    home = bench.scratch("home-list")
    native = bench.scratch("native-list")
    disc = bench.make_disc(home / "disc.iso", "cd-r80", home)
    for sub in ("burned", "staged"):
        subprocess.run(["cp", "-r", src, native / sub], check=True)
    with Mount(bench, disc, bench.work / "mnt-list", home) as m:
        with step(f"burning {spec.files} files, staging {spec.files} more"):
            subprocess.run(["cp", "-r", src, m.path / "burned"], check=True)
            m.burn()
            subprocess.run(["cp", "-r", src, m.path / "staged"], check=True)
        for tool in (["ls", "-lR"], ["find"]):
            for cold in (True, False):

                def before(on_mount: bool, cold: bool = cold, tool: list[str] = tool) -> None:
                    if cold:
                        drop_caches()
                    else:
                        timed([*tool, m.path if on_mount else native])

                key = f"{tool[0]}-{'cold' if cold else 'warm'}"
                pair = measure_pair(bench, m, key, ([*tool, native], [*tool, m.path]), before)
                bench.add(
                    Result(
                        key=key,
                        what=f"`{' '.join(tool)}` over {spec.files:,} staged + "
                        f"{spec.files:,} burned files",
                        unit="s",
                        cdfs=pair.cdfs,
                        baseline=pair.base,
                        baseline_name="native",
                        target=Target("<=", 3.0),
                        cache="cold (caches dropped before each run)"
                        if cold
                        else "warm (run just before, within the 5 s attribute timeout)",
                        notes=pair.notes(),
                    )
                )


GROUP = {
    "write": bench_write,
    "read": bench_read,
    "cp": bench_cp_small,
    "ls": bench_listing,
}
