"""Appending one small file to a disc that already holds 100,000 files.

The disc's first session (100,000 files of 1 KiB in directories of 100) is
mastered by cdfs (a disc cdfs began: the product's case) and, for the last
row, by ``xorriso -as mkisofs -R -J`` (Rock Ridge 1.10, whose directories
cdfs writes anew rather than reuse); it is recorded on an emulated CD-R, and
each run works on a fresh copy of it and adds one small file as session 2:

- ``append-master``: cdfs as its burn job does it, in a process of its own:
  read the last session's tree (:func:`cdfs.iso.disccontents.read_tree`), list it
  as the snapshot does with one new file in the root
  (:func:`cdfs.burn.snapshot.add_disc`: the directories left as they were
  are reused, :mod:`cdfs.iso.reuse`), and
  :func:`cdfs.iso.mastering.master_session` at the next writable address;
- ``append-record``: the same plus recording on the emulated recorder and
  reading the session back for verification;
- ``append-mount``: the whole user path: write the file into a cdfs mount and
  ``cdfs burn --wait`` (snapshot, checks, mastering, recording,
  verification, the new tree read back);
- ``append-master-xorriso-disc``: ``append-master`` on the disc xorriso began;
- baseline, in the same run, alternating with cdfs: ``xorriso -as mkisofs -R
  -J -C last_start,nwa -M DISC -o out.iso NEWDIR`` with the same new file
  (reads the old tree, writes the new session; no recording), on the same disc.

:func:`bench_append` returns the result rows (``python -m bench append``
calls it); ``python -m bench.append`` runs it alone and prints a table.
Both write ``bench/results/append.json``, except with ``--quick``.  The measured step runs as
``python bench/append.py child ...`` (this file as a script: it then imports
nothing from ``bench``, so ``PYTHONPATH`` alone picks the cdfs measured).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .common import Bench, Result

FILES = 100_000
QUICK_FILES = 5_000
MEDIA = "cd-r80"
NEW_NAME = "appended.txt"
NEW_DATA = b"one small file appended as the next session\n"
SCRIPT = Path(__file__).resolve()
RESULTS = SCRIPT.parent / "results" / "append.json"

log = logging.getLogger("bench")


# -- the measured step, in a process of its own --------------------------------------


def _child_append(disc: Path, new: Path, stash_dir: Path) -> dict[str, float]:
    """What the burn job does for the append, timed step by step."""
    from cdfs.burn import stash
    from cdfs.burn.snapshot import add_disc
    from cdfs.iso import disccontents
    from cdfs.iso.mastering import Kind, MasterEntry, master_session
    from cdfs.recorders.emulated import EmulatedRecorder
    from cdfs.recorders.knobs import Faults
    from cdfs.units import SECTOR_SIZE

    t0 = time.perf_counter()
    rec = EmulatedRecorder(disc, faults=Faults())
    info = rec.disc_info()
    assert info.nwa is not None
    with rec.open_reader() as fp:
        root = disccontents.read_tree(fp, info)
    assert root is not None
    st = new.stat()
    path = (new.name.encode(),)
    # What the snapshot lists of the disc with one new file in its root.
    tree: dict[tuple[bytes, ...], MasterEntry] = {}
    add_disc(tree, root, [path])
    entries = [tree[p] for p in sorted(tree)]
    entries.append(
        MasterEntry(
            path=path,
            kind=Kind.FILE,
            mode=0o644,
            uid=st.st_uid,
            gid=st.st_gid,
            mtime_ns=st.st_mtime_ns,
            atime_ns=st.st_atime_ns,
            size=st.st_size,
            source=new,
        )
    )
    t1 = time.perf_counter()
    stash_dir.mkdir(mode=0o700, exist_ok=True)  # only the default stash is created by cdfs
    image = stash.create(stash_dir, rec.ident, 0)
    try:
        with rec.open_reader() as fp:
            sectors = master_session(
                entries, image, start=info.nwa, label="APPEND", reuse_from=(fp, root.session)
            )
        t2 = time.perf_counter()
        rec.record(image, info.nwa)
        with image.open("rb") as want, rec.open_reader() as got:
            got.seek(info.nwa * SECTOR_SIZE)
            while chunk := want.read(1 << 20):
                if got.read(len(chunk)) != chunk:
                    raise RuntimeError("the recorded session differs from the stash")
    finally:
        image.unlink()
    t3 = time.perf_counter()
    return {
        "read_s": t1 - t0,
        "master_s": t2 - t1,
        "record_verify_s": t3 - t2,
        "entries": len(entries),
        "reused": sum(e.reuse is not None for e in entries),
        "sectors": sectors,
    }


def _child_record(disc: Path, image: Path) -> dict[str, float]:
    """Record ``image`` at the disc's next writable address (setup, untimed)."""
    from cdfs.recorders.emulated import EmulatedRecorder
    from cdfs.recorders.knobs import Faults

    rec = EmulatedRecorder(disc, faults=Faults())
    nwa = rec.disc_info().nwa
    assert nwa is not None
    session = rec.record(image, nwa)
    return {"start": session.start, "length": session.length}


