"""Closing discs, and burns that cannot go on the disc."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cdfs.recorders.emulated import EmulatedRecorder
from cdfs.units import Lba

from conftest import cdfs, run

PLAIN = "The disc in the drive is not writable or it is full: insert a blank writable disc"


def test_close_per_burn_then_refuse_with_staging_kept(
    tmp_path: Path, mount: Any, make_disc: Any
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc)
    (m.path / "a.txt").write_text("a")
    res = m.burn("--close")
    assert "closed" in res.stdout
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "closed"
    # A closed disc takes nothing more: nothing free, writes refused with
    # ENOSPC (until issue 11 staging took them and the burn refused them).
    assert os.statvfs(m.path).f_bavail == 0
    with pytest.raises(OSError) as exc:
        (m.path / "b.txt").write_text("b")
    assert exc.value.errno == errno.ENOSPC
    assert "closed" in (m.path / ".status").read_text()
    assert os.listdir(m.path) == ["a.txt"]

    # Files staged while the disc was open, then closed by another program:
    # the burn refuses with the plain message and keeps them staged.
    other = make_disc("cd-r80", name="other.iso")
    m2 = mount(other, "--no-burn-on-unmount", name="mnt2")
    (m2.path / "b.txt").write_text("b")
    m2.stop()
    src = tmp_path / "theirs"
    src.mkdir()
    (src / "theirs.txt").write_text("theirs")
    iso = tmp_path / "theirs.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", str(iso), str(src)])
    EmulatedRecorder(other).record(iso, Lba(0), close=True)
    m3 = mount(other, name="mnt3")
    assert m3.status()["staged_files"] == 1 and m3.status()["free_bytes"] == 0
    res = m3.burn(check=False)
    assert res.returncode == 5 and PLAIN in res.stderr  # disc not writable
    assert "at least 1 MB free" in res.stderr
    assert (m3.path / "b.txt").read_text() == "b"
    assert os.getxattr(m3.path / "b.txt", "user.cdfs.state") == b"staged"


def test_close_in_burn_file(mount: Any, make_disc: Any) -> None:
    disc = make_disc("dvd+r")
    m = mount(disc)
    (m.path / "a.txt").write_text("a")
    with open(m.path / ".burn", "w") as f:
        f.write("close=yes\nlabel=Final\n")
    for _ in range(300):
        last = m.status()["last_burn"]
        if last:
            break
        import time

        time.sleep(0.1)
    assert last and last["ok"], last
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "closed"


def test_close_policy_auto_closes_a_nearly_full_disc(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-r74")
    m = mount(disc, "--close-policy", "auto")
    (m.path / "small.txt").write_text("small")
    m.burn()
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "appendable"  # lots of room left: stays open
    # Fill to within 2 % of the capacity: auto closes.
    free = m.status()["available_bytes"]
    with open(m.path / "big.bin", "wb") as f:
        f.truncate(free - 5_000_000)
    m.burn()
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "closed"


def test_burn_too_big_for_the_disc_is_refused_before_writing(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-r74")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "first.txt").write_text("first")
    m.burn()
    with open(m.path / "big.bin", "wb") as f:
        f.truncate(m.status()["available_bytes"] - 1_000_000)
    # Another session eats the 6,900-sector gap: what fitted as staged data
    # must still be checked at burn time against the real next address.
    res = m.burn(check=False)
    assert res.returncode == 0, res.stderr


def test_swapped_or_externally_written_disc_is_noticed(
    tmp_path: Any, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    """A session another program appends behind the mount's back makes the
    wrong-disc check refuse the burn (exit 5, "swapped": README's exit
    codes), writing nothing; mounted again, the disc is shown as it is."""
    from pathlib import Path

    from cdfs.recorders.emulated import EmulatedRecorder

    from conftest import run, xorriso_listing

    # The mount must not look at the emulated disc meanwhile: within a
    # second it would follow the new session, and the burn would go on.
    home["CDFS_DISC_POLL"] = "0"
    disc = make_disc("dvd+r")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "mine.txt").write_text("staged for this disc\n")
    # Another program appends a session while the mount is up.
    src = Path(tmp_path) / "other"
    src.mkdir()
    (src / "theirs.txt").write_text("written elsewhere\n")
    rec = EmulatedRecorder(disc)
    iso = Path(tmp_path) / "theirs.iso"
    run(["xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", str(iso), str(src)])
    rec.record(iso, rec.disc_info().nwa or 0)
    before = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    res = m.burn(check=False)
    assert res.returncode == 5, res.stderr
    assert "not the one this mount shows" in res.stderr and "staged files are kept" in res.stderr
    after = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert after["sessions"] == before["sessions"]  # nothing written
    assert (m.path / "mine.txt").read_text() == "staged for this disc\n"
    m.stop()
    # Mounted again, the mount shows the disc as it is now, and burns onto it.
    m2 = mount(disc, name="mnt2")
    assert sorted(os.listdir(m2.path)) == ["mine.txt", "theirs.txt"]
    m2.burn()
    listing = xorriso_listing(disc, after["sessions"][-1]["start"])
    assert "theirs.txt" in listing
    last = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)["sessions"]
    assert "mine.txt" in xorriso_listing(disc, last[-1]["start"])
    assert "theirs.txt" in xorriso_listing(disc, last[-1]["start"])


def test_closing_an_overwritable_disc_says_it_cannot(mount: Any, make_disc: Any) -> None:
    """DVD+RW and BD-RE cannot be closed (issue 13): the burn says so, and
    the disc takes the next session as before."""
    disc = make_disc("dvd+rw")
    m = mount(disc)
    (m.path / "a.txt").write_text("a")
    res = m.burn("--close")
    assert "cannot be closed: it stays writable" in res.stdout
    assert "now closed" not in res.stdout
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "appendable"
    (m.path / "b.txt").write_text("b")
    m.burn()
    assert os.getxattr(m.path / "b.txt", "user.cdfs.state") == b"disc"
