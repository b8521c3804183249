"""``python -m bench``: run all or some benchmarks and write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from . import big, endtoend, fuse_io, mastering, report
from .common import GIB, REPO, Bench, Config, remove
from .measure import can_drop_caches

log = logging.getLogger("bench")

BENCHMARKS: dict[str, Callable[[Bench], None]] = {
    **fuse_io.GROUP,
    **mastering.GROUP,
    **endtoend.GROUP,
    **big.GROUP,
}

NEEDS_GIB = {True: 6, False: 24}
"""Free space the work directory needs (quick, full): source trees plus the
4 GiB session staged, mastered and recorded."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark cdfs against native tools and write BENCHMARKS.md.",
    )
    p.add_argument(
        "benchmarks",
        nargs="*",
        metavar="BENCHMARK",
        help=f"what to run (default: all): {', '.join(BENCHMARKS)}",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    p.add_argument("--runs", type=int, help="runs per measurement (default 5, 2 with --quick)")
    p.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="data goes into DIR/cdfs-bench, removed afterwards; put it on the disk to "
        "measure (default: the repository's parent directory)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help="results file (default BENCHMARKS.md in the repo; none with --quick or --profile)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy profiles (collapsed stacks) of cdfs into DIR; "
        "timings are perturbed, so BENCHMARKS.md is not written unless --output is given",
    )
    p.add_argument(
        "--rev",
        metavar="REV",
        help="measure cdfs as committed at REV (exported into the work dir with git archive), "
        "not the working tree that others may be editing",
    )
    p.add_argument(
        "--cdfs-path",
        type=Path,
        metavar="DIR",
        help="measure the cdfs package found in DIR (e.g. a scratch worktree)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the work dir (source trees) afterwards"
    )
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return p.parse_args(argv)


def preflight(work: Path, quick: bool) -> None:
    for tool in ("fusermount3", "xorriso", "dd", "cmp"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is missing (make deps installs it)")
    work.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(work).free / GIB
    if free < NEEDS_GIB[quick]:
        sys.exit(f"bench: {work} has {free:.0f} GiB free; {NEEDS_GIB[quick]} GiB needed")
    if not can_drop_caches():
        log.warning("not root: caches cannot be dropped, cold numbers will be warm")


def _git(*args: str) -> str:
    res = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    if res.returncode:
        sys.exit(f"bench: git {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout.strip()


def which_cdfs(args: argparse.Namespace, work: Path) -> tuple[Path | None, str]:
    """Where the measured cdfs is imported from, and how BENCHMARKS.md names it."""
    if args.cdfs_path is not None:
        return args.cdfs_path.resolve(), f"cdfs package in {args.cdfs_path}"
    if args.rev is not None:
        commit = _git("rev-parse", "--short", args.rev)
        dest = work / f"cdfs-{commit}"
        remove(dest)
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "cdfs"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return dest, f"commit {commit}"
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "cdfs")
    return None, f"working tree at commit {commit}" + (" with local changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown:
        sys.exit(f"bench: unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    work = ((args.workdir or REPO.parent) / "cdfs-bench").resolve()
    preflight(work, args.quick)
    cdfs_path, cdfs_desc = which_cdfs(args, work)
    config = Config(
        workdir=work,
        runs=args.runs or (2 if args.quick else 5),
        quick=args.quick,
        profile_dir=args.profile.resolve() if args.profile else None,
        cdfs_path=cdfs_path,
        keep=args.keep,
    )
    bench = Bench(config)
    output = args.output
    if output is None and not args.quick and args.profile is None:
        output = REPO / "BENCHMARKS.md"
    try:
        for name in args.benchmarks or BENCHMARKS:
            log.info("== %s", name)
            BENCHMARKS[name](bench)
            if output is not None:
                report.write(output, bench.results, work, cdfs_desc)
    finally:
        if not config.keep:
            remove(work)
    print("\n".join(report.table(bench.results)))
    if output is not None:
        print(f"\nwritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
