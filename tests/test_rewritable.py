"""Rewritable discs: files on the disc may be deleted, renamed and replaced
(staged, burned as a new session); erasing blanks the disc."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_extract


def last_start(disc: Path, env: dict[str, str]) -> int:
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return int(info["sessions"][-1]["start"])


@pytest.mark.parametrize("media", ["cd-rw80", "dvd+rw", "bd-re"])
def test_delete_rename_replace_on_disc(
    tmp_path: Path, mount: Any, make_disc: Any, media: str
) -> None:
    disc = make_disc(media)
    m = mount(disc)
    mp = m.path
    (mp / "keep.txt").write_text("keep\n")
    (mp / "gone.txt").write_text("delete me\n")
    (mp / "old.txt").write_text("old contents\n")
    (mp / "moved.txt").write_text("move me\n")
    (mp / "dir" / "sub").mkdir(parents=True)
    (mp / "dir" / "sub" / "f").write_text("in a dir\n")
    (mp / "emptydir").mkdir()
    m.burn()
    # Deleting, renaming, replacing what is on the disc is allowed and staged.
    os.unlink(mp / "gone.txt")
    assert not (mp / "gone.txt").exists()
    run(["mv", str(mp / "moved.txt"), str(mp / "renamed.txt")])
    (mp / "old.txt").write_text("new contents\n")
    assert os.getxattr(mp / "old.txt", "user.cdfs.state") == b"staged"
    run(["sed", "-i", "s/keep/kept/", str(mp / "keep.txt")])
    run(["rm", "-r", str(mp / "dir")])
    os.rmdir(mp / "emptydir")
    (mp / "emptydir").write_text("now a file\n")
    os.chmod(mp / "renamed.txt", 0o600)
    assert sorted(os.listdir(mp)) == ["emptydir", "keep.txt", "old.txt", "renamed.txt"]
    before = {p: (mp / p).read_bytes() for p in os.listdir(mp)}
    m.burn()
    assert sorted(os.listdir(mp)) == sorted(before)
    assert {p: (mp / p).read_bytes() for p in os.listdir(mp)} == before
    assert list(m.staged().iterdir()) == []
    out = tmp_path / "out"
    xorriso_extract(disc, out, last_start(disc, m.env))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert (out / "renamed.txt").stat().st_mode & 0o777 == 0o600


def test_erase_through_the_mount_keeps_staged_files(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc)
    mp = m.path
    (mp / "burned.txt").write_text("burned\n")
    m.burn()
    (mp / "waiting.txt").write_text("staged\n")
    assert (mp / "burned.txt").is_file()  # the kernel now caches the name
    res = cdfs(["erase", "--yes", "--quiet", str(mp)], m.env, timeout=120)
    assert "erased" in res.stdout
    assert sorted(os.listdir(mp)) == ["waiting.txt"]
    # Looked up by name too, at once (not after the kernel's entry timeout).
    assert not (mp / "burned.txt").exists()
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert info["state"] == "blank"
    m.burn()
    assert sorted(os.listdir(mp)) == ["waiting.txt"]
    assert os.getxattr(mp / "waiting.txt", "user.cdfs.state") == b"disc"


def test_erase_refused_on_write_once_and_without_yes(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    m = mount(make_disc("cd-r80"))
    res = cdfs(["erase", "--yes", str(m.path)], m.env, check=False)
    assert res.returncode != 0 and "cannot be erased" in res.stderr
    rw = make_disc("cd-rw74", name="rw.iso")
    res = cdfs(["erase", str(rw)], home, check=False)  # no terminal, no --yes
    assert res.returncode != 0 and "--yes" in res.stderr
    res = cdfs(["erase", "--full", "--yes", "-q", str(rw)], home, timeout=300)
    assert "full erase" in res.stdout


def test_write_once_still_refuses_on_cd_r(mount: Any) -> None:
    m = mount()
    (m.path / "f").write_text("x")
    m.burn()
    for fn, args in ((os.unlink, (m.path / "f",)), (os.rename, (m.path / "f", m.path / "g"))):
        with pytest.raises(OSError) as exc:
            fn(*args)
        assert exc.value.errno == errno.EPERM


def test_reserved_names_are_refused(mount: Any) -> None:
    m = mount(None)
    with pytest.raises(OSError) as exc:
        (m.path / ".cdfs.wh.x").write_text("no")
    assert exc.value.errno == errno.EINVAL


def _fill(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20))
        f.truncate(size)


def test_rewrite_when_a_session_no_longer_fits(tmp_path: Path, mount: Any, make_disc: Any) -> None:
    """Deleting does not give room back to the next session: staging refuses
    what only a rewrite could hold (until issue 11 it took it and the burn
    refused it), the status says how much a rewrite frees, and after
    ``cdfs burn --rewrite`` it fits."""
    disc = make_disc("cd-rw74")
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    _fill(mp / "a.bin", 300_000_000)
    (mp / "keep.txt").write_text("keep\n")
    m.burn()
    os.unlink(mp / "a.bin")  # deleting does not reclaim space on the disc
    s = m.status()
    assert s["available_bytes"] < 360_000_000 < s["rewrite_available_bytes"]
    assert "cdfs burn --rewrite" in (mp / ".status").read_text()
    with pytest.raises(OSError) as exc:
        _fill(mp / "b.bin", 360_000_000)
    assert exc.value.errno == errno.ENOSPC
    os.unlink(mp / "b.bin")
    res = m.burn("--rewrite")
    assert "rewrote the disc as one session" in res.stdout
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)
    assert [s["start"] for s in info["sessions"]] == [0]
    assert m.status()["available_bytes"] > 360_000_000
    _fill(mp / "b.bin", 360_000_000)
    m.burn()
    assert sorted(os.listdir(mp)) == ["b.bin", "keep.txt"]
    assert (mp / "keep.txt").read_text() == "keep\n"
    start = json.loads(cdfs(["media", "info", "--json", str(disc)], m.env).stdout)["sessions"][-1]
    listing = run(["xorriso", "-load", "sbsector", str(start["start"]), "-indev", f"stdio:{disc}",
                   "-find", "/", "-exec", "lsdl"]).stdout  # fmt: skip
    assert "b.bin" in listing and "keep.txt" in listing and "a.bin" not in listing


def test_rewrite_fault_midway_loses_nothing(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("dvd+rw")
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    old = os.urandom(2_000_000)
    (mp / "old.bin").write_bytes(old)
    m.burn()
    m.stop()
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 1_000_000})
    m = mount(disc, "--no-burn-on-unmount", name="mnt2")
    new = os.urandom(1_500_000)
    (m.path / "new.bin").write_bytes(new)
    res = m.burn("--rewrite", check=False)
    assert res.returncode == 1
    assert "The disc was erased for the rewrite" in res.stderr
    stash = res.stderr.split("are in ")[1].split(";")[0]
    assert (m.path / "new.bin").read_bytes() == new  # staged files kept
    m.stop()
    del home["CDFS_EMULATED_FAULTS"]
    # The stash holds everything: burned as an image, the disc is whole again.
    cdfs(["erase", "--yes", "-q", str(disc)], home)
    cdfs(["burn-image", "--drive", str(disc), "-q", stash], home)
    out = tmp_path / "out"
    xorriso_extract(disc, out)
    assert (out / "old.bin").read_bytes() == old
    assert (out / "new.bin").read_bytes() == new


def test_a_quick_erase_of_a_dvd_rw_is_a_full_one_and_says_how_long(
    mount: Any, make_disc: Any
) -> None:
    """A minimal blank leaves a DVD-RW able to take one DAO session only, so
    xorriso blanks it fully: cdfs says so, with the time (issue 13, item 6)."""
    disc = make_disc("dvd-rw")
    m = mount(disc)
    (m.path / "secret.txt").write_text("SECRET-CONTENTS\n")
    m.burn()
    start = last_start(disc, m.env)

    def session_bytes() -> bytes:
        with disc.open("rb") as f:
            f.seek(start * 2048)
            return f.read(1 << 20)

    assert b"SECRET-CONTENTS" in session_bytes()
    res = cdfs(["erase", "--yes", "--quiet", str(m.path)], m.env, timeout=120)
    assert "always erased fully" in res.stdout and "minutes" in res.stdout
    assert b"SECRET-CONTENTS" not in session_bytes()  # every sector blanked


def test_erasing_an_unmounted_dvd_rw_says_it_is_erased_fully(
    make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("dvd-rw")
    res = cdfs(["erase", "--yes", "-q", str(disc)], home, timeout=120)
    assert "always erased fully" in res.stdout and "minutes" in res.stdout
    res = cdfs(["erase", "--yes", "-q", str(make_disc("cd-rw80", "rw.iso"))], home, timeout=120)
    assert "(quick erase)" in res.stdout
