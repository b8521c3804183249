"""Recovery after a daemon died mid-burn: staged files leave only for a
session that was verified.

A session recorded with a silently corrupted byte (``corrupt_at_byte``)
and a daemon killed (``kill -9``) before the burn's verification ended:
the remount reads the session back and drops only the files that are on it
byte for byte; the damaged one stays staged with its original bytes, and
the status says so.  A burn killed after its verification passed is
finished without reading anything back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_multisession import sessions_of

from conftest import xorriso_extract

CORRUPT_AT = 200_000
"""A byte of the first file's data: past the system area and the small tree."""


def stage(m: Any) -> dict[str, bytes]:
    payload = {f"f{i}.bin": os.urandom(300_000) for i in range(3)}
    payload["small.txt"] = b"small\n"
    for name, data in payload.items():
        (m.path / name).write_bytes(data)
    return payload


def wait_log(m: Any, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in m.log.read_text():
        assert m.proc.poll() is None, m.log.read_text()
        assert time.monotonic() < deadline, m.log.read_text()
        time.sleep(0.02)


def burn_and_kill(m: Any, phase: str, *args: str) -> None:
    """Start a burn, and kill -9 the daemon once it pauses in ``phase``."""
    cmd = [sys.executable, "-m", "cdfs", "burn", *args, str(m.path)]
    subprocess.run(cmd, env=m.env, check=True, timeout=60, capture_output=True)
    wait_log(m, f"fault knob: pausing in {phase}")
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    m.kill()


def on_disc(disc: Path, home: dict[str, str], dest: Path) -> dict[str, bytes]:
    """The files of the disc's last session, read back by xorriso."""
    xorriso_extract(disc, dest, sessions_of(disc, home)[-1][0])
    return {p.name: p.read_bytes() for p in dest.iterdir()}


def check_damaged_stays_staged(
    m: Any, disc: Path, home: dict[str, str], payload: dict[str, bytes], dest: Path
) -> None:
    got = on_disc(disc, home, dest)
    damaged = [name for name, data in payload.items() if got[name] != data]
    assert len(damaged) == 1, damaged  # the test's own premise
    bad = damaged[0]
    assert (m.path / bad).read_bytes() == payload[bad]
    assert (m.staged() / bad).read_bytes() == payload[bad]
    assert os.getxattr(m.path / bad, "user.cdfs.state") == b"staged"
    for name, data in payload.items():
        if name != bad:
            assert os.getxattr(m.path / name, "user.cdfs.state") == b"disc", name
            assert (m.path / name).read_bytes() == data
            assert not (m.staged() / name).exists()
    last = m.status()["last_burn"]
    assert last["ok"] is False
    assert "1 of its files did not read back correctly and stay staged" in last["message"]
    assert bad in last["message"]
    # The next burn records it again, and this time it reads back intact.
    assert m.burn().returncode == 0
    assert on_disc(disc, home, dest.with_name(dest.name + "-again")) == payload
    assert list(m.staged().iterdir()) == []


@pytest.mark.parametrize(
    ("phase", "verify"),
    [("verifying", "full"), ("done", "none")],
)
def test_kill_before_verification_keeps_what_does_not_read_back(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], phase: str, verify: str
) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"corrupt_at_byte": CORRUPT_AT})
    home["CDFS_FAULT_PAUSE"] = f"{phase}:60"
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    payload = stage(m)
    burn_and_kill(m, phase, "--verify", verify)
    del home["CDFS_EMULATED_FAULTS"], home["CDFS_FAULT_PAUSE"]
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    assert "before verifying it; read back now" in m2.status()["last_burn"]["message"]
    check_damaged_stays_staged(m2, disc, home, payload, tmp_path / "out")


def test_failed_verification_then_remount_keeps_what_does_not_read_back(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"corrupt_at_byte": CORRUPT_AT})
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    payload = stage(m)
    res = m.burn(check=False)
    assert res.returncode == 1 and "verification failed" in res.stderr
    assert m.stop() == 0
    del home["CDFS_EMULATED_FAULTS"]
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    check_damaged_stays_staged(m2, disc, home, payload, tmp_path / "out")


def test_kill_after_verification_drops_everything(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    home["CDFS_FAULT_PAUSE"] = "done:60"
    disc = make_disc()
    m = mount(disc, "--no-burn-on-unmount")
    payload = stage(m)
    burn_and_kill(m, "done")
    del home["CDFS_FAULT_PAUSE"]
    m2 = mount(disc, "--no-burn-on-unmount", name="mnt2")
    last = m2.status()["last_burn"]
    assert last["ok"] is True
    assert "had recorded its session when cdfs stopped, and verified it" in last["message"]
    assert list(m2.staged().iterdir()) == []
    for name, data in payload.items():
        assert os.getxattr(m2.path / name, "user.cdfs.state") == b"disc"
        assert (m2.path / name).read_bytes() == data
    assert on_disc(disc, home, tmp_path / "out") == payload
