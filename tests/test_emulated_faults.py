"""The emulated recorder's speed, faults and crash recovery: pacing at the
requested speed, injected faults (failed writes, bad sectors, a disc
removed mid-burn, slowness), a marker left by a crash and a killed
recording, with the disc read back where it matters.  Layout, recording
and erasing are in tests/test_emulated.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdfs.errors import (
    BurnInProgressError,
    RecorderError,
    UsageError,
)
from cdfs.recorders import emulated
from cdfs.recorders.emulated import EmulatedRecorder, create_media, toc_path
from cdfs.recorders.knobs import FAULTS_ENV, Faults, throttle_rate
from cdfs.recorders.media import (
    RECORDER_PADDING,
    DiscState,
    Session,
    media_type,
)
from cdfs.units import SECTOR_SIZE, Lba
from tests.emulated_helpers import (
    CD_R80,
    TIMEOUT,
    FakeTime,
    disc_bytes,
    read_toc,
    recorded,
    run,
)

# --- speed -----------------------------------------------------------------


def test_throttle_rate_follows_the_media_family() -> None:
    assert throttle_rate(CD_R80, None) is None
    assert throttle_rate(CD_R80, 1) == 153_600
    assert throttle_rate(CD_R80, 52) == 52 * 153_600
    assert throttle_rate(media_type("dvd+r"), 4) == 4 * 1_385_000
    assert throttle_rate(media_type("bd-re"), 2) == 2 * 4_495_625
    with pytest.raises(UsageError):
        throttle_rate(CD_R80, 0)


@pytest.mark.parametrize("speed", [1, 4, 16])
def test_recording_is_paced_at_the_requested_speed(
    tmp_path: Path, no_env_faults: None, monkeypatch: pytest.MonkeyPatch, speed: int
) -> None:
    clock = FakeTime()
    monkeypatch.setattr(emulated, "time", clock)
    rec = create_media(tmp_path / "d.img", CD_R80)
    image = tmp_path / "img.bin"
    image.write_bytes(os.urandom(3 * 1024 * 1024 + 4096))
    rec.record(image, Lba(0), speed=speed)
    expected = image.stat().st_size / (speed * 153_600)
    assert clock.slept == pytest.approx(expected, rel=1e-6)


def test_a_bad_speed_is_refused_before_anything_is_written(
    blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    before = read_toc(blank_cdr.path)
    with pytest.raises(UsageError, match="speed must be positive"):
        blank_cdr.record(small_iso, Lba(0), speed=0)
    assert read_toc(blank_cdr.path) == before


def test_unthrottled_recording_never_sleeps(
    tmp_path: Path, no_env_faults: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    monkeypatch.setattr(emulated, "time", clock)
    rec = create_media(tmp_path / "d.img", CD_R80)
    image = tmp_path / "img.bin"
    image.write_bytes(os.urandom(2 * 1024 * 1024))
    rec.record(image, Lba(0))
    assert clock.slept == 0


def test_throttled_recording_takes_real_time(tmp_path: Path, no_env_faults: None) -> None:
    rec = create_media(tmp_path / "d.img", CD_R80)
    image = tmp_path / "img.bin"
    image.write_bytes(os.urandom(512 * 1024))
    t0 = time.monotonic()
    rec.record(image, Lba(0), speed=10)
    # Only a lower bound: a loaded machine may be slower, never faster.
    assert time.monotonic() - t0 >= 0.95 * image.stat().st_size / (10 * 153_600)


# --- faults ------------------------------------------------------------------


def test_faults_parse_from_the_environment() -> None:
    env = {FAULTS_ENV: '{"fail_after_bytes": 1048576, "slow": 0.5, "bad_sector": 9}'}
    assert Faults.from_env(env) == Faults(fail_after_bytes=1048576, slow=0.5, bad_sector=Lba(9))
    assert Faults.from_env({}) == Faults()
    for bad in ("{", "[1]", '{"explode": 1}', '{"bad_sector": -1}', '{"fail_after_bytes": "x"}'):
        with pytest.raises(UsageError, match=FAULTS_ENV):
            Faults.from_env({FAULTS_ENV: bad})


def test_recorder_takes_faults_from_the_environment(
    blank_cdr: EmulatedRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULTS_ENV, '{"remove_after_bytes": 100}')
    assert EmulatedRecorder(blank_cdr.path).faults == Faults(remove_after_bytes=100)
    assert EmulatedRecorder(blank_cdr.path, Faults()).faults == Faults()


def test_failure_on_write_once_media_wastes_the_range(
    blank_cdr: EmulatedRecorder, tmp_path: Path
) -> None:
    image = tmp_path / "img.bin"
    data = os.urandom(3 * 1024 * 1024)
    image.write_bytes(data)
    n = recorded(image)
    before = blank_cdr.disc_info().identity
    faulty = EmulatedRecorder(blank_cdr.path, Faults(fail_after_bytes=1024 * 1024 + 4096))
    with pytest.raises(RecorderError, match="failed after 1052672 bytes"):
        faulty.record(image, Lba(0))
    info = blank_cdr.disc_info()
    assert info.sessions == ()
    assert info.wasted == (Session(Lba(0), n),)
    assert info.state is DiscState.APPENDABLE
    assert info.identity != before
    assert info.nwa == n + CD_R80.run_out + CD_R80.first_gap
    assert read_toc(blank_cdr.path)["recording"] is None
    assert disc_bytes(blank_cdr.path, 0, 514) == data[: 514 * SECTOR_SIZE]
    # The lost range can never be written again, and the old address is stale.
    with pytest.raises(RecorderError, match="next writable address"):
        blank_cdr.record(image, Lba(0))
    assert blank_cdr.record(image, info.nwa).start == info.nwa


def test_failure_on_rewritable_media_leaves_the_disc_as_it_was(
    tmp_path: Path, no_env_faults: None, small_iso: Path
) -> None:
    rec = create_media(tmp_path / "rw.img", media_type("cd-rw80"))
    before = rec.disc_info()
    faulty = EmulatedRecorder(rec.path, Faults(fail_after_bytes=0))
    with pytest.raises(RecorderError, match="failed after 0 bytes"):
        faulty.record(small_iso, Lba(0))
    after = rec.disc_info()
    assert (after.sessions, after.wasted, after.nwa) == ((), (), 0)
    assert after.identity != before.identity
    assert rec.record(small_iso, Lba(0)) == Session(Lba(0), recorded(small_iso))


def test_bad_sector_fails_there(blank_cdr: EmulatedRecorder, tmp_path: Path) -> None:
    image = tmp_path / "img.bin"
    data = os.urandom(100 * SECTOR_SIZE)
    image.write_bytes(data)
    faulty = EmulatedRecorder(blank_cdr.path, Faults(bad_sector=Lba(40)))
    with pytest.raises(RecorderError, match="write error at sector 40"):
        faulty.record(image, Lba(0))
    assert disc_bytes(blank_cdr.path, 0, 40) == data[: 40 * SECTOR_SIZE]
    assert disc_bytes(blank_cdr.path, 40, 1) == b"\0" * SECTOR_SIZE
    assert blank_cdr.disc_info().wasted == (Session(Lba(0), 100 + RECORDER_PADDING),)


def test_disc_removed_mid_burn(blank_cdr: EmulatedRecorder, small_iso: Path) -> None:
    faulty = EmulatedRecorder(blank_cdr.path, Faults(remove_after_bytes=SECTOR_SIZE * 10))
    with pytest.raises(RecorderError, match="removed from the drive"):
        faulty.record(small_iso, Lba(0))
    assert blank_cdr.disc_info().wasted == (Session(Lba(0), recorded(small_iso)),)


def test_slow_fault_adds_time_per_mib(
    blank_cdr: EmulatedRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    monkeypatch.setattr(emulated, "time", clock)
    image = tmp_path / "img.bin"
    image.write_bytes(os.urandom(2 * 1024 * 1024))
    EmulatedRecorder(blank_cdr.path, Faults(slow=1.5)).record(image, Lba(0))
    assert clock.slept == pytest.approx(3.0)


def test_fault_injected_through_the_environment_of_another_process(
    blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from cdfs.recorders.emulated import EmulatedRecorder\n"
        "from cdfs.errors import RecorderError\n"
        "try:\n"
        f"    EmulatedRecorder(Path({str(blank_cdr.path)!r})).record(Path({str(small_iso)!r}), 0)\n"
        "except RecorderError as e:\n"
        "    print(e); sys.exit(7)\n"
    )
    env = dict(os.environ, CDFS_EMULATED_FAULTS='{"fail_after_bytes": 4096}')
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert res.returncode == 7, res.stderr
    assert "injected fault" in res.stdout
    assert blank_cdr.disc_info().wasted == (Session(Lba(0), recorded(small_iso)),)


# --- crashes -----------------------------------------------------------------


def test_marker_left_by_a_crash_becomes_wasted_on_open(
    blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    blank_cdr.record(small_iso, Lba(0))
    first = blank_cdr.disc_info()
    assert first.nwa is not None
    toc = read_toc(blank_cdr.path)
    toc["recording"] = [first.nwa, 5000]
    toc_path(blank_cdr.path).write_text(json.dumps(toc))
    info = EmulatedRecorder(blank_cdr.path).disc_info()
    assert info.sessions == first.sessions
    assert info.wasted == (Session(first.nwa, 5000),)
    assert info.nwa == first.nwa + 5000 + CD_R80.run_out + CD_R80.later_gap
    assert read_toc(blank_cdr.path)["recording"] is None


def test_killed_recording_is_recovered_and_earlier_sessions_survive(
    tmp_path: Path, blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    disc = blank_cdr.path
    blank_cdr.record(small_iso, Lba(0))
    nwa = blank_cdr.disc_info().nwa
    assert nwa is not None
    image = tmp_path / "slow.bin"
    image.write_bytes(os.urandom(4 * 1024 * 1024))
    code = (
        "from pathlib import Path; from cdfs.recorders.emulated import EmulatedRecorder\n"
        f"EmulatedRecorder(Path({str(disc)!r})).record(Path({str(image)!r}), {nwa})\n"
    )
    env = dict(os.environ, CDFS_EMULATED_FAULTS='{"slow": 30}')
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while read_toc(disc)["recording"] is None:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # While the child holds the drive nothing is recovered or recorded.
        assert blank_cdr.disc_info().wasted == ()
        assert read_toc(disc)["recording"] == [nwa, recorded(image)]
        with pytest.raises(BurnInProgressError):
            blank_cdr.record(small_iso, nwa)
        with pytest.raises(BurnInProgressError):
            blank_cdr.erase()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=TIMEOUT)
    info = EmulatedRecorder(disc).disc_info()
    assert info.sessions == (Session(Lba(0), recorded(small_iso)),)
    assert info.wasted == (Session(nwa, recorded(image)),)
    assert "hello.txt" in run(["isoinfo", "-i", str(disc), "-R", "-l"])
