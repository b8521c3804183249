"""Real xorriso on its ``stdio:`` pseudo-drive, through the mounted file
system: what is burned reads back byte for byte with xorriso's own
extractor, session after session (issue 13, defect 1)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdfs.burn.checks import kept_at_risk, verify_kept
from cdfs.burn.snapshot import disc_entry
from cdfs.errors import RecorderError, VerificationError
from cdfs.iso import disccontents, discread
from cdfs.iso.mastering import Kind, MasterEntry, master_session
from cdfs.recorders import blockdev, sgio
from cdfs.recorders.media import DiscState
from cdfs.recorders.xorriso import XorrisoRecorder
from cdfs.units import SECTOR_SIZE, Lba

from conftest import Mount, cdfs, run

pytestmark = pytest.mark.skipif(shutil.which("xorriso") is None, reason="needs xorriso")

# Many sizes, several well under 64 KiB (the first session's small files
# were the ones the superblock copy at LBA 0-31 overwrote).
SIZES = (0, 1, 100, 2047, 2048, 2049, 4096, 10_000, 30_000, 65_535, 65_536, 200_000, 1 << 20)


def _stage(root: Path, burn: int, sizes: tuple[int, ...] = SIZES) -> dict[str, bytes]:
    """Write files of the given sizes under ``root``; return them by path."""
    staged: dict[str, bytes] = {}
    for i, size in enumerate(sizes):
        nested = i % 2 and burn > 1  # the first burn stays flat: less metadata
        rel = f"b{burn}/f{i:02d}-{size}.bin" if nested else f"s{burn}-{i:02d}.bin"
        data = hashlib.shake_256(f"{burn}/{i}".encode()).digest(size) if size else b""
        path = root / rel
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        staged[rel] = data
    return staged


def _extracted(disc: Path, out: Path) -> dict[str, bytes]:
    run(["xorriso", "-osirrox", "on", "-indev", f"stdio:{disc}", "-extract", "/", str(out)])
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_three_burns_on_a_stdio_drive_read_back_byte_for_byte(tmp_path: Path, mount: Any) -> None:
    disc = tmp_path / "drive.img"
    disc.touch()
    m = mount(Path(f"stdio:{disc}"))
    expected: dict[str, bytes] = {}
    for burn in range(1, 4):
        # A first session of a few small files puts their data below LBA 32.
        expected |= _stage(m.path, burn, SIZES[1:5] if burn == 1 else SIZES)
        m.burn()
        assert list(m.staged().iterdir()) == []
        got = _extracted(disc, tmp_path / f"out{burn}")
        assert sorted(got) == sorted(expected)
        bad = [rel for rel, data in expected.items() if got[rel] != data]
        assert bad == [], f"after burn {burn}, these read back wrong: {bad}"
        # And through the mount too (what the daemon read back).
        assert all((m.path / rel).read_bytes() == data for rel, data in expected.items())
    # xorriso's own layout: the first session starts at 32, leaving 0-31
    # to the superblock copy that points readers at the newest session.
    toc = run(["xorriso", "-indev", f"stdio:{disc}", "-toc"]).stdout
    assert "ISO session  :   1 ,        32 ," in toc, toc


def _image_from_sector_0(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """An ISO laid out from sector 0 with its small files below LBA 32, as
    cdfs wrote overwritable discs before issue 13 (and other tools may)."""
    src = tmp_path / "old-src"
    src.mkdir()
    entries = []
    for name, data in sorted(files.items()):
        (src / name).write_bytes(data)
        entries.append(
            MasterEntry(
                (name.encode(),), Kind.FILE, 0o644, 0, 0, 0, 0, len(data), source=src / name
            )
        )
    image = tmp_path / "old.iso"
    master_session(entries, image, start=Lba(0), label="OLD")
    lbas = run(["xorriso", "-indev", f"stdio:{image}", "-find", "/", "-exec", "report_lba"])
    assert ",       31 ," in lbas.stdout, lbas.stdout  # the case that matters
    return image


def test_files_another_tool_left_below_32_move_into_the_next_session(
    tmp_path: Path, mount: Any, home: dict[str, str]
) -> None:
    old = {
        f"old{i}.bin": hashlib.shake_256(b"old%d" % i).digest(n) for i, n in enumerate(SIZES[1:5])
    }
    image = _image_from_sector_0(tmp_path, old)
    disc = tmp_path / "drive.img"
    disc.touch()
    cdfs(["burn-image", "--drive", f"stdio:{disc}", "-q", str(image)], home)
    m = mount(Path(f"stdio:{disc}"))
    assert {rel: (m.path / rel).read_bytes() for rel in old} == old
    expected = old | _stage(m.path, 2)
    m.burn()
    got = _extracted(disc, tmp_path / "out")
    assert sorted(got) == sorted(expected)
    assert [rel for rel, data in expected.items() if got[rel] != data] == []
    lbas = run(["xorriso", "-indev", f"stdio:{disc}", "-find", "/", "-exec", "report_lba"])
    low = [ln for ln in lbas.stdout.splitlines() if "'/old" in ln and int(ln.split(",")[1]) < 32]
    assert low == [], lbas.stdout


def test_verification_rereads_earlier_files_the_new_session_overwrote(tmp_path: Path) -> None:
    """Without moving them, files below LBA 32 are overwritten by the next
    session's superblock copy: verification must notice, not report success."""
    old = {"old0.bin": b"x", "old1.bin": b"y" * 100}
    disc = tmp_path / "drive.img"
    disc.touch()
    rec = XorrisoRecorder(f"stdio:{disc}")
    rec.record(_image_from_sector_0(tmp_path, old), Lba(0))
    info = rec.disc_info()
    assert info.nwa is not None
    with rec.open_reader() as fp:
        root = disccontents.read_tree(fp, info)
    assert root is not None
    entries = [disc_entry(path, e) for path, e in discread.walk(root)]
    new = tmp_path / "new.bin"
    new.write_bytes(b"new" * 1000)
    entries.append(MasterEntry((b"new.bin",), Kind.FILE, 0o644, 0, 0, 0, 0, 3000, source=new))
    stash = tmp_path / "stash.iso"
    sectors = master_session(entries, stash, start=info.nwa, label="NEW")
    digests = kept_at_risk(rec, info, info.nwa, sectors, entries)
    assert sorted(digests) == [(b"old0.bin",)]  # at LBA 31; old1.bin is at 32
    verify_kept(rec, digests, entries)  # nothing written yet: all as before
    rec.record(stash, info.nwa)
    with pytest.raises(
        VerificationError, match=r"overwrote files of an earlier one \('old0\.bin'\)"
    ):
        verify_kept(rec, digests, entries)


