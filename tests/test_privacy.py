"""Other local users: they can neither read what is staged, stashed or
logged, nor redirect cdfs's writes with planted links, nor block burns.

The other user is uid 65534 (``setpriv``); the files under test live below
a directory it can reach (pytest's own tmp_path is root's alone), with
XDG directories as a user's usually are (0755), so that only cdfs's own
modes stand in its way.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_extract, xorriso_listing

NOBODY = 65534
XDG = {
    "XDG_DATA_HOME": "data",
    "XDG_CACHE_HOME": "cache",
    "XDG_STATE_HOME": "state",
    "XDG_CONFIG_HOME": "config",
}


def as_nobody(*cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd],
        check=check,
        timeout=30,
    )


def assert_nobody_cannot_read(path: Path) -> None:
    res = as_nobody("cat", str(path))
    assert res.returncode != 0 and "Permission denied" in res.stderr, (path, res)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory other users can reach, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="cdfs-privacy-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def homes_in(home: dict[str, str], base: Path) -> dict[str, Path]:
    """Move the XDG directories of ``home`` under ``base``, 0755 like a
    user's ~/.local/share; returns them by variable."""
    out = {}
    for var, sub in XDG.items():
        d = base / "home" / sub
        d.mkdir(parents=True)
        d.chmod(0o755)
        home[var] = str(d)
        out[var] = d
    (base / "home").chmod(0o755)
    return out


def wait_phase(m: Any, phase: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while m.status()["burn"]["phase"] != phase:
        assert time.monotonic() < deadline, m.status()
        time.sleep(0.02)


def request_burn(m: Any, *args: str) -> None:
    cdfs(["burn", *args, str(m.path)], m.env)


def kill_9(m: Any) -> None:
    assert m.proc is not None
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    m.kill()


def test_staging_stash_and_state_are_private_whatever_the_umask(
    mount: Any, make_disc: Any, home: dict[str, str], shared: Path
) -> None:
    dirs = homes_in(home, shared)
    # Slow recording: the stash, the journal and the drive lock exist meanwhile.
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 4.0})
    with umask(0):
        disc = make_disc()
        m = mount(disc, "--no-burn-on-unmount")
    fd = os.open(m.path / "secret.txt", os.O_WRONLY | os.O_CREAT, 0o600)  # as umask 077 makes it
    os.write(fd, b"my secret\n")
    os.close(fd)
    (m.path / "plain.txt").write_text("readable by all on the disc\n")
    (m.path / "dir").mkdir()
    request_burn(m)
    wait_phase(m, "recording")
    staging = Path(m.status()["staging_dir"])
    cache, state = dirs["XDG_CACHE_HOME"] / "cdfs", dirs["XDG_STATE_HOME"] / "cdfs"
    stashes = list(cache.glob("cdfs-stash-*"))
    assert len(stashes) == 1, stashes
    private_dirs = [dirs["XDG_DATA_HOME"] / "cdfs", staging.parent, staging, cache]
    private_files = [
        stashes[0],
        staging / "status.json",
        staging / "burn-journal.json",
        staging / "lock",
        disc,
        Path(f"{disc}.toc"),
    ]
    assert {str(p): oct(mode(p)) for p in private_dirs} == {str(p): "0o700" for p in private_dirs}
    assert {str(p): oct(mode(p)) for p in private_files} == {str(p): "0o600" for p in private_files}
    # Staged files keep their own modes (they are burned with them).
    assert mode(staging / "staged" / "plain.txt") == 0o644
    assert mode(staging / "staged" / "secret.txt") == 0o600
    for path in [
        stashes[0],
        staging / "status.json",
        staging / "burn-journal.json",
        staging / "staged" / "plain.txt",
        staging / "staged" / "secret.txt",
    ]:
        assert_nobody_cannot_read(path)
    assert as_nobody("ls", str(staging / "staged")).returncode != 0
    # The drive lock cannot be taken by anyone else.
    (lock,) = (state / "locks").iterdir()
    assert (mode(state), mode(state / "locks"), mode(lock)) == (0o700, 0o700, 0o600)
    res = as_nobody("flock", "-n", "-s", str(lock), "true")
    assert res.returncode != 0 and "Permission denied" in res.stderr, res
    last = m.wait_for_burn(1)
    assert last["ok"], last
    assert mode(staging / "status.json") == 0o600
    assert list(cache.iterdir()) == []


