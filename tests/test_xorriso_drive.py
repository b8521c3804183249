"""Real xorriso on its ``stdio:`` pseudo-drive, through the mounted file
system: what is burned reads back byte for byte with xorriso's own
extractor, session after session (issue 13, defect 1)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import run

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
