"""A mount's life seen from the command line: erase, umount and mount
against the real state of mounts and daemons (a disc a mount is using, a
daemon that exited but was not reaped, an unmount burn that fails, a
daemon killed with kill -9)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_listing

Status = dict[str, Any]


def status(mp: Path) -> Status:
    data: Status = json.loads(os.getxattr(mp, "user.cdfs.status"))
    return data


def wait_until(check: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def request_done(mp: Path, ticket: int) -> bool:
    """Whether the burn of request ``ticket`` has ended."""
    return bool((status(mp).get("last_burn") or {}).get("request", 0) >= ticket)


def mount_entry(mp: Path) -> str | None:
    """The fs type of the mount at ``mp`` in /proc/self/mountinfo, if any."""
    escaped = str(mp).replace("\\", "\\134").replace(" ", "\\040")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if fields[4] == escaped:
            return fields[fields.index("-", 6) + 1]
    return None


def is_dead(mp: Path) -> bool:
    try:
        os.stat(mp)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("cdfs: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def disc_hash(disc: Path) -> str:
    """The emulated disc's image and its table of contents, hashed."""
    digests = []
    for path in (disc, disc.with_name(disc.name + ".toc")):
        with path.open("rb") as f:
            digests.append(hashlib.file_digest(f, "sha256").hexdigest())
    return " ".join(digests)


def last_session(disc: Path, env: dict[str, str]) -> int:
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    start: int = info["sessions"][-1]["start"]
    return start


