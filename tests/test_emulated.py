"""The emulated recorder: disc image layout, TOC, write-once rule, recording,
throttling, faults, crash recovery and erasing, checked with independent
readers (isoinfo, xorriso) where the disc's content matters."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cdfs.errors import (
    BurnInProgressError,
    CdfsError,
    MediaError,
    NotFoundError,
    NotWritableError,
    RecorderError,
    UsageError,
    WriteOnceError,
)
from cdfs.recorders import emulated
from cdfs.recorders.emulated import EmulatedRecorder, create_media, toc_path
from cdfs.recorders.knobs import FAULTS_ENV, Faults, throttle_rate
from cdfs.recorders.media import (
    MEDIA_TYPES,
    RECORDER_PADDING,
    DiscState,
    Session,
    media_type,
)
from cdfs.recorders.opening import open_recorder
from cdfs.recorders.recorder import Recorder
from cdfs.units import SECTOR_SIZE, Lba

TIMEOUT = 120
CD_R80 = media_type("cd-r80")


def run(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def make_iso(tmp_path: Path, name: str, files: dict[str, bytes], volid: str = "FIRST") -> Path:
    """A first-session ISO (Rock Ridge + Joliet) made by xorriso, padded."""
    src = make_tree(tmp_path / f"{name}-src", files)
    out = tmp_path / f"{name}.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", volid, "-o", str(out), str(src)])
    return out


def make_next_session(
    tmp_path: Path, disc: Path, last_start: int, nwa: int, files: dict[str, bytes], volid: str
) -> Path:
    """A follow-up session made by genisoimage against the disc image."""
    src = make_tree(tmp_path / f"s{nwa}-src", files)
    out = tmp_path / f"s{nwa}.iso"
    msinfo = f"{last_start},{nwa}"
    run(
        [
            "genisoimage",
            "-quiet",
            "-R",
            "-J",
            "-V",
            volid,
            "-C",
            msinfo,
            "-M",
            str(disc),
            "-o",
            str(out),
            str(src),
        ]
    )
    return out


def sectors(path: Path) -> int:
    return -(-path.stat().st_size // SECTOR_SIZE)


def recorded(path: Path) -> int:
    """The session a recording of the image ``path`` makes: the image and
    the zeros the recorder writes after it (xorriso's padsize=300k)."""
    return sectors(path) + RECORDER_PADDING


def read_toc(disc: Path) -> dict[str, object]:
    data = json.loads(toc_path(disc).read_text())
    assert isinstance(data, dict)
    return data


def disc_bytes(disc: Path, start: int, count: int) -> bytes:
    with disc.open("rb") as f:
        f.seek(start * SECTOR_SIZE)
        return f.read(count * SECTOR_SIZE)


@pytest.fixture
def no_env_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULTS_ENV, raising=False)


@pytest.fixture
def blank_cdr(tmp_path: Path, no_env_faults: None) -> EmulatedRecorder:
    return create_media(tmp_path / "disc.img", CD_R80)


@pytest.fixture
def small_iso(tmp_path: Path) -> Path:
    return make_iso(tmp_path, "small", {"hello.txt": b"hello, disc\n", "d/x.bin": os.urandom(5000)})