def test_rewrite_on_a_stdio_drive_starts_at_32_and_reads_back(tmp_path: Path, mount: Any) -> None:
    disc = tmp_path / "drive.img"
    disc.touch()
    m = mount(Path(f"stdio:{disc}"))
    expected = _stage(m.path, 1, SIZES[1:5])
    m.burn()
    expected |= _stage(m.path, 2)
    m.burn("--rewrite")
    got = _extracted(disc, tmp_path / "out")
    assert sorted(got) == sorted(expected)
    assert [rel for rel, data in expected.items() if got[rel] != data] == []
    toc = run(["xorriso", "-indev", f"stdio:{disc}", "-toc"]).stdout
    assert "ISO session  :   1 ,        32 ," in toc and "1 session," in toc, toc


SLOW_XORRISO = """#!{python}
# Waits before a recording (in small steps, as libburn's own signal handler
# would abort it), then runs the real xorriso.
import os, sys, time
args = sys.argv[1:]
if "-v" in args and any(a.startswith("dev=") for a in args) and args[-1].startswith("/"):
    open({marker!r}, "w").close()
    for _ in range(40):
        time.sleep(0.05)
os.execv({real!r}, [{real!r}, *args])
"""


class _OwnGroupMount(Mount):
    """A mount whose daemon leads its own process group, as a shell's
    foreground job does, so that a signal to the group spares pytest."""

    def _spawn(self, logf: Any) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "cdfs", "mount", "-f", "--drive", str(self.disc)]
        return subprocess.Popen(
            [*cmd, *self.extra, str(self.path)],
            env=self.env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_ctrl_c_on_the_mount_does_not_reach_xorriso(tmp_path: Path, home: dict[str, str]) -> None:
    real = shutil.which("xorriso")
    assert real is not None
    bindir, marker = tmp_path / "bin", tmp_path / "recording"
    bindir.mkdir()
    wrapper = bindir / "xorriso"
    wrapper.write_text(SLOW_XORRISO.format(python=sys.executable, marker=str(marker), real=real))
    wrapper.chmod(0o755)
    env = home | {"PATH": f"{bindir}:{home['PATH']}"}
    disc = tmp_path / "drive.img"
    disc.touch()
    mp = tmp_path / "mnt"
    mp.mkdir()
    m = _OwnGroupMount(mp, Path(f"stdio:{disc}"), env, log=tmp_path / "mnt.log")
    m.extra = ["--no-burn-on-unmount"]
    try:
        m.start()
        expected = _stage(m.path, 1)
        m.request((m.path / ".burn").touch)
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the recording never started"
            time.sleep(0.01)
        assert m.proc is not None
        os.killpg(m.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        m.proc.wait(timeout=120)
    finally:
        m.kill()
    got = _extracted(disc, tmp_path / "out")
    assert got == expected


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A block device over a file, standing in for /dev/srN: writing the file
    goes past the device's page cache, as xorriso's SG_IO goes past sr's."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("needs root and losetup")
    backing = tmp_path / "disc.img"
    backing.write_bytes(bytes(1 << 20))
    res = run(["losetup", "-f", "--show", str(backing)], check=False)
    if res.returncode != 0:
        pytest.skip(f"no loop device: {res.stderr.strip()}")
    dev = res.stdout.strip()
    try:
        yield dev, backing
    finally:
        run(["losetup", "-d", dev], check=False)


def _write_behind(backing: Path, offset: int, data: bytes) -> None:
    fd = os.open(backing, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def test_reads_after_a_burn_see_the_disc_as_it_is_now(loop_device: tuple[str, Path]) -> None:
    dev, backing = loop_device
    with open(dev, "rb") as held:  # something keeps the device open (the daemon, udisks)
        held.seek(32 * SECTOR_SIZE)
        assert held.read(8) == bytes(8)  # now cached
        _write_behind(backing, 32 * SECTOR_SIZE, b"SESSION2")  # the burn, past the cache
        with open(dev, "rb") as plain:
            plain.seek(32 * SECTOR_SIZE)
            assert plain.read(8) == bytes(8)  # the stale sectors the kernel kept
        with XorrisoRecorder(dev).open_reader() as fresh:
            fresh.seek(32 * SECTOR_SIZE)
            assert fresh.read(8) == b"SESSION2"


def test_a_stale_capacity_is_said_in_plain_words(loop_device: tuple[str, Path]) -> None:
    dev, backing = loop_device
    with backing.open("r+b") as f:
        f.truncate(2 << 20)  # the disc grew; the device keeps its old size
    end = (2 << 20) // SECTOR_SIZE
    with blockdev.open_fresh(dev, end // 2) as f:  # within what the kernel sees: fine
        assert f.read(1) == b"\0"
    with pytest.raises(RecorderError, match="eject the disc and insert it again"):
        blockdev.open_fresh(dev, end)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(0, 40 * SECTOR_SIZE),
    ops=st.lists(
        st.tuples(st.sampled_from(["seek", "read", "readinto", "rest"]), st.integers(0, 90_000)),
        max_size=12,
    ),
)
def test_a_disc_read_by_whole_sectors_reads_like_a_file(size: int, ops: list[Any]) -> None:
    """What blockdev gives when the kernel's size of the disc is stale (a
    reader over SCSI READ(10), sgio.SectorFile behind a buffer) reads,
    seeks and stops at the end as a file of the same bytes does, asking
    the drive only for whole sectors of the disc."""
    data = os.urandom(size)
    asked: list[tuple[int, int]] = []

    def read(lba: int, count: int) -> bytes:
        asked.append((lba, count))
        assert 0 < count <= sgio.MAX_SECTORS and (lba + count - 1) * SECTOR_SIZE < size
        return data[lba * SECTOR_SIZE : (lba + count) * SECTOR_SIZE].ljust(
            count * SECTOR_SIZE, b"\0"
        )

    disc = io.BufferedReader(sgio.SectorFile(read, size), buffer_size=64 * 1024)
    plain = io.BytesIO(data)
    for op, n in ops:
        if op == "seek":
            assert disc.seek(n) == plain.seek(n)
        elif op == "read":
            assert disc.read(n) == plain.read(n)
        elif op == "readinto":
            a, b = bytearray(n), bytearray(n)
            assert disc.readinto(a) == plain.readinto(b) and a == b
        else:
            assert disc.read() == plain.read()
        assert disc.tell() == plain.tell()
    assert disc.read() == plain.read()
    disc.seek(0)
    assert disc.read() == data
    assert bool(asked) == (size > 0)


def test_simulating_a_second_session_on_a_stdio_drive(tmp_path: Path, mount: Any) -> None:
    """xorriso -dummy from the second session on used to fail: it read the
    new head back after a simulated write (issue 13, item 6)."""
    disc = tmp_path / "drive.img"
    disc.touch()
    m = mount(Path(f"stdio:{disc}"))
    _stage(m.path, 1, SIZES[1:5])
    m.burn()
    (m.path / "later.txt").write_text("later\n")
    before = hashlib.sha256(disc.read_bytes()).hexdigest()
    res = m.burn("--simulate")
    assert "simulated" in res.stdout and "nothing was written" in res.stdout
    assert hashlib.sha256(disc.read_bytes()).hexdigest() == before
    assert os.getxattr(m.path / "later.txt", "user.cdfs.state") == b"staged"
    m.burn()
    assert _extracted(disc, tmp_path / "out")["later.txt"] == b"later\n"


def test_a_full_erase_of_an_overwritable_disc_overwrites_every_sector(tmp_path: Path) -> None:
    """xorriso has no full blank for overwritable media: its blank only
    invalidates the ISO head, and the files stay on the disc (issue 13,
    item 6).  A full erase overwrites them with zeros."""
    disc = tmp_path / "drive.img"
    disc.touch()
    rec = XorrisoRecorder(f"stdio:{disc}")
    src = tmp_path / "secret.txt"
    src.write_bytes(b"SECRET-CONTENTS\n" * 100)
    entry = MasterEntry((b"secret.txt",), Kind.FILE, 0o644, 0, 0, 0, 0, 1600, source=src)
    image = tmp_path / "s1.iso"
    master_session([entry], image, start=Lba(32), label="S1")
    rec.record(image, Lba(32))
    rec.erase()  # quick: blank for xorriso, the data still there
    assert rec.disc_info().state is DiscState.BLANK
    assert b"SECRET-CONTENTS" in disc.read_bytes()
    rec.record(image, Lba(32))
    size = disc.stat().st_size
    seen: list[tuple[int, int]] = []
    rec.erase(full=True, progress=lambda d, t: seen.append((d, t)))
    assert disc.read_bytes()[:size] == bytes(size)
    assert seen and seen[-1][1] == -(-size // SECTOR_SIZE) * SECTOR_SIZE
    assert rec.disc_info().state is DiscState.BLANK
    rec.record(image, Lba(32))  # and it takes a new first session
    assert _extracted(disc, tmp_path / "out") == {"secret.txt": b"SECRET-CONTENTS\n" * 100}


DAMAGED_TOC = """Drive current: -outdev '{device}'
Media current: DVD-R sequential recording
Media status : is written , is appendable , but next track is damaged
Media blocks : 2048 readable , 0 writable , 2298496 overall
TOC layout   : Idx ,  sbsector ,       Size , Volume Id
ISO session  :   1 ,         0 ,      2048s , OLD
Media summary: 1 session, 2048 data blocks, 4096k data,     0 free
"""
# The Media status text is xorriso's (Xorriso_toc() in xorriso/drive_mgt.c); see
# test_xorriso_parse.py for the other transcripts.

DAMAGED_XORRISO = """#!{python}
import sys
with open({calls!r}, "a") as f:
    f.write(repr(sys.argv[1:]) + "\\n")
if "-toc" in sys.argv:
    sys.stdout.write({toc!r})
sys.exit(0)
"""


def test_a_damaged_disc_mounts_says_so_and_is_never_written(
    tmp_path: Path, home: dict[str, str], mount: Any
) -> None:
    """After an interrupted burn on write-once media (issue 13, defect 2):
    the mount shows the disc and what is wrong with it, and a burn is
    refused in plain words, naming the way out, without recording."""
    disc = tmp_path / "drive.img"
    master_session([], disc, start=Lba(0), label="OLD")
    bindir, calls = tmp_path / "bin", tmp_path / "calls.txt"
    bindir.mkdir()
    fake = bindir / "xorriso"
    toc = DAMAGED_TOC.format(device=f"stdio:{disc}")
    fake.write_text(DAMAGED_XORRISO.format(python=sys.executable, calls=str(calls), toc=toc))
    fake.chmod(0o755)
    home["PATH"] = f"{bindir}:{home['PATH']}"
    m = mount(Path(f"stdio:{disc}"), "--no-burn-on-unmount")
    status = cdfs(["status", str(m.path)], home).stdout
    assert "next track is damaged" in status and "-close_damaged as_needed" in status
    # Staging takes only what the next burn can take (issue 11): nothing.
    with pytest.raises(OSError) as refused:
        (m.path / "new.txt").write_text("new\n")
    assert refused.value.errno == errno.ENOSPC
    m.stop()
    # A ready image is refused in plain words, naming the way out.
    image = tmp_path / "new.iso"
    master_session([], image, start=Lba(0), label="NEW")
    res = cdfs(["burn-image", "--drive", f"stdio:{disc}", "-q", str(image)], home, check=False)
    assert res.returncode != 0
    assert "Nothing can be written" in res.stderr and "-close_damaged as_needed" in res.stderr
    assert not any("cdrecord" in line and "-v" in line for line in calls.read_text().splitlines())


def test_burn_image_goes_where_the_image_was_laid_out(
    tmp_path: Path, make_disc: Any, home: dict[str, str]
) -> None:
    """An image laid out for sector 32 (a kept rewrite stash of an
    overwritable disc) goes at 32 on such a disc, and is refused with the
    reason on a CD, where it would be unreadable."""
    src = tmp_path / "f.txt"
    src.write_bytes(b"laid out for 32\n")
    entry = MasterEntry((b"f.txt",), Kind.FILE, 0o644, 0, 0, 0, 0, 16, source=src)
    image = tmp_path / "at32.iso"
    master_session([entry], image, start=Lba(32), label="AT32")
    cd = make_disc("cd-r80")
    res = cdfs(["burn-image", "--drive", str(cd), "-q", str(image)], home, check=False)
    assert res.returncode != 0 and "laid out for sector 32" in res.stderr, res.stderr
    disc = tmp_path / "drive.img"
    disc.touch()
    cdfs(["burn-image", "--drive", f"stdio:{disc}", "-q", str(image)], home)
    assert _extracted(disc, tmp_path / "out") == {"f.txt": b"laid out for 32\n"}