def test_planted_links_in_a_shared_stash_dir_are_never_followed(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], shared: Path
) -> None:
    tmpdir = shared / "tmp"  # like /tmp: world-writable, sticky
    tmpdir.mkdir()
    tmpdir.chmod(0o1777)
    disc = make_disc("cd-rw80")
    m = mount(disc, "--no-burn-on-unmount", "--stash-dir", str(tmpdir))
    ident = Path(m.status()["staging_dir"]).name
    victims = {}
    for name in (f"cdfs-stash-{ident}.iso", f"cdfs-rewrite-{ident}.iso", ".cdfs-write-test"):
        victim = tmp_path / f"victim{len(victims)}"
        victim.write_bytes(b"precious: " + name.encode() * 1000)
        victims[victim] = victim.read_bytes()
        as_nobody("ln", "-s", str(victim), str(tmpdir / name), check=True)
    (m.path / "a.txt").write_text("first session\n")
    m.burn()
    (m.path / "b.txt").write_text("second\n")
    m.burn("--rewrite")
    for victim, data in victims.items():
        assert victim.read_bytes() == data, victim
    listing = xorriso_listing(disc)
    assert "a.txt" in listing and "b.txt" in listing
    # Stashes went into a private subdirectory, and are gone.
    sub = tmpdir / f"cdfs-{os.geteuid()}"
    st = os.lstat(sub)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and mode(sub) == 0o700
    assert list(sub.iterdir()) == []


@pytest.mark.parametrize("planted", ["link", "their dir", "their shared dir"])
def test_a_stash_dir_someone_else_controls_is_refused(
    tmp_path: Path,
    mount: Any,
    make_disc: Any,
    shared: Path,
    planted: str,
    home: dict[str, str],
) -> None:
    tmpdir = shared / "tmp"
    tmpdir.mkdir()
    if planted == "their shared dir":
        os.chown(tmpdir, NOBODY, NOBODY)
    tmpdir.chmod(0o1777)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("keep\n")
    sub = tmpdir / f"cdfs-{os.geteuid()}"
    if planted == "link":
        as_nobody("ln", "-s", str(mine), str(sub), check=True)
    elif planted == "their dir":
        as_nobody("mkdir", "-m", "0777", str(sub), check=True)
    # Refused when mounting ...
    (tmp_path / "mnt").mkdir()
    disc = make_disc()
    res = cdfs(
        ["mount", "--drive", str(disc), "--stash-dir", str(tmpdir), str(tmp_path / "mnt")],
        home,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "will not write the stash file" in res.stderr, res.stderr
    assert "choose another stash directory" in res.stderr
    assert not os.path.ismount(tmp_path / "mnt")
    assert sorted(os.listdir(mine)) == ["keep.txt"]
    # ... and when burning, if it was planted after the mount.
    hidden, plant = shared / "planted", tmpdir if planted == "their shared dir" else sub
    os.rename(plant, hidden)
    if planted == "their shared dir":
        tmpdir.mkdir()
        tmpdir.chmod(0o1777)
    m = mount(disc, "--no-burn-on-unmount", "--stash-dir", str(tmpdir))
    shutil.rmtree(plant)
    os.rename(hidden, plant)
    (m.path / "f.txt").write_text("staged\n")
    res = m.burn(check=False)
    assert res.returncode == 1
    assert "will not write the stash file" in res.stderr, res.stderr
    assert "choose another stash directory" in res.stderr
    assert sorted(os.listdir(mine)) == ["keep.txt"]
    assert (mine / "keep.txt").read_text() == "keep\n"
    if planted == "their dir":
        assert os.listdir(sub) == []
    if planted == "their shared dir":
        assert os.listdir(tmpdir) == []
    assert os.getxattr(m.path / "f.txt", "user.cdfs.state") == b"staged"


def test_a_stash_left_by_a_crash_is_removed_on_remount(
    mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc()
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 20.0})
    m = mount(disc, "--no-burn-on-unmount")
    data = os.urandom(300_000)
    (m.path / "f.bin").write_bytes(data)
    ident = Path(m.status()["staging_dir"]).name
    request_burn(m)
    wait_phase(m, "recording")
    cache = Path(home["XDG_CACHE_HOME"]) / "cdfs"
    (stash,) = cache.glob(f"cdfs-stash-{ident}*")
    others = [
        cache / f"cdfs-stash-emulated-0123456789abcdef.{'1' * 16}.iso",  # another recorder's
        cache / f"cdfs-rewrite-{ident}.{'2' * 16}.iso",  # a rewrite's, kept for the user
        cache / "notes.txt",
    ]
    for path in others:
        path.write_text("not a stash to remove\n")
    kill_9(m)
    assert stash.exists()
    del home["CDFS_EMULATED_FAULTS"]
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    assert not stash.exists()
    assert all(path.exists() for path in others)
    assert (m2.path / "f.bin").read_bytes() == data