class FakeTime:
    """A clock that only moves when slept on: pacing becomes exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


# --- creating and opening --------------------------------------------------


@pytest.mark.parametrize("name", sorted(MEDIA_TYPES))
def test_create_each_media_type_is_blank_sparse_and_full_size(
    tmp_path: Path, name: str, no_env_faults: None
) -> None:
    media = MEDIA_TYPES[name]
    disc = tmp_path / f"{name}.img"
    rec = create_media(disc, media)
    st = disc.stat()
    assert st.st_size == media.capacity * SECTOR_SIZE
    assert st.st_blocks * 512 < 1024 * 1024  # sparse: nothing allocated
    info = rec.disc_info()
    assert info.media == media
    assert info.state is DiscState.BLANK
    assert info.sessions == () and info.wasted == ()
    # Overwritable media keep LBAs 0-31 for the superblock copy (issue 13).
    first = 32 if name in ("dvd+rw", "bd-re") else 0
    assert info.nwa == first
    assert info.room == media.capacity - first - RECORDER_PADDING - media.run_out
    assert re.fullmatch(r"[0-9a-f]{32}", info.identity)
    toc = read_toc(disc)
    assert toc["media"] == name and toc["state"] == "blank" and toc["recording"] is None


def test_create_refuses_to_overwrite_and_needs_the_directory(
    tmp_path: Path, no_env_faults: None
) -> None:
    existing = tmp_path / "precious.img"
    existing.write_bytes(b"do not touch")
    with pytest.raises(UsageError, match="already exists"):
        create_media(existing, CD_R80)
    assert existing.read_bytes() == b"do not touch"
    assert not toc_path(existing).exists()
    with pytest.raises(NotFoundError, match="does not exist"):
        create_media(tmp_path / "nowhere" / "disc.img", CD_R80)


def test_opening_missing_image_or_bad_toc_is_a_clear_error(
    tmp_path: Path, no_env_faults: None
) -> None:
    with pytest.raises(NotFoundError, match="cdfs media create"):
        EmulatedRecorder(tmp_path / "missing.img")
    plain = tmp_path / "plain.img"
    plain.write_bytes(b"\0" * 4096)
    with pytest.raises(MediaError, match=r"table of contents .* missing"):
        EmulatedRecorder(plain)
    disc = tmp_path / "disc.img"
    create_media(disc, CD_R80)
    good = toc_path(disc).read_text()
    for bad in (
        "{not json",
        "[]",
        good.replace('"cd-r80"', '"cd-r81"'),
        good.replace('"blank"', '"melted"'),
        good.replace('"written": []', '"written": [[-1, 5]]'),
        good.replace('"version": 1', '"version": 99'),
    ):
        toc_path(disc).write_text(bad)
        with pytest.raises(MediaError, match="corrupt"):
            EmulatedRecorder(disc)


def test_ident_is_stable_safe_and_follows_the_real_path(
    tmp_path: Path, blank_cdr: EmulatedRecorder
) -> None:
    again = EmulatedRecorder(blank_cdr.path)
    assert again.ident == blank_cdr.ident
    assert re.fullmatch(r"emulated-[0-9a-f]{16}", blank_cdr.ident)
    link = tmp_path / "link.img"
    link.symlink_to(blank_cdr.path)
    (tmp_path / "link.img.toc").symlink_to(toc_path(blank_cdr.path))
    assert EmulatedRecorder(link).ident == blank_cdr.ident
    other = create_media(tmp_path / "other.img", CD_R80)
    assert other.ident != blank_cdr.ident
    assert isinstance(blank_cdr, Recorder)


def test_open_recorder_picks_the_backend(tmp_path: Path, blank_cdr: EmulatedRecorder) -> None:
    from cdfs.recorders.xorriso import XorrisoRecorder

    assert isinstance(open_recorder(str(blank_cdr.path)), EmulatedRecorder)
    assert isinstance(open_recorder("/dev/null"), XorrisoRecorder)  # any path under /dev/
    if not os.path.exists("/dev/sr7"):
        # A drive that is not there is refused at once (nothing is made for it).
        with pytest.raises(NotFoundError, match="no drive at /dev/sr7"):
            open_recorder("/dev/sr7")
    assert isinstance(open_recorder(f"stdio:{tmp_path}/x.iso"), XorrisoRecorder)
    with pytest.raises(NotFoundError, match="cdfs media create"):
        open_recorder(str(tmp_path / "nope.img"))


# --- recording -----------------------------------------------------------


def test_first_session_reads_back_with_isoinfo_and_xorriso(
    blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    disc = blank_cdr.path
    before = blank_cdr.disc_info()
    calls: list[tuple[int, int]] = []
    session = blank_cdr.record(small_iso, Lba(0), progress=lambda d, t: calls.append((d, t)))
    n = sectors(small_iso)
    assert session == Session(Lba(0), n + RECORDER_PADDING)
    assert disc_bytes(disc, n, RECORDER_PADDING) == bytes(RECORDER_PADDING * SECTOR_SIZE)
    info = blank_cdr.disc_info()
    assert info.state is DiscState.APPENDABLE
    assert info.sessions == (session,)
    assert info.label == "FIRST"
    assert info.identity != before.identity
    # Orange Book: 11,400 + run-out after the padded track
    assert info.nwa == session.end + CD_R80.run_out + CD_R80.first_gap
    assert calls[0] == (0, small_iso.stat().st_size)
    assert calls[-1] == (small_iso.stat().st_size,) * 2
    assert disc_bytes(disc, 0, n) == small_iso.read_bytes()
    with blank_cdr.open_reader() as r:
        r.seek(16 * SECTOR_SIZE)
        assert r.read(6)[1:] == b"CD001"
    listing = run(["isoinfo", "-i", str(disc), "-R", "-l"])
    assert "hello.txt" in listing and "x.bin" in listing
    found = run(["xorriso", "-indev", f"stdio:{disc}", "-find", "/", "-type", "f"])
    assert "'/hello.txt'" in found and "'/d/x.bin'" in found
    assert run(["isoinfo", "-i", str(disc), "-R", "-x", "/hello.txt"]) == "hello, disc\n"
    # Still sparse: only the recorded sectors take space.
    assert disc.stat().st_blocks * 512 < small_iso.stat().st_size + 1024 * 1024


def test_second_session_from_genisoimage_reads_back(
    tmp_path: Path, blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    disc = blank_cdr.path
    blank_cdr.record(small_iso, Lba(0))
    nwa = blank_cdr.disc_info().nwa
    assert nwa is not None
    second = make_next_session(tmp_path, disc, 0, nwa, {"later.txt": b"second\n"}, "SECOND")
    session = blank_cdr.record(second, nwa)
    assert session == Session(nwa, recorded(second))
    info = blank_cdr.disc_info()
    assert info.sessions[-1] == session and len(info.sessions) == 2
    assert info.label == "SECOND"
    assert info.nwa == session.end + CD_R80.run_out + CD_R80.later_gap
    listing = run(["isoinfo", "-i", str(disc), "-T", str(nwa), "-R", "-l"])
    for name in ("hello.txt", "later.txt", "x.bin"):
        assert name in listing
    xls = run(["xorriso", "-indev", f"stdio:{disc}", "-load", "sbsector", str(nwa), "-ls", "/"])
    assert "'later.txt'" in xls and "'hello.txt'" in xls
    # Old files still come from session 1, new ones from session 2.
    get = ["isoinfo", "-i", str(disc), "-T", str(nwa), "-R", "-x"]
    assert run([*get, "/later.txt"]) == "second\n"
    assert run([*get, "/hello.txt"]) == "hello, disc\n"
    # Plain readers see session 1 only.
    assert "later.txt" not in run(["isoinfo", "-i", str(disc), "-R", "-l"])


def test_dvd_sessions_start_aligned(tmp_path: Path, no_env_faults: None, small_iso: Path) -> None:
    rec = create_media(tmp_path / "dvd.img", media_type("dvd+r"))
    rec.record(small_iso, Lba(0))
    nwa = rec.disc_info().nwa
    assert nwa is not None and nwa % 16 == 0 and nwa >= sectors(small_iso) + 2048


def test_write_once_refuses_to_write_a_sector_twice(
    blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    disc = blank_cdr.path
    blank_cdr.record(small_iso, Lba(0))
    n = sectors(small_iso)
    before = disc_bytes(disc, 0, n + 2)
    fd = os.open(disc, os.O_WRONLY)
    try:
        with pytest.raises(WriteOnceError, match=r"sector 0 .* already written"):
            blank_cdr._write_sectors(fd, Lba(0), b"\xff" * SECTOR_SIZE)
        with pytest.raises(WriteOnceError, match=f"sector {n - 1} "):
            blank_cdr._write_sectors(fd, Lba(n - 1), b"\xff" * 3 * SECTOR_SIZE)
        # A fresh drive reads the written ranges from the TOC and refuses too.
        fresh = EmulatedRecorder(disc)
        with pytest.raises(WriteOnceError):
            fresh._write_sectors(fd, Lba(5), b"\xff" * SECTOR_SIZE)
        # The padding after the image is written too; sectors never
        # written can be written, once.
        with pytest.raises(WriteOnceError):
            fresh._write_sectors(fd, Lba(n + RECORDER_PADDING - 1), b"\x01" * SECTOR_SIZE)
        fresh._write_sectors(fd, Lba(n + RECORDER_PADDING), b"\x01" * SECTOR_SIZE)
        with pytest.raises(WriteOnceError):
            fresh._write_sectors(fd, Lba(n + RECORDER_PADDING), b"\x02" * SECTOR_SIZE)
        with pytest.raises(RecorderError, match="past the end"):
            fresh._write_sectors(fd, Lba(CD_R80.capacity), b"\0" * SECTOR_SIZE)
    finally:
        os.close(fd)
    assert disc_bytes(disc, 0, n + 2) == before


def test_rewritable_media_may_write_a_sector_twice(tmp_path: Path, no_env_faults: None) -> None:
    rec = create_media(tmp_path / "rw.img", media_type("cd-rw80"))
    fd = os.open(rec.path, os.O_WRONLY)
    try:
        rec._write_sectors(fd, Lba(3), b"\x01" * SECTOR_SIZE)
        rec._write_sectors(fd, Lba(3), b"\x02" * SECTOR_SIZE)
    finally:
        os.close(fd)
    assert disc_bytes(rec.path, 3, 1) == b"\x02" * SECTOR_SIZE


def test_closed_disc_is_refused_with_the_users_message(
    tmp_path: Path, blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    blank_cdr.record(small_iso, Lba(0), close=True)
    info = blank_cdr.disc_info()
    assert info.state is DiscState.CLOSED and info.nwa is None and info.room == 0
    big = tmp_path / "three-mb.iso"
    big.write_bytes(b"\0" * (3 * 1024 * 1024 - 100))
    with pytest.raises(NotWritableError) as err:
        blank_cdr.record(big, Lba(12_000))
    assert str(err.value) == (
        "The disc in the drive is not writable or it is full: insert a blank writable disc,"
        " or one with at least 3 MB free"
    )


def test_image_larger_than_the_disc_is_refused(tmp_path: Path, no_env_faults: None) -> None:
    rec = create_media(tmp_path / "small.img", media_type("cd-r74"))
    huge = tmp_path / "huge.iso"
    with huge.open("wb") as f:  # sparse: costs no disk space
        f.truncate((rec.disc_info().capacity + 1) * SECTOR_SIZE)
    before = read_toc(rec.path)
    with pytest.raises(NotWritableError, match="at least 651 MB free"):
        rec.record(huge, Lba(0))
    assert read_toc(rec.path) == before
    assert rec.path.stat().st_blocks == 0


def test_sessions_beyond_the_media_limit_are_refused(
    tmp_path: Path, no_env_faults: None, small_iso: Path
) -> None:
    rec = create_media(tmp_path / "bd.img", media_type("bd-r"))
    limit = media_type("bd-r").max_sessions
    assert limit == 300  # a BD-R's own limit, no longer 99 for every medium (issue 13)
    toc = read_toc(rec.path)
    toc["sessions"] = [[i * 64, 32] for i in range(limit)]
    toc["written"] = [[i * 64, 32] for i in range(limit)]
    toc["state"] = "appendable"
    toc_path(rec.path).write_text(json.dumps(toc))
    with pytest.raises(NotWritableError, match="not writable or it is full"):
        rec.record(small_iso, Lba(limit * 64 - 32))


def test_wrong_start_is_refused_and_nothing_is_written(
    blank_cdr: EmulatedRecorder, small_iso: Path
) -> None:
    before = read_toc(blank_cdr.path)
    for start in (1, 16, 12_000):
        with pytest.raises(RecorderError, match="next writable address is 0"):
            blank_cdr.record(small_iso, Lba(start))
    assert read_toc(blank_cdr.path) == before
    assert blank_cdr.path.stat().st_blocks == 0


def test_simulation_changes_nothing(blank_cdr: EmulatedRecorder, small_iso: Path) -> None:
    before = read_toc(blank_cdr.path)
    calls: list[tuple[int, int]] = []
    session = blank_cdr.record(
        small_iso, Lba(0), simulate=True, progress=lambda d, t: calls.append((d, t))
    )
    assert session == Session(Lba(0), recorded(small_iso))
    assert calls[-1] == (small_iso.stat().st_size,) * 2
    assert read_toc(blank_cdr.path) == before
    assert blank_cdr.path.stat().st_blocks == 0


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


# --- erasing -----------------------------------------------------------------


def test_quick_erase_blanks_the_toc(tmp_path: Path, no_env_faults: None, small_iso: Path) -> None:
    rec = create_media(tmp_path / "rw.img", media_type("cd-rw80"))
    rec.record(small_iso, Lba(0), close=True)
    closed = rec.disc_info()
    rec.erase()
    info = rec.disc_info()
    assert info.state is DiscState.BLANK
    assert (info.sessions, info.wasted, info.label, info.nwa) == ((), (), "", 0)
    assert info.identity != closed.identity
    assert rec.record(small_iso, Lba(0)) == Session(Lba(0), recorded(small_iso))


def test_full_erase_zeroes_every_sector(
    tmp_path: Path, no_env_faults: None, small_iso: Path
) -> None:
    rec = create_media(tmp_path / "rw.img", media_type("dvd+rw"))
    rec.record(small_iso, Lba(0))
    assert rec.path.stat().st_blocks > 0
    calls: list[tuple[int, int]] = []
    rec.erase(full=True, progress=lambda d, t: calls.append((d, t)))
    total = media_type("dvd+rw").capacity_bytes
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert rec.path.stat().st_size == total
    assert rec.path.stat().st_blocks == 0
    assert disc_bytes(rec.path, 0, sectors(small_iso)) == b"\0" * small_iso.stat().st_size
    assert rec.disc_info().state is DiscState.BLANK


@pytest.mark.parametrize("full", [False, True])
def test_write_once_media_cannot_be_erased(
    blank_cdr: EmulatedRecorder, small_iso: Path, full: bool
) -> None:
    blank_cdr.record(small_iso, Lba(0))
    before = read_toc(blank_cdr.path)
    with pytest.raises(WriteOnceError, match="cannot be erased"):
        blank_cdr.erase(full=full)
    assert read_toc(blank_cdr.path) == before
    assert "hello.txt" in run(["isoinfo", "-i", str(blank_cdr.path), "-R", "-l"])


def test_a_vanished_image_means_no_disc(blank_cdr: EmulatedRecorder) -> None:
    blank_cdr.path.unlink()
    with pytest.raises(NotWritableError, match="no disc"):
        blank_cdr.disc_info()
    with pytest.raises(NotWritableError, match="no disc"):
        blank_cdr.open_reader()
    blank_cdr.eject()  # no tray, no error


def test_errors_are_cdfs_errors(tmp_path: Path, blank_cdr: EmulatedRecorder) -> None:
    with pytest.raises(CdfsError):
        blank_cdr.record(tmp_path / "missing.iso", Lba(0))
    empty = tmp_path / "empty.iso"
    empty.touch()
    with pytest.raises(RecorderError, match="empty"):
        blank_cdr.record(empty, Lba(0))
