"""The emulated recorder: disc image layout, TOC, write-once rule, recording
and erasing, checked with independent readers (isoinfo, xorriso) where the
disc's content matters.  Speed, faults and crash recovery are in
tests/test_emulated_faults.py."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cdfs.errors import (
    CdfsError,
    MediaError,
    NotFoundError,
    NotWritableError,
    RecorderError,
    UsageError,
    WriteOnceError,
)
from cdfs.recorders.emulated import EmulatedRecorder, create_media, toc_path
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
from tests.emulated_helpers import (
    CD_R80,
    disc_bytes,
    make_next_session,
    read_toc,
    recorded,
    run,
    sectors,
)

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
