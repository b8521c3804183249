"""Model-based test: random sequences of file operations applied to a real
cdfs mount and to a plain reference directory must agree on content,
listing and errno.  Burns happen in between; afterwards, changes to what
was burned must fail with EPERM (write-once) while everything else goes on
agreeing with the reference; burned files show no write bits, and the
mode of a burned directory may change (the next session records it)."""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from conftest import Mount

DIRS = ["", "d", "d/e", "é 目录"]
NAMES = ["a", "b.txt", "Ünï", "x" * 100]
paths = st.builds(
    lambda d, n: f"{d}/{n}" if d else n,
    st.sampled_from(DIRS),
    st.sampled_from([*NAMES, "d", "d/e"]),
)
data = st.binary(max_size=5000)
_counter = itertools.count()


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except OSError as exc:
        return ("err", errno.errorcode.get(exc.errno or 0, exc.errno))


def snapshot(root: Path, timed: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            s = p.lstat()
            if stat.S_ISLNK(s.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(s.st_mode):
                out[rel] = ("dir", stat.S_IMODE(s.st_mode))
            else:
                mtime = s.st_mtime_ns if rel in timed else None
                out[rel] = ("file", stat.S_IMODE(s.st_mode), p.read_bytes(), mtime)
    return out


class Model(RuleBasedStateMachine):
    mount: Mount
    ref_root: Path
    total_burns = 0

    def __init__(self) -> None:
        super().__init__()
        base = f"ex{next(_counter)}"
        self.mnt = self.mount.path / base
        self.ref = self.ref_root / base
        self.mnt.mkdir()
        self.ref.mkdir()
        self.burned: set[str] = set()
        self.timed: set[str] = set()
        self.burns = 0

    def _touches_burned(self, rels: tuple[str, ...], follow: bool) -> bool:
        for r in rels:
            if follow and (self.ref / r).is_symlink():
                # The operation acts on the symlink's target.
                target = Path(os.path.realpath(self.ref / r))
                if not target.is_relative_to(self.ref.resolve()):
                    continue
                r = str(target.relative_to(self.ref.resolve()))
            if r in self.burned:
                return True
        return False

    def both(
        self, fn: Callable[[Path], Any], *rels: str, mutating: bool = True, follow: bool = False
    ) -> None:
        if mutating and self._touches_burned(rels, follow):
            # Write-once: the mount must refuse; an error the reference also
            # gives (ENOENT for a missing source, ...) is fine too.
            got = outcome(lambda: fn(self.mnt))
            assert got[0] == "err", (rels, "a burned file was changed")
            if got[1] in ("EPERM", "EISDIR", "ENOTDIR", "EEXIST"):
                return
            assert got == outcome(lambda: fn(self.ref)), rels
            return
        want = outcome(lambda: fn(self.ref))
        got = outcome(lambda: fn(self.mnt))
        assert got == want, (rels, got, want)
        for r in rels:
            self.timed.discard(r)

    @rule(p=paths, body=data, how=st.sampled_from(["wb", "ab", "r+b"]), off=st.integers(0, 6000))
    def write(self, p: str, body: bytes, how: str, off: int) -> None:
        def op(root: Path) -> None:
            with open(root / p, how) as f:
                if how == "r+b":
                    f.seek(off)
                f.write(body)

        self.both(op, p, follow=True)

    @rule(p=paths)
    def read(self, p: str) -> None:
        self.both(lambda root: (root / p).read_bytes(), p, mutating=False)

    @rule(p=paths, size=st.integers(0, 8000))
    def truncate(self, p: str, size: int) -> None:
        self.both(lambda root: os.truncate(root / p, size), p, follow=True)

    @rule(p=paths)
    def mkdir(self, p: str) -> None:
        self.both(lambda root: os.mkdir(root / p), p)

    @rule(p=paths)
    def rmdir(self, p: str) -> None:
        self.both(lambda root: os.rmdir(root / p), p)

    @rule(p=paths)
    def unlink(self, p: str) -> None:
        self.both(lambda root: os.unlink(root / p), p)

    @rule(src=paths, dst=paths)
    def rename(self, src: str, dst: str) -> None:
        moved = [r for r in self.burned | self.timed if r == src or r.startswith(src + "/")]
        # Renaming a name onto itself is a no-op that POSIX lets succeed.
        self.both(lambda root: os.rename(root / src, root / dst), src, dst, mutating=src != dst)
        for r in moved:
            self.timed.discard(r)

    @rule(p=paths, dest=st.sampled_from(["a", "d/b.txt", "nowhere"]))
    def symlink(self, p: str, dest: str) -> None:
        self.both(lambda root: os.symlink(dest, root / p), p)

    @rule(p=paths, mode=st.sampled_from([0o600, 0o644, 0o755, 0o700]))
    def chmod(self, p: str, mode: int) -> None:
        def op(root: Path) -> None:
            if (root / p).is_symlink():
                raise OSError(errno.ELOOP, "skip symlinks")
            os.chmod(root / p, mode)

        ref = self.ref / p
        # A burned directory's mode may change; setting a burned file's mode
        # to the one it has changes nothing, and succeeds.
        allowed = (
            p in self.burned
            and not ref.is_symlink()
            and (ref.is_dir() or (ref.is_file() and stat.S_IMODE(ref.stat().st_mode) == mode))
        )
        self.both(op, p, follow=True, mutating=not allowed)

    @rule(p=paths, mtime=st.integers(0, 5_869_583_999))  # ISO 9660's range
    def utime(self, p: str, mtime: int) -> None:
        def op(root: Path) -> None:
            if (root / p).is_symlink() or (root / p).is_dir():
                raise OSError(errno.ELOOP, "skip")
            os.utime(root / p, ns=(mtime * 10**9, mtime * 10**9))

        self.both(op, p, follow=True)
        if p not in self.burned and (self.ref / p).is_file():
            self.timed.add(p)

    @rule()
    def burn(self) -> None:
        # A disc holds at most 99 sessions: keep some for every example.
        if self.burns >= 2 or Model.total_burns >= 90:
            return
        self.burns += 1
        Model.total_burns += 1
        res = self.mount.burn()
        assert res.returncode == 0, res.stderr
        for dirpath, dirnames, filenames in os.walk(self.ref):
            for name in dirnames + filenames:
                self.burned.add(str((Path(dirpath) / name).relative_to(self.ref)))

    @invariant()
    def same_tree(self) -> None:
        want = snapshot(self.ref, self.timed)
        for rel in self.burned:  # on a write-once disc: shown read-only
            if want.get(rel, ("",))[0] == "file":
                kind, mode, body, mtime = want[rel]
                want[rel] = (kind, mode & ~0o222, body, mtime)
        assert snapshot(self.mnt, self.timed) == want


@pytest.fixture(scope="module")
def model_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    import sys

    base = tmp_path_factory.mktemp("model")
    env = dict(os.environ)
    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        env[var] = str(base / var.lower())
    disc = base / "disc.iso"
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "cdfs", "media", "create", str(disc), "--type", "dvd+r"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    mp = base / "mnt"
    mp.mkdir()
    m = Mount(mp, disc, env, log=base / "mount.log")
    m.start()
    try:
        yield m
    finally:
        m.kill()


def test_mount_agrees_with_reference(model_mount: Mount, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    Model.mount = model_mount
    Model.ref_root = ref
    run = Model.TestCase()
    run.settings = settings(
        max_examples=int(os.environ.get("CDFS_MODEL_EXAMPLES", "40")),
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    try:
        run.runTest()
    finally:
        shutil.rmtree(ref, ignore_errors=True)
