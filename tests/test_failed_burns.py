"""A mount goes on after a burn that failed half-way.

A recording cut off by the drive, or a session that fails verification,
changes the disc all the same (on write-once media the range it began is
lost; a session that did not verify is on the disc).  The running mount
must follow the disc, keep staged what did not make it, and take the next
burn, rather than refuse every later burn as onto a "swapped" disc until it
is mounted again.  The disc is read back with xorriso and compared byte for
byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from test_multisession import sessions_of

from conftest import cdfs, xorriso_extract


def last_session(disc: Path, home: dict[str, str], dest: Path) -> dict[str, bytes]:
    """The files of the disc's last session, read back by xorriso."""
    xorriso_extract(disc, dest, sessions_of(disc, home)[-1][0])
    return {p.name: p.read_bytes() for p in dest.iterdir()}


@pytest.mark.parametrize("media", ["cd-r80", "cd-rw80"])
def test_after_a_failed_recording_the_next_burn_is_taken(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], media: str
) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 600_000})
    disc = make_disc(media)
    m = mount(disc, "--no-burn-on-unmount")
    big = os.urandom(1_000_000)
    (m.path / "big.bin").write_bytes(big)
    res = m.burn(check=False)
    assert res.returncode == 1 and "the drive failed" in res.stderr, res.stderr
    assert (m.path / "big.bin").read_bytes() == big  # still staged
    assert os.getxattr(m.path / "big.bin", "user.cdfs.state") == b"staged"
    # A smaller burn fits under the injected fault: the same mount takes it.
    (m.path / "big.bin").unlink()
    small = {"a.txt": b"alpha\n", "b.bin": os.urandom(20_000)}
    for name, data in small.items():
        (m.path / name).write_bytes(data)
    res = m.burn(check=False)
    assert res.returncode == 0, res.stderr
    assert m.status()["last_burn"]["ok"] is True
    assert last_session(disc, home, tmp_path / "out") == small
    for name, data in small.items():
        assert os.getxattr(m.path / name, "user.cdfs.state") == b"disc"
        assert (m.path / name).read_bytes() == data
    assert not (m.path / "big.bin").exists()


def test_after_a_failed_verification_the_mount_follows_the_disc(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    # Byte 200,000 of the image is inside f0.bin's data (past the system
    # area and the small tree): only f0.bin reads back wrong.
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"corrupt_at_byte": 200_000})
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    payload = {f"f{i}.bin": os.urandom(300_000) for i in range(3)}
    for name, data in payload.items():
        (m.path / name).write_bytes(data)
    res = m.burn(check=False)
    assert res.returncode == 1 and "verification failed" in res.stderr, res.stderr
    assert "1 of its files did not read back correctly and stay staged (f0.bin)" in res.stderr
    got = last_session(disc, home, tmp_path / "out")
    assert got["f0.bin"] != payload["f0.bin"]  # the test's premise
    # The damaged file stays staged with its own bytes; the others are on
    # the disc as they were staged, and left the staging area.
    assert os.getxattr(m.path / "f0.bin", "user.cdfs.state") == b"staged"
    assert (m.path / "f0.bin").read_bytes() == payload["f0.bin"]
    assert (m.staged() / "f0.bin").read_bytes() == payload["f0.bin"]
    for name in ("f1.bin", "f2.bin"):
        assert got[name] == payload[name]
        assert os.getxattr(m.path / name, "user.cdfs.state") == b"disc"
        assert (m.path / name).read_bytes() == payload[name]
        assert not (m.staged() / name).exists()
    # The same mount takes the next burn (before: "not the one this mount
    # shows").  The injected fault still damages byte 200,000 of each image,
    # so this one is not verified.
    (m.path / "later.txt").write_bytes(b"later\n")
    res = m.burn("--verify", "none", check=False)
    assert res.returncode == 0, res.stderr
    got = last_session(disc, home, tmp_path / "out2")
    assert got["later.txt"] == b"later\n"
    assert got["f1.bin"] == payload["f1.bin"] and got["f2.bin"] == payload["f2.bin"]
    assert len(sessions_of(disc, home)) == 2


@pytest.mark.parametrize("again", [False, True], ids=["same-mount", "mounted-again"])
def test_after_a_write_error_in_a_later_session_the_next_burn_records_everything(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], again: bool
) -> None:
    """The emulated recorder's side of the simulated drive's test
    (tests/test_mmc_discs.py): a write error at a sector of the second
    session.  The emulated drive loses the range it began (no session cut
    short in its table of contents, unlike libburn on a real CD-R); the mount
    that burned it, or one made afterwards, takes the next burn, which
    records the first session's file and the staged one."""
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "a.bin").write_bytes(a := os.urandom(80_000))
    m.burn()
    m.stop()
    nwa = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"bad_sector": nwa["next_writable_address"] + 25})
    m = mount(disc, "--no-burn-on-unmount", name="faulty")
    (m.path / "b.bin").write_bytes(b := os.urandom(200_000))
    res = m.burn(check=False)
    assert res.returncode != 0 and "write error at sector" in res.stderr, res.stderr
    if again:
        m.stop()
        m = mount(disc, "--no-burn-on-unmount", name="again")
    assert (m.path / "a.bin").read_bytes() == a
    assert os.getxattr(m.path / "b.bin", "user.cdfs.state") == b"staged"
    assert (m.path / "b.bin").read_bytes() == b
    m.burn()
    assert last_session(disc, home, tmp_path / "out") == {"a.bin": a, "b.bin": b}
    assert len(sessions_of(disc, home)) == 2
