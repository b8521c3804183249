"""The simulated recorder as tests use it: start the bed, load discs, run
programs that see its /dev/sr0.

:class:`SimDrive` starts :mod:`tests.mmc.bed` under ``umockdev-wrapper
/usr/bin/python3`` and talks to it over a pipe.  Programs run through
:meth:`SimDrive.run` (or with :attr:`SimDrive.env`) carry umockdev's preload
library and the testbed's directory, so their ``/dev/sr0`` and ``/sys`` are
the bed's; everything else (FUSE, files) is the real system.  Every call has
a timeout; :meth:`SimDrive.close` fails the test when a program sent the
drive a command the model does not answer, naming its opcode.

libburn sleeps between polls of a drive (half a second after each load, a
second in places), which would make every xorriso call here take 2 s:
:file:`quicksleep.c`, compiled once per test run with gcc and preloaded
too, shortens those sleeps 50 times.  Without gcc the tests run all the
same, slower.  The library is built in a private directory (0700, a name no
one can guess, checked to be ours), never under a predictable name in the
shared temporary directory, where a file or link planted by another user
would be preloaded into xorriso.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRELOAD = "libumockdev-preload.so.0"
TIMEOUT = 120


@functools.cache
def quicksleep() -> str | None:
    """The shared library shortening libburn's sleeps, built on first use
    in a private directory that is removed when the tests end."""
    if not shutil.which("gcc"):
        return None
    src = Path(__file__).with_name("quicksleep.c")
    home = Path(tempfile.mkdtemp(prefix="cdfs-quicksleep-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    check_private(home, stat.S_IFDIR)
    lib = home / "quicksleep.so"
    cmd = ["gcc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(src), "-ldl"]
    if subprocess.run(cmd, capture_output=True, timeout=60).returncode != 0:
        return None
    check_private(lib, stat.S_IFREG)
    return str(lib)


def check_private(path: Path, kind: int) -> None:
    """Fail unless ``path`` is a ``kind`` (S_IFDIR, S_IFREG; not a link) of
    ours that no one else can write (and, for a directory, enter)."""
    st = os.lstat(path)
    closed = 0o077 if kind == stat.S_IFDIR else 0o022
    if stat.S_IFMT(st.st_mode) != kind or st.st_uid != os.geteuid() or st.st_mode & closed:
        raise AssertionError(f"{path} is not private to this user: {stat.filemode(st.st_mode)}")


def have_umockdev() -> bool:
    """umockdev-wrapper and umockdev's GObject API for Debian's python3."""
    if not shutil.which("umockdev-wrapper") or not shutil.which("xorriso"):
        return False
    probe = "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev"
    return subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True).returncode == 0


class SimDrive:
    """One simulated recorder at /dev/sr0 (the bed process)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["umockdev-wrapper", "/usr/bin/python3", "-m", "tests.mmc.bed"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        root = self.ask(op="env")["UMOCKDEV_DIR"]
        libs = (PRELOAD, quicksleep(), env.get("LD_PRELOAD"))
        preload = ":".join(p for p in libs if p)
        self.env = {**env, "LD_PRELOAD": preload, "UMOCKDEV_DIR": root}
        self.device = "/dev/sr0"

    def ask(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the simulated drive's bed stopped"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer
        return answer

    def insert(self, image: Path, media: str = "cd-r80", *, uevent: bool = True) -> None:
        """Load the disc whose image is ``image`` (a new blank ``media`` disc
        if there is none yet), sending the change uevent udev would."""
        self.ask(op="insert", image=str(image), media=media, uevent=uevent)

    def eject(self, force: bool = False, *, uevent: bool = True) -> bool:
        """Take the disc out; False (and nothing done) while the tray is locked."""
        return bool(self.ask(op="eject", force=force, uevent=uevent)["ok"])

    def faults(self, **kw: Any) -> None:
        """``fail_write_at=LBA``, ``busy=N`` (commands answered NOT READY
        before the drive is ready), ``busy_writing=True``: see
        :class:`tests.mmc.model.Faults`."""
        self.ask(op="faults", **kw)

    def disc(self, **kw: Any) -> None:
        """Set the loaded disc's ``wp`` (write-protected) or ``opc_fails``."""
        self.ask(op="disc", **kw)

    def state(self) -> dict[str, Any]:
        return self.ask(op="state")

    def run(
        self, cmd: list[str], *, check: bool = True, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, errors="replace"
        )
        if check and res.returncode != 0:
            raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def xorriso(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["xorriso", *args], check=check)

    def cdfs(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "cdfs", *args], check=check)

    def unanswered(self) -> list[str]:
        """Commands and ioctls sent to the drive that the model does not
        know, and the ones it failed on (a defect of the model)."""
        state = self.state()
        return [*state["unknown"], *(f"ioctl {x}" for x in state["unknown_ioctls"])]

    def close(self) -> None:
        try:
            unknown = self.unanswered()
        finally:
            assert self.proc.stdin
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        assert not unknown, f"the simulated drive got commands it does not answer: {unknown}"


@pytest.fixture
def sim(home: dict[str, str]) -> Iterator[SimDrive]:
    drive = SimDrive(home)
    yield drive
    drive.close()


@pytest.fixture
def sim_mount(tmp_path: Path, sim: SimDrive) -> Iterator[Any]:
    """Mounts of /dev/sr0 whose daemon sees the simulated drive."""
    from tests.conftest import Mount  # the fixtures' module, loaded by pytest

    mounts: list[Mount] = []

    def start(*extra: str, name: str = "mnt") -> Mount:
        mp = tmp_path / name
        mp.mkdir(exist_ok=True)
        m = Mount(mp, Path(sim.device), sim.env, log=tmp_path / f"{name}.log", extra=list(extra))
        mounts.append(m)
        m.start()
        return m

    yield start
    for m in mounts:
        m.kill()