def _msinfo(disc: Path) -> tuple[int, int]:
    from cdfs.recorders.emulated import EmulatedRecorder
    from cdfs.recorders.knobs import Faults

    info = EmulatedRecorder(disc, faults=Faults()).disc_info()
    last = info.last_session
    assert last is not None and info.nwa is not None
    return last.start, info.nwa


def _child(argv: list[str]) -> int:
    what, *args = argv
    if what == "append":
        out: Any = _child_append(Path(args[0]), Path(args[1]), Path(args[2]))
    elif what == "record":
        out = _child_record(Path(args[0]), Path(args[1]))
    elif what == "msinfo":
        out = _msinfo(Path(args[0]))
    else:
        raise SystemExit(f"unknown child command {what!r}")
    print(json.dumps(out))
    return 0


# -- the benchmark ------------------------------------------------------------------


def _child_cmd(bench: Bench, *args: str | os.PathLike[str]) -> Any:
    from .measure import run

    env = bench.env(bench.work / "home-append")
    res = run(
        [sys.executable, SCRIPT, "child", *args], env=env, stdout=subprocess.PIPE, cwd=bench.work
    )
    return json.loads(res.stdout)


def _copy_disc(src: Path, dest: Path) -> None:
    """A fresh copy of the disc and its table of contents (sparse)."""
    for suffix in ("", ".toc"):
        target = Path(str(dest) + suffix)
        target.unlink(missing_ok=True)
        subprocess.run(
            ["cp", "--sparse=always", f"{src}{suffix}", str(target)], check=True, timeout=600
        )


def _base_disc(bench: Bench, files: int, writer: str) -> Path:
    """An emulated CD-R whose one session holds ``files`` small files,
    mastered by ``writer``: cdfs (a disc cdfs began) or xorriso."""
    from .common import KIB, TreeSpec, make_tree, step
    from .measure import run

    src = make_tree(bench, f"append{files}", TreeSpec(files=files, size=KIB, per_dir=100))
    home = bench.work / "home-append"
    disc = bench.make_disc(bench.work / f"append-base-{writer}.iso", MEDIA, home)
    image = bench.work / "append-s1.iso"
    with step(f"first session: {files:,} files, by {writer}"):
        if writer == "xorriso":
            run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", image, src])
        else:
            env = bench.env(home)
            run([sys.executable, SCRIPT.parent / "_master_child.py", src, image], env=env)
        _child_cmd(bench, "record", disc, image)
    image.unlink()
    return disc


def _xorriso_append(disc: Path, newdir: Path, out: Path, msinfo: tuple[int, int]) -> float:
    from .measure import measured

    cmd = ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-C", f"{msinfo[0]},{msinfo[1]}"]
    return measured([*cmd, "-M", str(disc), "-o", str(out), str(newdir)]).seconds


def _mount_append(bench: Bench, disc: Path) -> tuple[float, float]:
    """(seconds from writing the file to ``cdfs burn --wait`` returning,
    seconds the mount took to come up)."""
    from .common import Mount, remove

    home = bench.scratch("home-append-mount")
    mp = bench.work / "append-mnt"
    remove(mp)
    t0 = time.perf_counter()
    with Mount(bench, disc, mp, home) as m:
        up = time.perf_counter() - t0
        t1 = time.perf_counter()
        (mp / NEW_NAME).write_bytes(NEW_DATA)
        last = m.burn()
        took = time.perf_counter() - t1
        if not last.get("ok") or (mp / NEW_NAME).read_bytes() != NEW_DATA:
            raise RuntimeError(f"the append through the mount failed: {last}")
    return took, up


