"""A second, unprivileged user for tests that need one (issue 17).

Setup, undone in teardown: a user and a group made with useradd/groupadd
(random names), and /dev/fuse opened to every user (mode 0666, Debian's own
default; this machine has 0600), as FUSE mounts by a user other than root
need it (the mode is put back by the last test that needed it, see
:data:`FUSE_LOCK`).  The system settings are a root-owned file named by
``$CDFS_SYSTEM_CONFIG`` (cdfs honours that only for a file only root can
write), so the machine's /etc is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import signal
import site
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path
    env: dict[str, str]
    group: str
    """A group made for the test, that the user is not in until joined."""

    def cmd(self, args: list[str]) -> list[str]:
        env = [f"{k}={v}" for k, v in self.env.items()]
        return ["runuser", "-u", self.name, "--", "env", "-i", *env, *args]

    def run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.cmd(args), check=check, timeout=300)

    def cdfs(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([*self.python, "-m", "cdfs", *args], check=check)

    @property
    def python(self) -> list[str]:
        """This interpreter, if the user may run it; else the system's
        (same Python minor version) with this venv's packages on its path
        (a pyenv interpreter under /root is out of other users' reach)."""
        if run(self.cmd(["test", "-x", os.path.realpath(sys.executable)]), check=False).returncode:
            return ["/usr/bin/python3"]
        return [sys.executable]

    def join(self) -> None:
        run(["usermod", "-aG", self.group, self.name])


FUSE_LOCK = Path("/tmp/cdfs-test-dev-fuse.lock")
"""Taken (exclusive, briefly) to change /dev/fuse's mode; holds the mode to
put back.  Tests of other runs on the machine may use /dev/fuse meanwhile."""
FUSE_USERS = Path("/tmp/cdfs-test-dev-fuse.users")
"""Held (shared) by every test that needs /dev/fuse open to all users: the
last one out puts the mode back."""


def _lock(path: Path, how: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, how)
    return fd


def open_dev_fuse() -> int:
    mutex = _lock(FUSE_LOCK, fcntl.LOCK_EX)
    try:
        if not os.pread(mutex, 16, 0):
            os.pwrite(mutex, b"%o" % stat.S_IMODE(os.stat("/dev/fuse").st_mode), 0)
        os.chmod("/dev/fuse", 0o666)
        return _lock(FUSE_USERS, fcntl.LOCK_SH)
    finally:
        os.close(mutex)


def close_dev_fuse(users: int) -> None:
    mutex = _lock(FUSE_LOCK, fcntl.LOCK_EX)
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)  # only if no one else holds it
        saved = os.pread(mutex, 16, 0)
        if saved:
            os.chmod("/dev/fuse", int(saved, 8))
            os.ftruncate(mutex, 0)
    except BlockingIOError:
        pass  # another test still needs it open
    finally:
        os.close(users)
        os.close(mutex)


@pytest.fixture
def system_config(tmp_path: Path) -> Iterator[Path]:
    """A root-owned system settings file (0644 in a 0755 directory)."""
    top = Path(f"/tmp/cdfs-etc-{secrets.token_hex(4)}")
    top.mkdir(mode=0o755)
    path = top / "config.toml"
    path.write_text("")
    path.chmod(0o644)
    yield path
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def user(system_config: Path) -> Iterator[User]:
    name = f"cdfs{secrets.token_hex(3)}"
    group = f"cdfsg{secrets.token_hex(3)}"
    run(["groupadd", group])
    run(["useradd", "-M", "-N", "-d", "/nonexistent", "-s", "/bin/sh", name])
    fuse = open_dev_fuse()
    home = Path(f"/tmp/cdfs-user-{secrets.token_hex(4)}")
    home.mkdir(mode=0o700)
    pw = pwd.getpwnam(name)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CDFS_SYSTEM_CONFIG": str(system_config),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *site.getsitepackages()]),
    }
    for var, sub in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CONFIG_HOME", "config"),
    ):
        env[var] = str(home / sub)
    u = User(name, pw.pw_uid, pw.pw_gid, home, env, group)
    try:
        yield u
    finally:
        for mp in home.glob("mnt*"):
            if mounted(mp):
                subprocess.run(["umount", "-l", str(mp)], timeout=30, check=False)
        # The daemons the test started as this user (it has no others).
        ps = subprocess.run(["ps", "-u", name, "-o", "pid="], capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
        for pid in ps.stdout.split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
        close_dev_fuse(fuse)
        subprocess.run(["userdel", name], timeout=30, check=False, capture_output=True)
        subprocess.run(["groupdel", group], timeout=30, check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def mounted(mp: Path) -> bool:
    """Whether ``mp`` is a mount point, from the mount table: root cannot
    stat another user's FUSE mount (EACCES) unless it allows others."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == str(mp) for line in f)
