"""What every benchmark group shares: the work directory and its isolated
cdfs home, real mounts through the CLI, source trees, and the result
records.  Measuring a command or a process (time, CPU, memory, page cache,
profiles) is :mod:`bench.measure`'s.

Nothing here knows a particular benchmark; the groups (:mod:`bench.fuse_io`,
:mod:`bench.mastering`, :mod:`bench.endtoend`) do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .measure import CMD_TIMEOUT, Poller, Profiler, can_drop_caches, run

log = logging.getLogger("bench")

REPO = Path(__file__).resolve().parent.parent
KIB = 1024
MIB = 1024 * 1024
GIB = 1024 * MIB
XDG_VARS = ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME")


# -- results -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal on the ratio to the baseline (``on="ratio"``) or on the value
    itself (``on="value"``, e.g. peak memory)."""

    op: Literal[">=", "<="]
    value: float
    on: Literal["ratio", "value"] = "ratio"

    def met(self, ratio: float | None, value: float) -> bool | None:
        x = ratio if self.on == "ratio" else value
        if x is None:
            return None
        return x >= self.value if self.op == ">=" else x <= self.value

    def __str__(self) -> str:
        suffix = "x" if self.on == "ratio" else ""
        return f"{self.op} {self.value:g}{suffix}"


@dataclass
class Result:
    """One row of the table: cdfs' samples and the baseline's, same unit."""

    key: str
    what: str
    unit: str
    cdfs: list[float]
    baseline: list[float] = field(default_factory=list)
    baseline_name: str = ""
    target: Target | None = None
    cache: str = ""
    notes: list[str] = field(default_factory=list)
    when: str = field(default_factory=lambda: time.strftime("%Y-%m-%d"))
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    """1-minute load average when the row was measured (other work on the machine)."""

    @property
    def median(self) -> float:
        return statistics.median(self.cdfs)

    @property
    def base_median(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        base = self.base_median
        if base is None or base == 0:
            return None
        return self.median / base

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ratio, self.median)

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["target"] = None if self.target is None else self.target.__dict__
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Result:
        raw = dict(raw)
        raw.setdefault("load", float("nan"))
        target = raw.pop("target", None)
        return cls(**raw, target=Target(**target) if target else None)


# -- the work directory and cdfs' home -----------------------------------------------


@dataclass
class Config:
    workdir: Path
    runs: int
    quick: bool
    profile_dir: Path | None = None
    cdfs_path: Path | None = None
    """Import cdfs from here in the daemon and mastering processes (to
    measure a prototype in a scratch worktree)."""
    keep: bool = False


class Bench:
    """The state of one benchmark run: configuration, environment, results."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.work = config.workdir
        self.work.mkdir(parents=True, exist_ok=True)
        self.src = self.work / "src"
        self.results: list[Result] = []

    @property
    def runs(self) -> int:
        return self.config.runs

    @property
    def cold(self) -> str:
        return "cold" if can_drop_caches() else "warm (page cache could not be dropped)"

    def env(self, home: Path) -> dict[str, str]:
        """The environment of cdfs commands: XDG homes of their own."""
        env = dict(os.environ)
        for var in XDG_VARS:
            env[var] = str(home / var.lower())
        env.pop("CDFS_DRIVE", None)
        env.pop("CDFS_EMULATED_FAULTS", None)
        if self.config.cdfs_path is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.config.cdfs_path), *filter(None, [env.get("PYTHONPATH")])]
            )
        return env

    def scratch(self, name: str) -> Path:
        """An empty directory of the work dir (emptied if it existed)."""
        path = self.work / name
        remove(path)
        path.mkdir(parents=True)
        return path

    def cdfs(self, args: Sequence[str | os.PathLike[str]], home: Path) -> str:
        res = run(
            [sys.executable, "-m", "cdfs", *args],
            env=self.env(home),
            stdout=subprocess.PIPE,
            cwd=self.work,
        )
        return res.stdout.decode()

    def make_disc(self, path: Path, media: str, home: Path) -> Path:
        remove(path)
        remove(path.with_name(path.name + ".toc"))
        self.cdfs(["media", "create", path, "--type", media], home)
        return path

    def profile(self, pid: int, name: str, *, when: bool = True) -> Profiler:
        """A py-spy recording of ``pid`` (when profiling is on and ``when``)."""
        d = self.config.profile_dir
        return Profiler(pid, None if d is None or not when else d / f"{name}.txt")

    def profile_command(self, cmd: Sequence[str | os.PathLike[str]], name: str) -> None:
        """Run ``cmd`` once more under ``py-spy record`` (untimed)."""
        d = self.config.profile_dir
        if d is None:
            return
        d.mkdir(parents=True, exist_ok=True)
        pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        out = d / f"{name}.txt"
        run([pyspy, "record", "--rate", "200", "--format", "raw", "-o", out, "--", *cmd])
        log.info("profile of %s written to %s", name, out)

    def add(self, result: Result) -> Result:
        self.results.append(result)
        base = result.base_median
        log.info(
            "%s: cdfs %.3g %s%s%s",
            result.key,
            result.median,
            result.unit,
            "" if base is None else f", {result.baseline_name} {base:.3g} {result.unit}",
            "" if result.ratio is None else f", ratio {result.ratio:.2f}",
        )
        return result


def remove(path: Path) -> None:
    """Remove a file or a tree, unmounting a forgotten mount point first."""
    if os.path.ismount(path):
        subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False, capture_output=True)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# -- real mounts -------------------------------------------------------------------


class Mount:
    """``cdfs mount -f`` in a subprocess, as users run it; always torn down
    with ``fusermount3 -u -z`` then terminate/kill."""

    def __init__(
        self, bench: Bench, disc: Path, mountpoint: Path, home: Path, extra: Sequence[str] = ()
    ) -> None:
        self.bench, self.disc, self.path, self.home = bench, disc, mountpoint, home
        self.extra = list(extra)
        """More ``cdfs mount`` options (``--debug`` logs every FUSE request)."""
        self.stash = home / "stash"
        self.log = home / "mount.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Mount:
        self.path.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.stash.mkdir(mode=0o700, exist_ok=True)  # cdfs mount creates only its default one
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "cdfs", "mount", "-f", "--no-burn-on-unmount"),
                    *("--drive", str(self.disc), "--stash-dir", str(self.stash), *self.extra),
                    self.path,
                ],
                env=self.bench.env(self.home),
                cwd=self.bench.work,
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"cdfs mount did not come up:\n{self.log.read_text()}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if os.path.ismount(self.path):
            subprocess.run(
                ["fusermount3", "-u", "-z", str(self.path)],
                timeout=60,
                check=False,
                capture_output=True,
            )
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for stop in (None, proc.terminate, proc.kill):
            if stop is not None:
                stop()
            try:
                proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(os.getxattr(self.path, "user.cdfs.status"))
        return data

    def burn(self, label: str = "BENCH") -> dict[str, Any]:
        """``cdfs burn --wait``; returns the last burn's result."""
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "cdfs",
                "burn",
                "--wait",
                "--quiet",
                "--label",
                label,
                self.path,
            ],
            env=self.bench.env(self.home),
            cwd=self.bench.work,
            capture_output=True,
            timeout=CMD_TIMEOUT,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"cdfs burn failed: {res.stderr.decode(errors='replace')}\n"
                f"{self.log.read_text()[-3000:]}"
            )
        last: dict[str, Any] = self.status().get("last_burn") or {}
        return last


