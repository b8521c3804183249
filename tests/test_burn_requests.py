"""Burn requests through ``.burn`` as shells and tools make them: a
redirect's options are honoured, a refused request burns nothing, and
touching the file (or only setting its times) burns exactly once."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_listing


def media_info(disc: Path, env: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return info


def test_redirected_simulate_only_simulates(
    mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "keep.txt").write_bytes(b"keep me staged\n")
    ticket = m.request(lambda: run(["bash", "-c", f"echo simulate=yes > '{m.path}/.burn'"]))
    last = m.wait_for_burn(ticket)
    assert last["ok"] and "simulated" in last["message"], last
    info = media_info(disc, home)
    assert info["state"] == "blank" and info["sessions"] == [], info
    toc = run(["xorriso", "-indev", f"stdio:{disc}", "-toc"])
    assert "is blank" in toc.stdout + toc.stderr, toc.stdout + toc.stderr
    assert os.getxattr(m.path / "keep.txt", "user.cdfs.state") == b"staged"
    assert (m.staged() / "keep.txt").read_bytes() == b"keep me staged\n"
    assert m.status()["requests"] == ticket == 1


def test_redirected_label_names_the_disc(mount: Any, make_disc: Any, home: dict[str, str]) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "photo.jpg").write_bytes(b"\xff\xd8 not really a photo\n")
    ticket = m.request(
        lambda: run(["bash", "-c", f"printf 'label=Photos One\\n' > '{m.path}/.burn'"])
    )
    last = m.wait_for_burn(ticket)
    assert last["ok"] and last["label"] == "Photos One", last
    pvd = run(["isoinfo", "-d", "-i", str(disc)]).stdout
    assert re.search(r"^Volume id: (.*)$", pvd, re.M)[1] == "PHOTOS_ONE", pvd  # type: ignore[index]
    info = run(["xorriso", "-indev", f"stdio:{disc}", "-pvd_info"]).stdout
    assert re.search(r"^Volume Id    : (.*)$", info, re.M)[1] == "PHOTOS_ONE", info  # type: ignore[index]
    assert "photo.jpg" in xorriso_listing(disc)
    assert len(media_info(disc, home)["sessions"]) == 1


def test_refused_or_empty_requests_start_no_burn(
    mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "kept.txt").write_bytes(b"kept\n")
    res = run(["bash", "-c", f"echo bogus=1 > '{m.path}/.burn'"], check=False)
    assert res.returncode != 0 and "Invalid argument" in res.stderr, res
    last = m.status()["last_burn"]
    assert not last["ok"] and "bogus" in last["message"], last
    # A last line without its newline is checked when the file is released;
    # the shell never sees an error of close(), the status says why.
    run(["bash", "-c", f"printf 'verify=sometimes' > '{m.path}/.burn'"])
    m.wait_for(lambda s: "sometimes" in ((s["last_burn"] or {}).get("message") or ""))
    # Setting only the size (truncate(2), no descriptor) asks for nothing.
    os.truncate(m.path / ".burn", 0)
    assert m.status()["requests"] == 0
    assert media_info(disc, home)["sessions"] == []
    assert os.getxattr(m.path / "kept.txt", "user.cdfs.state") == b"staged"
    # The next valid request is the first one counted, and the only burn.
    m.burn("--label", "after")
    s = m.status()
    assert s["requests"] == 1 and s["last_burn"]["request"] == 1, s
    assert s["last_burn"]["ok"] and s["last_burn"]["files"] == 1, s
    assert len(media_info(disc, home)["sessions"]) == 1
    assert "kept.txt" in xorriso_listing(disc)


TOUCHES = {
    "touch": ["touch", "{burn}"],
    "touch -d": ["touch", "-d", "2020-01-01", "{burn}"],
    "touch -m": ["touch", "-m", "{burn}"],
    "Path.touch": [
        sys.executable,
        "-c",
        "import pathlib,sys; pathlib.Path(sys.argv[1]).touch()",
        "{burn}",
    ],
    "os.utime": [sys.executable, "-c", "import os,sys; os.utime(sys.argv[1])", "{burn}"],
    "redirect": ["bash", "-c", ": > '{burn}'"],
}


@pytest.mark.parametrize("how", list(TOUCHES))
def test_touching_burn_burns_exactly_once(
    mount: Any, make_disc: Any, home: dict[str, str], how: str
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "one.txt").write_bytes(b"one\n")
    burn = str(m.path / ".burn")
    ticket = m.request(lambda: run([arg.replace("{burn}", burn) for arg in TOUCHES[how]]))
    last = m.wait_for_burn(ticket)
    assert last["ok"] and last["files"] == 1, last
    # A second request afterwards is number 2: touching made exactly one.
    (m.path / "two.txt").write_bytes(b"two\n")
    m.burn()
    s = m.status()
    assert s["requests"] == 2 and s["last_burn"]["request"] == 2, s
    assert s["last_burn"]["ok"] and s["last_burn"]["files"] == 1, s
    assert len(media_info(disc, home)["sessions"]) == 2
