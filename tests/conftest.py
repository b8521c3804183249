"""Fixtures: isolated XDG homes, emulated discs, and real FUSE mounts.

Every mount runs ``cdfs mount -f`` in a subprocess and is always torn down:
lazy unmount first, then terminate, then kill.  Every external command runs
with a timeout.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cdfs.recorders.emulated import EmulatedRecorder, create_media
from cdfs.recorders.knobs import FAULTS_ENV
from tests.emulated_helpers import CD_R80, make_iso

CMD_TIMEOUT = 120


def run(
    cmd: list[str],
    *,
    check: bool = True,
    timeout: float = CMD_TIMEOUT,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout, capturing text output."""
    res = subprocess.run(
        cmd,
        capture_output=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        input=input.decode() if input is not None else None,
        text=True,
        errors="replace",
        check=False,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def is_mount(path: Path) -> bool:
    """Whether ``path`` is a mount point, also when its daemon was killed
    (os.path.ismount says no once the kernel answers ENOTCONN)."""
    try:
        os.lstat(path)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return os.path.ismount(path)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose XDG directories live under tmp_path."""
    env = dict(os.environ)
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CONFIG_HOME", "config"),
    ):
        env[var] = str(tmp_path / "home" / sub)
    env.pop("CDFS_DRIVE", None)
    env.pop("CDFS_EMULATED_FAULTS", None)
    return env


def cdfs(
    args: list[str], env: dict[str, str], *, check: bool = True, timeout: float = CMD_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "cdfs", *args], env=env, check=check, timeout=timeout)


@pytest.fixture
def make_disc(tmp_path: Path, home: dict[str, str]) -> Any:
    def make(media: str = "cd-r80", name: str = "disc.iso") -> Path:
        path = tmp_path / name
        cdfs(["media", "create", str(path), "--type", media], home)
        return path

    return make


@dataclass
class Mount:
    path: Path
    disc: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    extra: list[str] = field(default_factory=list)

    def start(self) -> None:
        assert self.log is not None
        with self.log.open("ab") as logf:
            self.proc = self._spawn(logf)
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                raise AssertionError(f"cdfs mount exited:\n{self.log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"cdfs mount did not come up:\n{self.log.read_text()}")
            time.sleep(0.05)

    def _spawn(self, logf: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cdfs",
                "mount",
                "-f",
                "--drive",
                str(self.disc),
                *self.extra,
                str(self.path),
            ],
            env=self.env,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )

    def stop(self, *, check: bool = True) -> int | None:
        """Unmount (burning on unmount as configured) and wait for the daemon."""
        if self.proc is None:
            return None
        if os.path.ismount(self.path):
            run(["fusermount3", "-u", str(self.path)], check=check, timeout=60)
        try:
            code = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.proc = None
        return code

    def kill(self) -> None:
        if is_mount(self.path):
            subprocess.run(
                ["fusermount3", "-u", "-z", str(self.path)],
                timeout=30,
                check=False,
                capture_output=True,
            )
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(os.getxattr(self.path, "user.cdfs.status"))
        return data

    def request(self, send: Callable[..., object], *args: Any, timeout: float = 30) -> int:
        """Run ``send(*args)`` (something that writes or touches ``.burn``)
        and return the number the daemon gave the burn request it made.  The
        daemon takes a request when the kernel releases the file, which it
        does after close() has returned: wait until the request is counted."""
        before = self.status()["requests"]
        send(*args)
        deadline = time.monotonic() + timeout
        while (count := int(self.status()["requests"])) <= before:
            assert time.monotonic() < deadline, f"no burn request was counted: {self.status()}"
            time.sleep(0.01)
        return count

    def wait_for_burn(self, ticket: int, timeout: float = 120) -> dict[str, Any]:
        """The result of burn request ``ticket`` (a count of requests, as
        ``status()["requests"]`` gives it), once it is done or failed."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.status()
            last: dict[str, Any] = s.get("last_burn") or {}
            at_rest = s["burn"]["phase"] in ("done", "failed", "idle")
            if at_rest and last.get("request", 0) >= ticket:
                return last
            assert time.monotonic() < deadline, f"burn {ticket} did not finish: {s}"
            time.sleep(0.01)

    def wait_for(
        self, test: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        """The status, polled until ``test`` holds for it."""
        deadline = time.monotonic() + timeout
        while not test(s := self.status()):
            assert time.monotonic() < deadline, f"the status never got there: {s}"
            time.sleep(0.02)
        return s

    def burn(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return cdfs(
            ["burn", "--wait", "--quiet", *args, str(self.path)], self.env, check=check, timeout=300
        )

    def staged(self) -> Path:
        return Path(self.status()["staging_dir"]) / "staged"


@pytest.fixture
def mount(tmp_path: Path, home: dict[str, str], make_disc: Any) -> Iterator[Any]:
    """A factory of real mounts; all are torn down after the test."""
    mounts: list[Mount] = []

    def start(disc: Path | None = None, *extra: str, name: str = "mnt") -> Mount:
        mp = tmp_path / name
        mp.mkdir(exist_ok=True)
        m = Mount(mp, disc or make_disc(), home, log=tmp_path / f"{name}.log", extra=list(extra))
        mounts.append(m)
        m.start()
        return m

    yield start
    for m in mounts:
        m.kill()


@pytest.fixture
def private_bus() -> Iterator[str]:
    """The address of a dbus-daemon of the test's own (session
    configuration), standing for the session or the system bus."""
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is needed (make deps installs it)")
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert address.startswith("unix:"), address
    try:
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def xorriso_listing(disc: Path, start: int | None = None) -> str:
    cmd = ["xorriso", "-indev", f"stdio:{disc}"]
    if start is not None:
        cmd = ["xorriso", "-load", "sbsector", str(start), "-indev", f"stdio:{disc}"]
    return run([*cmd, "-find", "/", "-exec", "lsdl"]).stdout


def xorriso_extract(disc: Path, dest: Path, start: int | None = None) -> None:
    cmd = ["xorriso", "-osirrox", "on"]
    if start is not None:
        cmd += ["-load", "sbsector", str(start)]
    run([*cmd, "-indev", f"stdio:{disc}", "-extract", "/", str(dest)])


# The second, unprivileged user of the tests that need one (issue 17).
from users import system_config, user  # noqa: E402, F401

# The simulated MMC recorder's fixtures, ``sim`` and ``sim_mount`` (issue 14).
pytest_plugins = ["tests.mmc.harness"]


# -- the emulated recorder's tests (test_emulated*.py) ---------------------


@pytest.fixture
def no_env_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULTS_ENV, raising=False)


@pytest.fixture
def blank_cdr(tmp_path: Path, no_env_faults: None) -> EmulatedRecorder:
    return create_media(tmp_path / "disc.img", CD_R80)


@pytest.fixture
def small_iso(tmp_path: Path) -> Path:
    return make_iso(tmp_path, "small", {"hello.txt": b"hello, disc\n", "d/x.bin": os.urandom(5000)})