class PhaseWatch(Poller):
    """Notes when each burn phase was first seen (for per-phase times), from
    the status file the daemon publishes every 0.5 s: polling the mount
    itself would make the daemon compute its status for us, in the middle
    of the burn we measure."""

    errors = (OSError, ValueError, KeyError)

    def __init__(self, mount: Mount, interval: float = 0.05) -> None:
        super().__init__(interval)
        self.file = Path(mount.status()["staging_dir"]) / "status.json"
        self.phase = "idle"
        self.seen: dict[str, float] = {}

    def sample(self) -> None:
        phase = str(json.loads(self.file.read_text())["burn"]["phase"])
        self.phase = phase
        self.seen.setdefault(phase, time.perf_counter())

    def durations(self, t_end: float) -> dict[str, float]:
        """Seconds spent in each phase seen, in order."""
        order = sorted(self.seen.items(), key=lambda kv: kv[1])
        out: dict[str, float] = {}
        for (name, t), nxt in zip(order, [*order[1:], ("end", t_end)], strict=True):
            if name not in ("idle", "done", "failed"):
                out[name] = nxt[1] - t
        return out


# -- source trees ----------------------------------------------------------------------


_BLOCK = hashlib.shake_256(b"cdfs-bench").digest(MIB)


def write_file(path: Path, size: int, seed: int) -> None:
    """A file of ``size`` incompressible-looking bytes, different per seed."""
    head = hashlib.sha256(str(seed).encode()).digest()
    with open(path, "wb") as f:
        left = size
        off = seed % 4096
        while left > 0:
            chunk = (head + _BLOCK[off:])[:left]
            f.write(chunk)
            left -= len(chunk)
            off = 0


@dataclass(frozen=True)
class TreeSpec:
    """``files`` files of ``size`` bytes in directories of ``per_dir``
    (all in one directory when ``per_dir`` is 0), plus ``big`` files of
    ``big_size`` bytes in ``big/``."""

    files: int = 0
    size: int = 0
    per_dir: int = 100
    big: int = 0
    big_size: int = 0
    name_salt: bool = False
    """Names in an order unrelated to their creation order."""

    @property
    def total_bytes(self) -> int:
        return self.files * self.size + self.big * self.big_size

    def ident(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:12]


def file_name(i: int, salt: bool) -> str:
    if salt:
        return f"{hashlib.sha1(str(i).encode()).hexdigest()[:10]}_photo_{i:06d}.jpg"
    return f"file{i:06d}.dat"


def make_tree(bench: Bench, name: str, spec: TreeSpec) -> Path:
    """The source tree ``spec`` under the work dir; made once and reused
    while its description matches."""
    root = bench.src / name
    stamp = bench.src / f".{name}.made"
    if root.is_dir() and stamp.exists() and stamp.read_text() == spec.ident():
        return root
    log.info("making source tree %s (%d files, %d MiB)", name, spec.files, spec.total_bytes >> 20)
    remove(root)
    stamp.unlink(missing_ok=True)
    root.mkdir(parents=True)
    for i in range(spec.files):
        d = root if spec.per_dir == 0 else root / f"dir{i // spec.per_dir:04d}"
        if spec.per_dir and i % spec.per_dir == 0:
            d.mkdir()
        write_file(d / file_name(i, spec.name_salt), spec.size, i)
    if spec.big:
        (root / "big").mkdir()
        for i in range(spec.big):
            write_file(root / "big" / f"big{i}.bin", spec.big_size, 10**9 + i)
    os.sync()
    stamp.write_text(spec.ident())
    return root


def warm(path: Path) -> None:
    """Read a tree once so that it is in the page cache."""
    for top, _dirs, files in os.walk(path):
        for f in files:
            with open(os.path.join(top, f), "rb") as fp:
                while fp.read(MIB):
                    pass


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    log.info("-- %s", name)
    try:
        yield
    finally:
        log.info("-- %s done in %.1f s", name, time.perf_counter() - t0)
