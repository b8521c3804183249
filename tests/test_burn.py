"""Burns that fail or race with writers never lose staged files."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from conftest import cdfs, xorriso_extract, xorriso_listing


def test_failed_recording_keeps_staging_and_next_burn_goes_after(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc()
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 100_000})
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "precious.bin").write_bytes(b"p" * 300_000)
    res = m.burn(check=False)
    assert res.returncode == 1 and "burn failed" in res.stderr
    last = m.status()["last_burn"]
    assert not last["ok"]
    assert "FAILED" in (m.path / ".status").read_text()
    assert (m.path / "precious.bin").read_bytes() == b"p" * 300_000
    assert os.getxattr(m.path / "precious.bin", "user.cdfs.state") == b"staged"
    assert m.stop() == 0
    # The interrupted session is wasted space on a CD-R; the next burn goes after it.
    del home["CDFS_EMULATED_FAULTS"]
    m2 = mount(disc, name="mnt2")
    assert (m2.path / "precious.bin").read_bytes() == b"p" * 300_000
    m2.burn()
    info = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)
    assert len(info["sessions"]) == 1 and info["sessions"][0]["start"] > 0
    start = info["sessions"][0]["start"]
    assert "precious.bin" in xorriso_listing(disc, start)
    out = tmp_path / "out"
    xorriso_extract(disc, out, start)
    assert (out / "precious.bin").read_bytes() == b"p" * 300_000


def test_unwritable_stash_is_a_clear_error(tmp_path: Path, mount: Any) -> None:
    # Good when mounting (a bad one is refused then: test_mountcheck), it
    # has become a file by the time of the burn.
    stash = tmp_path / "stash-is-a-file"
    stash.mkdir()
    m = mount(None, "--stash-dir", str(stash), "--no-burn-on-unmount")
    stash.rmdir()
    stash.write_text("not a directory")
    (m.path / "f.txt").write_text("keep me")
    res = m.burn(check=False)
    assert res.returncode == 1 and "stash" in res.stderr
    assert (m.path / "f.txt").read_text() == "keep me"
    assert os.getxattr(m.path / "f.txt", "user.cdfs.state") == b"staged"


def test_changes_during_a_burn_stay_staged(
    tmp_path: Path, mount: Any, home: dict[str, str], make_disc: Any
) -> None:
    disc = make_disc()
    # Slow recording (seconds per MiB) leaves time to write while it runs.
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"slow": 1.5})
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    (mp / "a.txt").write_text("old a\n")
    (mp / "b.txt").write_text("old b\n")
    (mp / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.setdefault("res", m.burn(check=False)))
    t.start()
    deadline = time.monotonic() + 30
    while m.status()["burn"]["phase"] not in ("recording", "verifying"):
        assert time.monotonic() < deadline, m.status()
        time.sleep(0.05)
    (mp / "a.txt").write_text("new a\n")  # rewritten in place during the burn
    with open(mp / "b.txt", "a") as f:
        f.write("more b\n")
    (mp / "c.txt").write_text("added during the burn\n")
    t.join(timeout=120)
    assert result["res"].returncode == 0, result["res"].stderr
    out = tmp_path / "out"
    xorriso_extract(disc, out)
    assert (out / "a.txt").read_text() == "old a\n"  # the snapshot, not a mix
    assert (out / "b.txt").read_text() == "old b\n"
    assert not (out / "c.txt").exists()
    # The mount shows the newest versions, still staged for the next burn.
    assert (mp / "a.txt").read_text() == "new a\n"
    assert (mp / "b.txt").read_text() == "old b\nmore b\n"
    for name in ("a.txt", "b.txt", "c.txt"):
        assert os.getxattr(mp / name, "user.cdfs.state") == b"staged", name
    assert os.getxattr(mp / "big.bin", "user.cdfs.state") == b"disc"
