"""File system benchmarks: data and metadata through a real cdfs mount,
each against the same operation on a native directory of the same disk.

Rows: sequential write and read of a big file (dd bs=1M), ``cp -r`` of
many small files, and ``ls -lR`` / ``find`` over staged plus burned files.
"""

from __future__ import annotations

import os
import subprocess
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
    drop_caches,
    make_tree,
    remove,
    run,
    step,
    throughput,
    timed,
    warm,
)


def big_size(bench: Bench) -> int:
    return 256 * MIB if bench.config.quick else GIB


def small_spec(bench: Bench) -> TreeSpec:
    """5,000 files of 20 KiB in 50 directories of 100 (1,000 with --quick)."""
    return TreeSpec(files=1000 if bench.config.quick else 5000, size=20 * KIB, per_dir=100)


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
            cdfs: list[float] = []
            base: list[float] = []
            for i in range(bench.runs):
                for where, out in ((native, base), (m.path, cdfs)):
                    target = where / "big.bin"
                    target.unlink(missing_ok=True)
                    drop_caches()
                    name = f"write-{'fsync' if fsync else 'nofsync'}"
                    with bench.profile(m.pid, name, when=where == m.path and i == 0):
                        out.append(throughput(size, timed(_dd_write(target, size, fsync))))
                    target.unlink()
            label = "conv=fsync" if fsync else "no fsync"
            bench.add(
                Result(
                    key=f"write-{'fsync' if fsync else 'cache'}",
                    what=f"sequential write, dd bs=1M of {size // MIB} MiB ({label})",
                    unit="MB/s",
                    cdfs=cdfs,
                    baseline=base,
                    baseline_name="native dir",
                    target=Target(">=", 0.75),
                    cache="cold start (caches dropped before each run)",
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
            cdfs: list[float] = []
            base: list[float] = []
            for i in range(bench.runs):
                for cmd, out in ((native, base), (mounted, cdfs)):
                    if cold:
                        drop_caches()
                    else:
                        timed(cmd)  # fill the cache
                    name = f"read-{'cold' if cold else 'warm'}"
                    with bench.profile(m.pid, name, when=cmd is mounted and i == 0):
                        out.append(throughput(size, timed(cmd)))
            bench.add(
                Result(
                    key=f"read-{'cold' if cold else 'warm'}",
                    what=f"sequential read of a burned {size // MIB} MiB file, dd bs=1M",
                    unit="MB/s",
                    cdfs=cdfs,
                    baseline=base,
                    baseline_name="disc image",
                    target=Target(">=", 0.9),
                    cache="cold (caches dropped)" if cold else "warm (read once before)",
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
        cdfs: list[float] = []
        base: list[float] = []
        for i in range(bench.runs):
            for where, out in ((native, base), (m.path, cdfs)):
                remove(where / "small")
                os.sync()
                warm(src)
                with bench.profile(m.pid, "cp-small", when=where == m.path and i == 0):
                    out.append(timed(["cp", "-r", src, where / "small"]))
        bench.add(
            Result(
                key="cp-small",
                what=f"cp -r of {spec.files:,} files of {spec.size // KIB} KiB "
                f"({spec.files // spec.per_dir} dirs)",
                unit="s",
                cdfs=cdfs,
                baseline=base,
                baseline_name="native cp",
                target=Target("<=", 3.0),
                cache="warm source; sync before each run",
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
                cdfs: list[float] = []
                base: list[float] = []
                for i in range(bench.runs):
                    for where, out in ((native, base), (m.path, cdfs)):
                        if cold:
                            drop_caches()
                        elif i == 0:
                            timed([*tool, where])
                        name = f"{tool[0]}-{'cold' if cold else 'warm'}"
                        with bench.profile(m.pid, name, when=where == m.path and i == 0):
                            out.append(timed([*tool, where]))
                bench.add(
                    Result(
                        key=f"{tool[0]}-{'cold' if cold else 'warm'}",
                        what=f"`{' '.join(tool)}` over {spec.files:,} staged + "
                        f"{spec.files:,} burned files",
                        unit="s",
                        cdfs=cdfs,
                        baseline=base,
                        baseline_name="native",
                        target=Target("<=", 3.0),
                        cache="cold (caches dropped before each run)"
                        if cold
                        else "warm (runs back to back, within the 5 s attribute timeout)",
                    )
                )


GROUP = {
    "write": bench_write,
    "read": bench_read,
    "cp": bench_cp_small,
    "ls": bench_listing,
}