@pytest.fixture
def background(tmp_path: Path, home: dict[str, str]) -> Iterator[Any]:
    """Background mounts (``cdfs mount`` without -f); each is lazily
    unmounted and its daemon ended after the test."""
    pids: list[int] = []
    mps: list[Path] = []

    def start(disc: Path, *extra: str, name: str = "bg", env: dict[str, str] | None = None) -> Path:
        mp = tmp_path / name
        mp.mkdir(exist_ok=True)
        cdfs(["mount", "--drive", str(disc), *extra, str(mp)], env or home, timeout=60)
        mps.append(mp)
        pids.append(status(mp)["pid"])
        return mp

    yield start
    for mp in mps:
        subprocess.run(
            ["fusermount3", "-u", "-z", str(mp)], capture_output=True, timeout=30, check=False
        )
    for pid in pids:
        deadline = time.monotonic() + 30
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(pid):
            os.kill(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill_daemon(mp: Path) -> None:
    """kill -9 the daemon of a background mount; returns once the mount is dead."""
    os.kill(status(mp)["pid"], signal.SIGKILL)
    wait_until(lambda: is_dead(mp), "the mount to die")


# -- erase ------------------------------------------------------------------


def test_erase_of_a_disc_in_use_by_a_mount_is_refused(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc)
    (m.path / "burned.txt").write_text("burned\n")
    m.burn()
    (m.path / "waiting.txt").write_text("staged\n")
    before = disc_hash(disc)
    for flags in ([], ["--full"]):
        res = cdfs(["erase", "--yes", "-q", *flags, str(disc)], m.env, check=False)
        assert res.returncode == 8, res.stderr
        line = one_line_error(res)
        assert f"in use by the cdfs mount at {m.path}" in line
        assert f"'cdfs erase {' '.join([*flags, str(m.path)])}'" in line
        assert disc_hash(disc) == before
    # The mount is undisturbed: it shows the disc and burns onto it.
    assert (m.path / "burned.txt").read_text() == "burned\n"
    m.burn()
    listing = xorriso_listing(disc, last_session(disc, m.env))
    assert "burned.txt" in listing and "waiting.txt" in listing
    # Through the mount, the erase is done and the mount knows it.
    (m.path / "later.txt").write_text("later\n")
    res = cdfs(["erase", "--yes", "-q", str(m.path)], m.env, timeout=120)
    assert "erased" in res.stdout
    assert sorted(os.listdir(m.path)) == ["later.txt"]
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "blank"
    m.burn()
    assert os.getxattr(m.path / "later.txt", "user.cdfs.state") == b"disc"
    assert m.stop() == 0
    # Once unmounted, the disc can be erased directly.
    res = cdfs(["erase", "--yes", "-q", str(disc)], m.env, timeout=120)
    assert "erased" in res.stdout


# -- umount -----------------------------------------------------------------


def test_umount_returns_when_the_daemon_is_a_zombie(mount: Any, make_disc: Any) -> None:
    """The fixture's ``cdfs mount -f`` child is not reaped while ``cdfs
    umount`` runs: it stays a zombie, which kill(pid, 0) still answers."""
    disc = make_disc()
    m = mount(disc)
    (m.path / "z.txt").write_text("zombie\n")
    res = cdfs(["umount", "-q", str(m.path)], m.env, timeout=60)
    assert "burned 1 file (" in res.stdout
    assert not os.path.ismount(m.path)
    assert m.stop() == 0
    assert "z.txt" in xorriso_listing(disc)


def test_umount_reports_a_failed_unmount_burn_every_time(
    tmp_path: Path, background: Any, make_disc: Any, home: dict[str, str]
) -> None:
    # Burns fail quickly, in checking, and leave the disc as it is: the
    # stash directory, good at mount time, is a file by the time of the burn.
    stash = tmp_path / "stash"
    disc = make_disc("cd-rw80")
    before = disc_hash(disc)
    for round_ in range(3):
        stash.unlink(missing_ok=True)
        stash.mkdir()
        mp = background(disc, "--stash-dir", str(stash))
        stash.rmdir()
        stash.write_text("not a directory\n")
        if round_ == 0:
            (mp / "kept.txt").write_text("kept\n")
        # A burn that fails just before the unmount burn does, most likely in
        # the same second: finish times kept to the second cannot tell them
        # apart, the results' ids can.
        time.sleep(1 - time.time() % 1)
        run(["touch", str(mp / ".burn")])
        wait_until(partial(request_done, mp, status(mp)["requests"]), "the first burn to fail")
        assert not status(mp)["last_burn"]["ok"]
        res = cdfs(["umount", "-q", str(mp)], home, check=False, timeout=120)
        assert res.returncode == 1, (res.stdout, res.stderr)
        line = one_line_error(res)
        assert "burn failed" in line and f"cannot write the stash file in {stash}" in line
        assert not os.path.ismount(mp)
    assert disc_hash(disc) == before
    mp = background(disc, "--no-burn-on-unmount", name="after")
    assert (mp / "kept.txt").read_text() == "kept\n"
    assert os.getxattr(mp / "kept.txt", "user.cdfs.state") == b"staged"


# -- dead mounts ------------------------------------------------------------


def test_a_mount_killed_mid_burn_is_mounted_again_and_recovered(
    tmp_path: Path, background: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc()
    slow = dict(home, CDFS_EMULATED_FAULTS=json.dumps({"slow": 20.0}))
    mp = background(disc, env=slow)
    payload = {f"f{i}.bin": os.urandom(300_000) for i in range(3)}
    for name, data in payload.items():
        (mp / name).write_bytes(data)
    run(["touch", str(mp / ".burn")])
    wait_until(lambda: status(mp)["burn"]["phase"] == "recording", "the recording")
    kill_daemon(mp)
    assert mount_entry(mp) == "fuse.cdfs"
    res = cdfs(["status", str(mp)], home, check=False)
    assert res.returncode == 3 and "has stopped" in one_line_error(res)
    res = cdfs(["erase", "--yes", str(mp)], home, check=False)
    assert res.returncode == 3 and "has stopped" in one_line_error(res)

    res = cdfs(["mount", "--drive", str(disc), str(mp)], home, timeout=60)
    # One line says what was done; settling the interrupted recording (when
    # the kill came after it began), which worked, is in the log only.
    assert res.stderr == f"cdfs: removed the dead mount at {mp} (its daemon had stopped)\n"
    last = status(mp)["last_burn"]
    assert not last["ok"] and "interrupted before its session was recorded" in last["message"]
    assert "still staged" in cdfs(["status", str(mp)], home).stdout
    for name, data in payload.items():
        assert (mp / name).read_bytes() == data
        assert os.getxattr(mp / name, "user.cdfs.state") == b"staged"
    cdfs(["burn", "--wait", "-q", str(mp)], home, timeout=300)
    # Read back with isoinfo at the last session's start: when the kill came
    # before sector 16 was written, the image has no volume descriptor where
    # a first session's would be, and xorriso takes it for blank media and
    # refuses to load a later session from it (see the README).
    start = last_session(disc, home)
    for name, data in payload.items():
        cmd = ["isoinfo", "-i", str(disc), "-T", str(start), "-R", "-x", f"/{name}"]
        got = subprocess.run(cmd, capture_output=True, timeout=60, check=True)
        assert got.stdout == data, name
    listing = run(["isoinfo", "-i", str(disc), "-T", str(start), "-R", "-f"]).stdout.split()
    assert sorted(listing) == sorted(f"/{name}" for name in payload)
    res = cdfs(["umount", "-q", str(mp)], home, timeout=120)
    assert not os.path.ismount(mp) and mount_entry(mp) is None


def test_umount_of_a_dead_mount_removes_it(
    background: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc()
    mp = background(disc, name="dead mount")  # a space, escaped in mountinfo
    (mp / "waiting.txt").write_text("waiting\n")
    kill_daemon(mp)
    # Paths under the dead mount cannot be reached: one line says so.
    inside = (["media", "info"], ["erase", "--yes"], ["mount"])
    for args in inside:
        res = cdfs([*args, str(mp / "x.iso")], home, check=False)
        assert res.returncode == 3, res.stderr
        assert "Transport endpoint is not connected" in one_line_error(res)
    res = cdfs(["umount", str(mp)], home, check=False, timeout=60)
    assert res.returncode == 3
    line = one_line_error(res)
    assert "had stopped" in line and "removed its dead mount" in line
    assert f"cdfs mount {mp}" in line
    assert mount_entry(mp) is None and not is_dead(mp)
    res = cdfs(["umount", str(mp)], home, check=False)
    assert res.returncode == 3 and "not a cdfs mount" in one_line_error(res)
    # Mounting again finishes the job: the staged file is burned on unmount.
    background(disc, name="dead mount")
    assert (mp / "waiting.txt").read_text() == "waiting\n"
    res = cdfs(["umount", "-q", str(mp)], home, timeout=120)
    assert "burned 1 file (" in res.stdout
    assert "waiting.txt" in xorriso_listing(disc)


OTHER_FS = """
import sys, pyfuse3, trio
pyfuse3.init(pyfuse3.Operations(), sys.argv[1], {"fsname=other", "subtype=other"})
trio.run(pyfuse3.main)
"""


def test_a_dead_mount_of_another_file_system_is_left_alone(
    tmp_path: Path, home: dict[str, str], make_disc: Any
) -> None:
    disc = make_disc()
    mp = tmp_path / "other"
    mp.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", OTHER_FS, str(mp)])
    try:
        wait_until(lambda: mount_entry(mp) == "fuse.other", "the other file system")
        proc.kill()
        proc.wait(timeout=30)
        assert is_dead(mp)
        for args in (["mount", "--drive", str(disc), str(mp)], ["umount", str(mp)]):
            res = cdfs(args, home, check=False, timeout=60)
            assert res.returncode == 3 and "leaves it alone" in one_line_error(res)
            assert mount_entry(mp) == "fuse.other" and is_dead(mp)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        subprocess.run(
            ["fusermount3", "-u", "-z", str(mp)], capture_output=True, timeout=30, check=False
        )
