"""Helpers of the emulated recorder's tests (tests/test_emulated.py,
tests/test_emulated_faults.py): ISO images made by xorriso and genisoimage,
the disc's table of contents and sectors, and a clock that only moves when
slept on.  Their fixtures (``no_env_faults``, ``blank_cdr``, ``small_iso``)
are in tests/conftest.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cdfs.recorders.emulated import toc_path
from cdfs.recorders.media import (
    RECORDER_PADDING,
    media_type,
)
from cdfs.units import SECTOR_SIZE

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
