"""The fault knob ``CDFS_FAULT_PAUSE``: every phase a burn or an erase
enters can be held, so tests can kill the daemon at a known point."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs


def sessions(disc: Path, env: dict[str, str]) -> list[dict[str, int]]:
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return list(info["sessions"])


def kill_9(m: Any) -> None:
    assert m.proc is not None
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    m.kill()


def test_kill_9_while_held_in_recording_loses_nothing(
    mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    home["CDFS_FAULT_PAUSE"] = "recording:60"
    m = mount(disc, "--no-burn-on-unmount", name="m1")
    payload = {f"f{i}.bin": os.urandom(200_000) for i in range(3)}
    for name, data in payload.items():
        (m.path / name).write_bytes(data)
    cdfs(["burn", str(m.path)], home)
    s = m.wait_for(lambda s: s["burn"]["phase"] == "recording")
    # Held after the journal is written, before the recorder writes anything.
    journal = Path(s["staging_dir"]) / "burn-journal.json"
    assert journal.exists()
    assert sessions(disc, home) == []
    kill_9(m)
    del home["CDFS_FAULT_PAUSE"]
    m2 = mount(disc, "--no-burn-on-unmount", name="m2")
    for name, data in payload.items():
        assert (m2.path / name).read_bytes() == data
        assert os.getxattr(m2.path / name, "user.cdfs.state") == b"staged"
        assert (m2.staged() / name).read_bytes() == data
    last = m2.status()["last_burn"]
    assert last and not last["ok"] and "interrupted" in last["message"], last
    assert not journal.exists()
    assert sessions(disc, home) == []


@pytest.mark.parametrize(
    "phase", ["checking", "mastering", "recording", "verifying", "erasing", "done", "failed"]
)
def test_every_phase_can_be_held(
    mount: Any, make_disc: Any, home: dict[str, str], phase: str
) -> None:
    disc = make_disc("cd-rw80")
    if phase == "failed":
        home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 10_000})
    home["CDFS_FAULT_PAUSE"] = f"{phase}:60"
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "a.bin").write_bytes(os.urandom(100_000))
    if phase == "erasing":
        m.burn()  # something to erase; only erasing is held
        command = ["erase", "--yes", "--quiet", str(m.path)]
    else:
        command = ["burn", str(m.path)]
    burned = len(sessions(disc, home))
    waiting = subprocess.Popen(
        [sys.executable, "-m", "cdfs", *command],
        env=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        m.wait_for(lambda s: s["burn"]["phase"] == phase)
        log = m.log
        assert log is not None
        held = re.compile(rf"fault knob: pausing in {phase}\b")
        m.wait_for(lambda s: held.search(log.read_text()) is not None)
        if phase in ("checking", "mastering", "recording", "erasing"):
            # Held before the recorder touched the disc.
            assert len(sessions(disc, home)) == burned
        kill_9(m)
    finally:
        waiting.wait(timeout=60)


def test_unknown_phase_is_a_warning(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    home["CDFS_FAULT_PAUSE"] = "burning:5"
    m = mount(make_disc(), "--no-burn-on-unmount")
    assert m.log is not None
    text = m.log.read_text()
    assert "WARNING" in text and "CDFS_FAULT_PAUSE=burning:5 ignored" in text, text
    assert "'burning' is not a burn phase" in text, text
    (m.path / "a.txt").write_text("a")
    m.burn()
    assert os.getxattr(m.path / "a.txt", "user.cdfs.state") == b"disc"