def bench_append(bench: Bench) -> list[Result]:
    """Measure the append (see the module doc); returns the rows it added."""
    from .common import Result, Target, remove
    from .measure import median

    files = QUICK_FILES if bench.config.quick else FILES
    disc, out, stash = (bench.work / n for n in ("append.iso", "append-x.iso", "append-stash"))
    newdir = bench.scratch("append-new")
    (newdir / NEW_NAME).write_bytes(NEW_DATA)
    ours: dict[str, list[dict[str, float]]] = {"cdfs": [], "xorriso": []}
    theirs: dict[str, list[float]] = {"cdfs": [], "xorriso": []}
    mounts: list[tuple[float, float]] = []
    for writer in ("cdfs", "xorriso"):
        base = _base_disc(bench, files, writer)
        for i in range(bench.runs):
            # Alternate who goes first, so that neither always finds warm caches.
            for who in ("xorriso", "cdfs") if i % 2 == 0 else ("cdfs", "xorriso"):
                _copy_disc(base, disc)
                remove(out)
                remove(stash)
                os.sync()
                if who == "xorriso":
                    msinfo = tuple(_child_cmd(bench, "msinfo", disc))
                    took = _xorriso_append(disc, newdir, out, (msinfo[0], msinfo[1]))
                    theirs[writer].append(took)
                else:
                    t0 = time.perf_counter()
                    stats = _child_cmd(bench, "append", disc, newdir / NEW_NAME, stash)
                    stats["wall_s"] = time.perf_counter() - t0
                    ours[writer].append(stats)
            if writer == "cdfs":
                _copy_disc(base, disc)
                mounts.append(_mount_append(bench, disc))
        for path in (base, Path(f"{base}.toc")):
            remove(path)
    for path in (disc, Path(f"{disc}.toc"), out, stash):
        remove(path)

    what = f"appending one small file to a disc of {files:,} files"
    baseline = "xorriso -as mkisofs -R -J -C -M (no recording)"
    mine = ours["cdfs"]

    def sizes(runs: list[dict[str, float]]) -> str:
        return (
            f"session 2: {int(runs[0]['sectors'])} sectors, {int(runs[0]['entries']):,}"
            f" entries listed, {int(runs[0]['reused']):,} directories marked for reuse"
        )

    def steps(runs: list[dict[str, float]]) -> str:
        return (
            f"read {median([s['read_s'] for s in runs]):.2f} s, master"
            f" {median([s['master_s'] for s in runs]):.2f} s; {sizes(runs)}; whole process"
            f" incl. Python start-up {median([s['wall_s'] for s in runs]):.2f} s"
        )

    rows = [
        Result(
            key="append-master",
            what=f"{what} begun by cdfs: read the last session and master the next",
            unit="s",
            cdfs=[s["read_s"] + s["master_s"] for s in mine],
            baseline=theirs["cdfs"],
            baseline_name=baseline,
            target=Target("<=", 10.0, on="value"),
            cache="warm",
            notes=[steps(mine)],
        ),
        Result(
            key="append-record",
            what=f"{what} begun by cdfs: read, master, record on the emulated CD-R, verify",
            unit="s",
            cdfs=[s["read_s"] + s["master_s"] + s["record_verify_s"] for s in mine],
            baseline=theirs["cdfs"],
            baseline_name=baseline,
            target=Target("<=", 10.0, on="value"),
            cache="warm",
        ),
        Result(
            key="append-mount",
            what=f"{what} begun by cdfs: write it into a cdfs mount, `cdfs burn --wait`",
            unit="s",
            cdfs=[took for took, _up in mounts],
            baseline=theirs["cdfs"],
            baseline_name=baseline,
            target=Target("<=", 10.0, on="value"),
            cache="warm",
            notes=[
                f"the mount came up in {median([up for _t, up in mounts]):.2f} s (reading the"
                f" {files:,}-file tree; not counted); `burn --wait` polls every 0.2 s"
            ],
        ),
        Result(
            key="append-master-xorriso-disc",
            what=(
                f"{what} begun by `xorriso -as mkisofs -R -J` (Rock Ridge 1.10: no directory"
                " reused): read the last session and master the next"
            ),
            unit="s",
            cdfs=[s["read_s"] + s["master_s"] for s in ours["xorriso"]],
            baseline=theirs["xorriso"],
            baseline_name=baseline,
            target=Target("<=", 10.0, on="value"),
            cache="warm",
            notes=[steps(ours["xorriso"])],
        ),
    ]
    for r in rows:
        bench.add(r)
    if bench.config.quick:
        log.info("--quick: %s is left as it was", RESULTS)
    else:
        write_results(rows, files)
    return rows


def write_results(rows: list[Result], files: int) -> Path:
    """``bench/results/append.json``: the rows with their medians and ratios."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "append",
        "files_on_disc": files,
        "media": MEDIA,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "rows": [
            {**r.as_json(), "median": r.median, "baseline_median": r.base_median, "ratio": r.ratio}
            for r in rows
        ],
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    return RESULTS


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.append [--quick] [--runs N] [--workdir DIR]``."""
    import argparse

    from . import report
    from .common import REPO, Bench, Config, remove

    p = argparse.ArgumentParser(prog="python -m bench.append", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK_FILES:,} files, 2 runs")
    p.add_argument("--runs", type=int, help="runs per measurement (default 5, 2 with --quick)")
    p.add_argument("--workdir", type=Path, help="data goes into DIR/cdfs-bench-append")
    p.add_argument("--cdfs-path", type=Path, help="measure the cdfs package found in DIR")
    p.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    work = ((args.workdir or REPO.parent) / "cdfs-bench-append").resolve()
    for tool in ("xorriso", "fusermount3", "cp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench: {tool} is missing (make deps installs it)")
    config = Config(
        workdir=work,
        runs=args.runs or (2 if args.quick else 5),
        quick=args.quick,
        cdfs_path=args.cdfs_path.resolve() if args.cdfs_path else None,
        keep=args.keep,
    )
    bench = Bench(config)
    try:
        rows = bench_append(bench)
    finally:
        if not args.keep:
            remove(work)
    print("\n".join(report.table(rows)))
    if not args.quick:
        print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        sys.exit(_child(sys.argv[2:]))
    sys.exit(main())
