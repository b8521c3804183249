"""Messages and exit codes as README's table documents them (issue 11,
item 6): each case runs the real ``cdfs`` command and checks its exit
status and what it printed on stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import cdfs, run, xorriso_listing


def error_line(res: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed on stderr."""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("cdfs: "), lines
    return lines[0]


def test_successful_commands_print_nothing_on_stderr(
    tmp_path: Path, home: dict[str, str], mount: Any
) -> None:
    disc = tmp_path / "rw.iso"
    res = cdfs(["media", "create", str(disc), "--type", "cd-rw80"], home)
    assert res.stdout.count("created blank") == 1 and res.stderr == ""
    # The log record of that went to the command log, not the terminal.
    log = Path(home["XDG_STATE_HOME"]) / "cdfs" / "cdfs.log"
    assert "created blank cd-rw80" in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    for args in (["media", "info", str(disc)], ["config", "get"]):
        res = cdfs(args, home)
        assert res.stderr == "", (args, res.stderr)
    res = cdfs(["erase", "--yes", "-q", str(disc)], home)
    assert res.stderr == "" and "erased the disc" in res.stdout
    m = mount(disc)
    (m.path / "a.txt").write_text("a\n")
    for args in (["status", str(m.path)], ["burn", "--wait", "-q", str(m.path)]):
        res = cdfs(args, home)
        assert res.stderr == "", (args, res.stderr)


def test_one_file_is_one_file_and_symlinks_are_counted_alike(
    mount: Any, make_disc: Any, tmp_path: Path
) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc)
    (m.path / "one.txt").write_text("one\n")
    res = cdfs(["status", str(m.path)], m.env)
    assert "Staged:       1 file, 4 bytes\n" in res.stdout, res.stdout
    (m.path / "two.txt").write_text("two\n")
    (m.path / "link").symlink_to("one.txt")
    (m.path / "sub").mkdir()
    (m.path / "sub" / "link2").symlink_to("../two.txt")
    s = json.loads(cdfs(["status", "--json", str(m.path)], m.env).stdout)
    assert (s["staged_files"], s["staged_symlinks"]) == (2, 2)
    text = cdfs(["status", str(m.path)], m.env).stdout
    assert "Staged:       2 files, 2 symbolic links, 8 bytes\n" in text, text
    res = cdfs(["burn", "--wait", "-q", str(m.path)], m.env)
    assert "burned 2 files and 2 symbolic links (8 bytes) as session 1" in res.stdout
    listing = xorriso_listing(disc)
    assert listing.count("lrwx") == 2 and listing.count("-rw") == 2, listing
    # A staged deletion is no staged file: nothing is counted.
    (m.path / "one.txt").unlink()
    s = json.loads(cdfs(["status", "--json", str(m.path)], m.env).stdout)
    assert (s["staged_files"], s["staged_symlinks"]) == (0, 0), s
    (m.path / "three.txt").write_text("three\n")
    res = cdfs(["burn", "--wait", "-q", str(m.path)], m.env)
    assert "burned 1 file (6 bytes) as session 2" in res.stdout


def test_exit_codes_of_the_table(tmp_path: Path, home: dict[str, str], mount: Any) -> None:
    # 3: a drive that does not exist.
    res = cdfs(["media", "info", "/dev/cdfs-no-such-drive"], home, check=False)
    assert res.returncode == 3 and "no drive" in error_line(res)
    # 4: a file that is not an ISO image, to burn-image; nothing is written.
    disc = tmp_path / "d.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], home)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an image" * 10000)
    res = cdfs(["burn-image", str(junk), "--drive", str(disc)], home, check=False)
    assert res.returncode == 4
    assert "is not an ISO 9660 image" in error_line(res)
    assert "blank" in cdfs(["media", "info", str(disc)], home).stdout
    res = cdfs(["burn-image", str(tmp_path), "--drive", str(disc)], home, check=False)
    assert res.returncode == 4 and "is a directory" in error_line(res)
    # 8: a drive in use by a mount; a mount that is busy.
    m = mount(disc)
    res = cdfs(["erase", "--yes", str(disc)], home, check=False)
    assert res.returncode == 8 and f"in use by the cdfs mount at {m.path}" in error_line(res)
    other = tmp_path / "other"
    other.mkdir()
    res = cdfs(["mount", "--drive", str(disc), str(other)], home, check=False, timeout=60)
    assert res.returncode == 8 and "in use by a cdfs mount" in error_line(res)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=m.path)
    try:
        res = cdfs(["umount", "-q", str(m.path)], home, check=False, timeout=60)
        assert res.returncode == 8, res.stderr
        assert "is busy" in error_line(res) and "fuser" in res.stderr
    finally:
        holder.kill()
        holder.wait(timeout=10)
    res = cdfs(["umount", "-q", str(m.path)], home, timeout=60)
    assert res.stderr == ""
    assert m.stop() == 0