def test_an_interrupted_rewrite_keeps_its_stash_across_remounts(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-rw80")
    m0 = mount(disc, "--no-burn-on-unmount", name="m0")
    old = os.urandom(200_000)
    (m0.path / "old.bin").write_bytes(old)
    m0.burn()
    m0.stop()
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 20.0})
    m1 = mount(disc, "--no-burn-on-unmount", name="m1")
    new = os.urandom(300_000)
    (m1.path / "new.bin").write_bytes(new)
    request_burn(m1, "--rewrite")
    wait_phase(m1, "recording")  # after the erase
    kill_9(m1)
    del home["CDFS_EMULATED_FAULTS"]
    m2 = mount(disc, "--no-burn-on-unmount", name="m2")
    message = m2.status()["last_burn"]["message"]
    found = re.search(r"burn it with 'cdfs burn-image (.+?)'", message)
    assert found, message
    stash = Path(found.group(1))
    assert stash.is_file() and mode(stash) == 0o600
    m2.stop()
    m3 = mount(disc, "--no-burn-on-unmount", name="m3")
    assert stash.is_file()
    m3.stop()
    cdfs(["burn-image", "--drive", str(disc), "-q", str(stash)], home)
    out = tmp_path / "out"
    xorriso_extract(disc, out)
    assert (out / "old.bin").read_bytes() == old
    assert (out / "new.bin").read_bytes() == new


def test_another_user_cannot_block_burns(mount: Any, home: dict[str, str], shared: Path) -> None:
    disc = shared / "disc.iso"
    with umask(0):
        cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    toc = Path(f"{disc}.toc")
    created = (mode(disc), mode(toc))
    # A disc its owner lets others read (or one an earlier cdfs made 0644).
    disc.chmod(0o644)
    toc.chmod(0o644)
    holder = subprocess.Popen(
        [
            *("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"),
            *("flock", "-s", str(disc), "-c", "echo locked; exec sleep 120"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        m = mount(disc, "--no-burn-on-unmount")
        (m.path / "f.txt").write_text("burned despite the other user\n")
        res = m.burn(check=False)
        assert res.returncode == 0, res.stderr
        assert "f.txt" in xorriso_listing(disc)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # Made private, no one else could have opened it at all.
    assert created == (0o600, 0o600)


def test_one_recording_at_a_time_per_drive(
    tmp_path: Path, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-rw80")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(600_000))
    image = tmp_path / "image.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(image), str(src)])
    script = (
        "import sys; from cdfs.recorders.emulated import EmulatedRecorder; "
        "from cdfs.recorders.knobs import Faults; "
        "EmulatedRecorder(sys.argv[1], Faults(slow=30.0)).record(sys.argv[2], 0)"
    )
    recording = subprocess.Popen([sys.executable, "-c", script, str(disc), str(image)], env=home)
    try:
        deadline = time.monotonic() + 30
        while json.loads(Path(f"{disc}.toc").read_text())["recording"] is None:
            assert time.monotonic() < deadline and recording.poll() is None
            time.sleep(0.02)
        res = cdfs(["erase", "--yes", "-q", str(disc)], home, check=False)
        assert res.returncode == 8 and "busy recording or erasing" in res.stderr, res
        # Asking about the disc meanwhile does not take the recording for a crashed one.
        cdfs(["media", "info", str(disc)], home)
        assert json.loads(Path(f"{disc}.toc").read_text())["recording"] is not None
    finally:
        recording.kill()
        recording.wait(timeout=30)


def test_open_directories_of_an_earlier_version_are_tightened(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    staging = Path(m.status()["staging_dir"])
    m.stop()
    data, state, cache = (
        Path(home[v]) / "cdfs" for v in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
    )
    for d in (data, data / "staging", staging, state, cache):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
    (staging / "status.json").chmod(0o644)
    # A link the user made to keep locks elsewhere: followed, never changed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    locks = state / "locks"
    if locks.exists():
        locks.rmdir()
    locks.symlink_to(elsewhere)
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    for d in (data, data / "staging", staging, state, cache):
        assert mode(d) == 0o700, d
    assert mode(staging / "status.json") == 0o600
    (m2.path / "f.txt").write_text("x\n")
    m2.burn()
    assert locks.is_symlink() and mode(elsewhere) == 0o755


def test_background_mount_default_disc_and_log_are_private(
    tmp_path: Path, home: dict[str, str], shared: Path
) -> None:
    dirs = homes_in(home, shared)
    mp = tmp_path / "mnt"
    mp.mkdir()
    with umask(0):
        cdfs(["mount", str(mp)], home)
    pid = 0
    try:
        status = json.loads(os.getxattr(mp, "user.cdfs.status"))
        pid = status["pid"]
        disc = dirs["XDG_DATA_HOME"] / "cdfs" / "default-disc.iso"
        ident = Path(status["staging_dir"]).name
        log = dirs["XDG_STATE_HOME"] / "cdfs" / f"{ident}.log"
        assert mode(dirs["XDG_DATA_HOME"] / "cdfs") == 0o700
        assert mode(dirs["XDG_STATE_HOME"] / "cdfs") == 0o700
        for path in (disc, Path(f"{disc}.toc"), log):
            assert mode(path) == 0o600, path
            assert_nobody_cannot_read(path)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mp)], timeout=30, check=False)
        deadline = time.monotonic() + 30
        while pid and running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid and running(pid):
            os.kill(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no longer does)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"
