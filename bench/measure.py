"""Measuring one command or process: timing, CPU and peak memory, page-cache
control and profiling.  What :mod:`bench.common`'s ``Bench`` and the groups
build their rows from; nothing here knows cdfs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

log = logging.getLogger("bench")

CMD_TIMEOUT = 1800.0


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


# -- measuring -------------------------------------------------------------------


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str] | None = None,
    timeout: float = CMD_TIMEOUT,
    stdout: int | None = subprocess.DEVNULL,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion; a failure raises with its stderr.  cdfs
    commands run in the work dir: ``python -m`` puts the current directory
    first on sys.path, and the repository's own cdfs/ must not shadow
    ``--cdfs-path``."""
    res = subprocess.run(
        [os.fspath(c) for c in cmd],
        env=env,
        cwd=cwd,
        timeout=timeout,
        stdout=stdout,
        stderr=subprocess.PIPE,
        check=False,
    )
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({res.returncode}): {err}")
    return res


def timed(cmd: Sequence[str | os.PathLike[str]], *, env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one command (output discarded)."""
    t0 = time.perf_counter()
    run(cmd, env=env)
    return time.perf_counter() - t0


@dataclass(frozen=True)
class Usage:
    seconds: float
    peak_kib: int
    """The process's peak resident set (ru_maxrss, i.e. its VmHWM)."""
    stdout: bytes


def measured(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str] | None = None,
    timeout: float = CMD_TIMEOUT,
) -> Usage:
    """Wall-clock time and peak RSS of one command, from wait4()."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [os.fspath(c) for c in cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # Popen.communicate would reap the child and lose its rusage: read the
    # pipes in threads, reap with wait4 here.
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else b"")),
        threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else b"")),
    ]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{cmd} took longer than {timeout} s")
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    if proc.returncode != 0:
        msg = b"".join(err).decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}): {msg}")
    return Usage(elapsed, int(usage.ru_maxrss), b"".join(out))


def proc_status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/status (VmRSS, VmHWM, ...)."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key] = int(parts[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used (proc(5) stat fields 14-15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak_rss(pid: int) -> None:
    """Start the process's VmHWM afresh (proc(5), clear_refs value 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


class Poller:
    """Calls :meth:`sample` every ``interval`` seconds in a thread while
    used as a context manager (errors of a sample are skipped: the process
    or file watched may be gone for a moment)."""

    errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(*self.errors):
                self.sample()
            self._stop.wait(self.interval)


class RssSampler(Poller):
    """Samples a process's VmRSS in a thread, with a label per sample."""

    def __init__(self, pid: int, label: Callable[[], str], interval: float = 0.05) -> None:
        super().__init__(interval)
        self.pid, self.label = pid, label
        self.samples: list[tuple[float, str, int]] = []
        self._t0 = time.monotonic()

    def sample(self) -> None:
        rss = proc_status(self.pid)["VmRSS"]
        self.samples.append((time.monotonic() - self._t0, self.label(), rss))

    def peak_by_label(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _t, label, rss in self.samples:
            out[label] = max(out.get(label, 0), rss)
        return out


_drop_warned = False


def drop_caches() -> bool:
    """sync, then drop the page cache, dentries and inodes; False (once
    warned) when not permitted."""
    global _drop_warned
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        return True
    except OSError as exc:
        if not _drop_warned:
            log.warning("cannot drop the page cache (%s): cold numbers will be warm", exc)
            _drop_warned = True
        return False


def can_drop_caches() -> bool:
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


def throughput(nbytes: int, seconds: float) -> float:
    """MB/s (10^6 bytes per second, as dd reports)."""
    return nbytes / seconds / 1e6


# -- profiling -------------------------------------------------------------------


class Profiler:
    """``py-spy record`` attached to a pid while the block runs, writing
    collapsed stacks (``--format raw``) that :mod:`bench.profile` sums up.
    Does nothing when ``out`` is None."""

    def __init__(
        self, pid: int, out: Path | None, *, rate: int = 200, native: bool = False
    ) -> None:
        self.pid, self.out, self.rate, self.native = pid, out, rate, native
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        if self.out is None:
            return self
        pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [pyspy, "record", "--pid", str(self.pid), "--rate", str(self.rate)]
        cmd += ["--format", "raw", "--idle", "--threads", "-o", str(self.out)]
        cmd += ["--native"] if self.native else []
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # let it attach
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        log.info("profile of pid %d written to %s", self.pid, self.out)