def test_paths_that_are_not_mounts(tmp_path: Path, home: dict[str, str]) -> None:
    res = cdfs(["status", str(tmp_path)], home, check=False)
    assert res.returncode == 3
    assert error_line(res) == f"cdfs: {tmp_path} is not a cdfs mount"
    gone = tmp_path / "nowhere"
    for args in (["status", str(gone)], ["burn", str(gone)], ["umount", str(gone)]):
        res = cdfs(args, home, check=False)
        assert res.returncode == 3, args
        assert error_line(res) == f"cdfs: {gone} does not exist", args


def test_speed_zero_is_refused_plainly(mount: Any, make_disc: Any) -> None:
    m = mount(make_disc())
    (m.path / "a.txt").write_text("a\n")
    for args in (["burn", "--speed", "0", str(m.path)], ["config", "set", "speed", "0"]):
        res = cdfs(args, m.env, check=False)
        assert res.returncode == 2, args
        line = error_line(res)
        assert "speed must be a positive number" in line and "or max" in line, line
        assert "between 0" not in line
    assert m.status()["requests"] == 0


def test_erase_prompt_names_the_medium_once(
    tmp_path: Path, home: dict[str, str], mount: Any
) -> None:
    disc = tmp_path / "rw.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-rw80"], home)
    res = run([sys.executable, "-m", "cdfs", "erase", str(disc)], env=home, check=False)
    assert res.returncode == 2
    line = error_line(res)
    assert line.count("CD-RW") == 1, line
    assert f"Erase everything on the CD-RW 80 min (700 MB) in {disc} (quick erase)?" in line
    m = mount(disc)
    res = run([sys.executable, "-m", "cdfs", "erase", "--full", str(m.path)], env=home, check=False)
    assert res.returncode == 2
    line = error_line(res)
    assert line.count("CD-RW") == 1, line
    assert f"the CD-RW 80 min (700 MB) mounted at {m.path} (full erase; the staged" in line


def test_long_label_is_shortened_with_a_warning(mount: Any, make_disc: Any) -> None:
    disc = make_disc()
    m = mount(disc)
    (m.path / "a.txt").write_text("a\n")
    label = "Holiday photos from the summer of 2026 in Brittany"
    res = cdfs(["burn", "--wait", "-q", "--label", label, str(m.path)], m.env)
    warning = res.stderr.strip()
    assert warning.startswith("cdfs: warning: ") and "\n" not in warning
    iso, joliet = "HOLIDAY_PHOTOS_FROM_THE_SUMMER_O", "Holiday photos f"
    assert label in warning and repr(iso) in warning and repr(joliet) in warning
    # What the readers see is what the warning said.
    pvd = run(["isoinfo", "-d", "-i", str(disc)]).stdout
    assert f"Volume id: {iso}\n" in pvd
    with disc.open("rb") as f:
        f.seek(17 * 2048)
        svd = f.read(2048)
    assert svd[1:6] == b"CD001" and svd[0] == 2
    assert svd[40:72].decode("utf-16-be").rstrip() == joliet
    # A label that fits is not warned about.
    (m.path / "b.txt").write_text("b\n")
    res = cdfs(["burn", "--wait", "-q", "--label", "Photos", str(m.path)], m.env)
    assert res.stderr == ""
