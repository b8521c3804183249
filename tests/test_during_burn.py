"""Deleting and renaming staged files while a burn runs: what the user
changed must be exactly what the mount shows afterwards.

On write-once media the burned copy can never be deleted, so deleting or
renaming a name the burn holds is refused (EBUSY) until it ends and the
mount then shows what the disc holds.  On rewritable media the change is
taken: the burned copy's deletion is staged and the next session leaves it
out.  Each case runs on a real mount with ``rm``/``mv``, during a slow
recording and during mastering, and the disc is read back with xorriso and
isoinfo.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_multisession import isoinfo_listing, local_tree, sessions_of, xorriso_tree

from cdfs import names

from conftest import run

PAUSE = 6.0
"""Seconds the burn is held in the phase under test (mastering: a pause;
recording: the emulated recorder's ``slow`` fault, in seconds per MiB, on a
session of about half a MiB)."""

A_BYTES = os.urandom(200_000)


def stage(mp: Path) -> None:
    (mp / "keep.txt").write_text("keep\n")
    (mp / "del.txt").write_text("delete me\n")
    (mp / "a").write_bytes(A_BYTES)
    (mp / "d2").mkdir()
    (mp / "d2" / "y.txt").write_text("in d2\n")
    (mp / "gone").mkdir()
    (mp / "gone" / "z.txt").write_text("in gone\n")
    os.symlink("keep.txt", mp / "link")


CHANGES = (
    ["rm", "del.txt"],
    ["mv", "a", "b"],
    ["mv", "d2", "d3"],
    ["rm", "-r", "gone"],
    ["rm", "link"],
)


def start_burn(m: Any, phase: str, *args: str) -> subprocess.Popen[bytes]:
    burn = subprocess.Popen(
        [sys.executable, "-m", "cdfs", "burn", "--wait", "--quiet", *args, str(m.path)],
        env=m.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while m.status()["burn"]["phase"] != phase:
        assert burn.poll() is None, burn.communicate(timeout=10)
        assert time.monotonic() < deadline, m.status()
        time.sleep(0.01)
    return burn


def still_in(m: Any, phase: str) -> None:
    """The changes were made during ``phase``, or the test proves nothing."""
    assert m.status()["burn"]["phase"] == phase, "the burn left the phase too early"


def finish(burn: subprocess.Popen[bytes]) -> None:
    out, err = burn.communicate(timeout=300)
    assert burn.returncode == 0, (out, err)


def mounted(m: Any) -> dict[str, tuple[str, bytes]]:
    return local_tree(m.path)


def last_session(disc: Path, m: Any, tmp_path: Path) -> tuple[int, dict[str, tuple[str, bytes]]]:
    start = sessions_of(disc, m.env)[-1][0]
    tree = xorriso_tree(disc, start, tmp_path / f"x{start}")
    assert set(isoinfo_listing(disc, start)) == set(tree)
    return start, tree


def env_for(home: dict[str, str], phase: str) -> None:
    if phase == "recording":
        home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 2 * PAUSE})
    else:
        home["CDFS_FAULT_PAUSE"] = f"{phase}:{PAUSE}"


@pytest.mark.parametrize("phase", ["recording", "mastering"])
def test_write_once_refuses_to_delete_or_rename_what_a_burn_records(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], phase: str
) -> None:
    env_for(home, phase)
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    stage(m.path)
    burn = start_burn(m, phase)
    for cmd in CHANGES:
        res = run(cmd, cwd=m.path, check=False)
        assert res.returncode != 0 and "Device or resource busy" in res.stderr, (cmd, res)
    with pytest.raises(OSError) as exc:
        os.rename(m.path / "a", m.path / "b")
    assert exc.value.errno == errno.EBUSY
    with pytest.raises(OSError) as exc:
        os.rmdir(m.path / "d2")  # a directory above a frozen file, itself frozen
    assert exc.value.errno == errno.EBUSY
    # New files, and new versions of frozen ones, are still welcome.
    (m.path / "new.txt").write_text("new\n")
    run(["mkdir", "-p", "d2/sub"], cwd=m.path)
    (m.path / "keep.txt").write_text("kept, new version\n")
    still_in(m, phase)
    finish(burn)
    _start, disc_tree = last_session(disc, m, tmp_path)
    assert set(disc_tree) == {
        "keep.txt", "del.txt", "a", "d2", "d2/y.txt", "gone", "gone/z.txt", "link",
    }  # fmt: skip
    assert disc_tree["a"] == ("file", A_BYTES)
    assert disc_tree["keep.txt"] == ("file", b"keep\n")
    # The mount shows what is on the disc, plus what was staged meanwhile.
    shown = mounted(m)
    assert set(shown) == set(disc_tree) | {"new.txt", "d2/sub"}
    for path, what in disc_tree.items():
        if path != "keep.txt":
            assert shown[path] == what, path
    assert shown["keep.txt"] == ("file", b"kept, new version\n")
    assert os.getxattr(m.path / "del.txt", "user.cdfs.state") == b"disc"
    # Once burned the usual write-once rule applies, and nothing else is held.
    with pytest.raises(PermissionError):
        os.unlink(m.path / "del.txt")
    os.unlink(m.path / "new.txt")
    assert m.log is not None and "while a burn is recording it" in m.log.read_text()


@pytest.mark.parametrize("phase", ["recording", "mastering"])
def test_rewritable_takes_deletes_and_renames_made_during_a_burn(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str], phase: str
) -> None:
    env_for(home, phase)
    disc = make_disc("cd-rw80")
    m = mount(disc, "--no-burn-on-unmount")
    stage(m.path)
    (m.path / "edit.txt").write_text("old line\n")
    burn = start_burn(m, phase)
    for cmd in CHANGES:
        run(cmd, cwd=m.path)
    run(["sed", "-i", "s/old/new/", "edit.txt"], cwd=m.path)  # a new file renamed over it
    (m.path / "new.txt").write_text("new\n")
    still_in(m, phase)
    finish(burn)
    want = {
        "keep.txt": ("file", b"keep\n"),
        "edit.txt": ("file", b"new line\n"),
        "b": ("file", A_BYTES),
        "d3": ("dir", b""),
        "d3/y.txt": ("file", b"in d2\n"),
        "new.txt": ("file", b"new\n"),
    }
    # The session holds the snapshot; the mount shows the changes on top.
    _start, disc_tree = last_session(disc, m, tmp_path)
    assert set(disc_tree) == {
        "keep.txt", "edit.txt", "del.txt", "a", "d2", "d2/y.txt", "gone", "gone/z.txt", "link",
    }  # fmt: skip
    assert disc_tree["edit.txt"] == ("file", b"old line\n")
    assert mounted(m) == want
    for name in ("edit.txt", "b", "d3", "new.txt"):
        assert os.getxattr(m.path / name, "user.cdfs.state") == b"staged"
    assert os.getxattr(m.path / "keep.txt", "user.cdfs.state") == b"disc"
    # Each deletion is staged once, at the topmost name that went away.
    wh = names.WHITEOUT_PREFIX.decode()
    staged = sorted(str(p.relative_to(m.staged())) for p in m.staged().rglob("*"))
    assert [p for p in staged if wh not in p] == ["b", "d3", "d3/y.txt", "edit.txt", "new.txt"]
    assert {wh + n for n in ("del.txt", "a", "d2", "gone", "link")} <= set(staged)
    assert all("/" not in p for p in staged if wh in p)
    # The next session leaves the deleted and old names out.
    res = m.burn()
    assert res.returncode == 0, res.stderr
    _start, disc_tree = last_session(disc, m, tmp_path)
    assert disc_tree == want
    assert mounted(m) == want
    assert [p for p in m.staged().rglob("*")] == []


def test_a_simulated_burn_holds_nothing(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    env_for(home, "mastering")
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    stage(m.path)
    burn = start_burn(m, "mastering", "--simulate")
    for cmd in CHANGES:
        run(cmd, cwd=m.path)
    still_in(m, "mastering")
    finish(burn)
    assert sessions_of(disc, m.env) == []
    assert mounted(m) == {
        "keep.txt": ("file", b"keep\n"),
        "b": ("file", A_BYTES),
        "d3": ("dir", b""),
        "d3/y.txt": ("file", b"in d2\n"),
    }
