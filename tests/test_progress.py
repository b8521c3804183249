"""Progress tells the truth (issue 11, item 5): the real commands, with their
output piped and under a terminal (a pty), show every phase reaching 100 %,
plain lines without carriage returns when not on a terminal, the x-factor
while recording, and no speed above what the recorder was paced at."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Any

from cdfs.burn.rate import RateWindow, average
from cdfs.recorders.media import SPEED_1X, Family

from conftest import cdfs, run, xorriso_listing

BURN_PHASES = ("checking", "mastering", "recording", "verifying")
X_FACTOR = re.compile(r"\((\d+\.\d)x\)")


def in_pty(
    cmd: list[str], env: dict[str, str], timeout: float = 120, columns: int = 80
) -> tuple[int, str]:
    """Run ``cmd`` with a terminal ``columns`` wide as its stdin, stdout and
    stderr; returns its exit status and everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        os.execvpe(cmd[0], cmd, env)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"{cmd} did not finish: {out!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def cdfs_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cdfs", *args]


def plain_lines(stderr: str) -> list[str]:
    """Lines of progress written to a pipe: no carriage return, no escape."""
    assert "\r" not in stderr and "\x1b" not in stderr, repr(stderr)
    return stderr.splitlines()


def finished(lines: list[str], phase: str) -> list[str]:
    return [line for line in lines if re.match(rf"\s*{phase} 100%", line)]


def assert_every_phase_ends(lines: list[str], phases: tuple[str, ...]) -> None:
    """Each phase has its 100 % line, once, in the order of the phases."""
    ends = []
    for phase in phases:
        done = finished(lines, phase)
        assert len(done) == 1, (phase, lines)
        ends.append(lines.index(done[0]))
    assert ends == sorted(ends), lines


def x_factors(text: str) -> list[float]:
    return [float(x) for x in X_FACTOR.findall(text)]


def test_burn_wait_piped_gives_plain_lines_and_every_phase_ends(mount: Any, make_disc: Any) -> None:
    disc = make_disc()
    m = mount(disc)
    (m.path / "data.bin").write_bytes(os.urandom(3_000_000))
    res = cdfs(["burn", "--wait", "--speed", "8", str(m.path)], m.env, timeout=120)
    assert res.stdout.startswith("cdfs: burned 1 file (3000000 bytes)"), res.stdout
    lines = plain_lines(res.stderr)
    assert_every_phase_ends(lines, BURN_PHASES)
    # Recorded at 8x, taking seconds: its speed and x-factor are shown, and
    # never more than the recorder was paced at (no spikes).
    (rec,) = finished(lines, "recording")
    assert re.search(r"3\.4 MB in \d+\.\d s, 1\.\d MB/s \(\d\.\dx\)$", rec), rec
    factors = x_factors(res.stderr)
    assert factors and all(0 < x <= 8.0 for x in factors), lines
    assert "data.bin" in xorriso_listing(disc)


def test_burn_wait_on_a_terminal_draws_bars_that_reach_100(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc())
    (m.path / "data.bin").write_bytes(os.urandom(3_000_000))
    code, out = in_pty(cdfs_cmd("burn", "--wait", "--speed", "8", str(m.path)), m.env)
    assert code == 0, out
    assert "\r" in out and "cdfs: burned 1 file" in out
    # Each bar is redrawn in place and left full when its phase ends.
    draws = [d.replace("\x1b[K", "").strip() for d in re.split(r"[\r\n]+", out)]
    for phase in BURN_PHASES:
        ends = [d for d in draws if d.startswith(f"{phase} 100% |{'█' * 24}|")]
        assert len(ends) >= 1, (phase, draws)
    rec = [d for d in draws if d.startswith("recording 100%")][-1]
    assert X_FACTOR.search(rec), rec
    assert all(x <= 8.0 for x in x_factors(out)), draws


def test_umount_at_full_speed_shows_every_phase(mount: Any, make_disc: Any) -> None:
    disc = make_disc()
    m = mount(disc)
    (m.path / "late.txt").write_text("burned on unmount\n")
    res = cdfs(["umount", str(m.path)], m.env, timeout=120)
    assert "burned 1 file (18 bytes)" in res.stdout
    lines = plain_lines(res.stderr)
    assert_every_phase_ends(lines, BURN_PHASES)
    assert m.stop() == 0
    assert "late.txt" in xorriso_listing(disc)


def test_umount_without_a_burn_shows_no_earlier_one(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc())
    (m.path / "a.txt").write_text("a\n")
    cdfs(["burn", "--wait", "-q", str(m.path)], m.env)
    res = cdfs(["umount", str(m.path)], m.env, timeout=120)
    assert res.stdout == "" and res.stderr == ""
    assert m.stop() == 0


def test_burn_image_and_erase_show_their_phases(
    tmp_path: Path, home: dict[str, str], mount: Any
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.bin").write_bytes(os.urandom(2_000_000))
    image = tmp_path / "image.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(image), str(src)])
    disc = tmp_path / "rw.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-rw80"], home)
    res = cdfs(["burn-image", str(image), "--drive", str(disc), "--speed", "10"], home)
    lines = plain_lines(res.stderr)
    assert_every_phase_ends(lines, ("recording", "verifying"))
    (rec,) = finished(lines, "recording")
    assert X_FACTOR.search(rec), rec
    assert all(x <= 10.0 for x in x_factors(res.stderr)), lines
    assert "x.bin" in xorriso_listing(disc)
    code, out = in_pty(cdfs_cmd("erase", "--yes", "--full", str(disc)), home)
    assert code == 0 and f"erasing 100% |{'█' * 24}|" in out, out
    assert "blank" in cdfs(["media", "info", str(disc)], home).stdout
    # On a narrow terminal each drawing fits one row (no bar when too narrow).
    code, out = in_pty(cdfs_cmd("erase", "--yes", "--full", str(disc)), home, columns=40)
    draws = [d.replace("\x1b[K", "") for d in re.split(r"[\r\n]+", out) if "erasing" in d]
    assert code == 0 and draws and all(len(d) < 40 and "|" not in d for d in draws), draws
    assert any("erasing 100% 737.3 MB in" in d for d in draws), draws
    # Through a mount: the daemon erases, the command shows it; a quick
    # erase blanks the table of contents and counts no bytes.
    m = mount(disc)
    res = cdfs(["erase", "--yes", str(m.path)], m.env)
    lines = plain_lines(res.stderr)
    assert_every_phase_ends(lines, ("erasing",))
    assert re.fullmatch(r"\s*erasing 100% in \d+\.\d s", finished(lines, "erasing")[0]), lines


def test_rate_window_has_no_spikes() -> None:
    """A recorder that reports a whole chunk at once has no speed until a
    second of reports; then the speed is that of the window, and a stall
    lowers it."""
    one_x = SPEED_1X[Family.CD]
    w = RateWindow(window=5.0, least=1.0)
    w.add(0, now=100.0)
    w.add(1_048_576, now=100.000001)
    assert w.rate(now=100.000001) is None
    for i in range(2, 21):
        w.add(i * one_x, now=100.0 + i / 2)  # 2x for ten seconds
    rate = w.rate(now=110.0)
    assert rate is not None and abs(rate / one_x - 2.0) < 0.01
    assert w.rate(now=120.0) is not None and w.rate(now=120.0) < rate / 2  # stalled
    assert average(1_000_000, 0.001) is None and average(2_000_000, 2.0) == 1_000_000
