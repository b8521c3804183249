"""Names the disc's other views cannot carry: reported, or refused with
names=strict."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run


def test_status_lists_names_windows_sees_differently(mount: Any) -> None:
    m = mount()
    mp = m.path
    long_name = "a" * 100 + ".txt"
    for name in (long_name, "what? yes: no.txt", "Readme", "README", "ok.txt", "🎵.mp3"):
        (mp / name).write_text(name)
    report = m.status()["names"]
    joliet = {item["path"]: item["as"] for item in report["joliet"]}
    assert "ok.txt" not in joliet and "README" not in joliet
    assert joliet[long_name] == "a" * 60 + ".txt"
    assert joliet["what? yes: no.txt"] == "what_ yes_ no.txt"
    assert joliet["Readme"] == "Readme~1"  # the same name to Windows as "README"
    assert joliet["🎵.mp3"] == "_.mp3"
    assert report["joliet_count"] == 4
    # Plain ISO 9660 names are a count: upper case alone ("ok.txt") is not
    # a change worth listing.
    assert "iso" not in report
    assert report["iso_count"] == 4  # the long name, "what? ...", the emoji, Readme/README
    text = (mp / ".status").read_text()
    assert "Windows (Joliet) will see 4 staged names differently:" in text
    assert "what? yes: no.txt  ->  what_ yes_ no.txt" in text
    human = cdfs(["status", str(mp)], m.env).stdout
    assert "Readme  ->  Readme~1" in human
    # What the report promised is what the burned disc's Joliet tree holds.
    m.burn()
    seven = run(["7z", "l", str(m.disc)]).stdout
    for shown in joliet.values():
        assert shown in seven


def test_status_lists_only_what_readers_really_see_differently(mount: Any) -> None:
    m = mount()
    mp = m.path
    for i in range(300):  # ordinary names: the same to every reader, give or take case
        (mp / f"file{i:03}.txt").write_text(str(i))
    (mp / "a b.txt").write_text("space")
    (mp / "Readme").write_text("the file")
    os.symlink("Readme", mp / "README")  # not in the Joliet tree, so no ~1 for Readme
    os.symlink("file000.txt", mp / "what?")
    report = m.status()["names"]
    assert report["joliet"] == [] and report["joliet_count"] == 0
    assert report["joliet_symlinks"] == 2
    # "a b.txt" -> A_B.TXT, "what?" -> WHAT_, and one of Readme/README.
    assert report["iso_count"] == 3
    text = (mp / ".status").read_text()
    assert "file0" not in text
    names_part = [line for line in text.splitlines() if "Joliet" in line or "->" in line]
    assert names_part == [
        "Windows (Joliet) will not see 2 staged symbolic links (Joliet cannot record links)",
        "Readers with neither Rock Ridge nor Joliet will see 3 staged names shortened or "
        "with characters replaced",
    ]
    # What the status promised is what the burned disc's Joliet tree holds.
    m.burn()
    joliet = run(["isoinfo", "-i", str(m.disc), "-J", "-f"]).stdout.splitlines()
    assert "/Readme" in joliet and "/a b.txt" in joliet and "/file299.txt" in joliet
    assert "/README" not in joliet and not [n for n in joliet if n.startswith("/what")]
    assert len(joliet) == 302
    # A burned directory that new files go into is not a new name.
    (mp / "burned dir?").mkdir()
    m.burn()
    (mp / "burned dir?" / "new.txt").write_text("new")
    report = m.status()["names"]
    assert (report["joliet_count"], report["joliet_symlinks"], report["iso_count"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("b" * 65, errno.ENAMETOOLONG),
        ("colon:name", errno.EINVAL),
        ("question?", errno.EINVAL),
        ("emoji 🎵", errno.EINVAL),
        ("trailing dot.", errno.EINVAL),
        ("OK.TXT", errno.EINVAL),  # the same name to Windows as ok.txt
    ],
)
def test_strict_names_refused_at_copy_time(
    mount: Any, home: dict[str, str], name: str, code: int
) -> None:
    if name == "OK.TXT":  # as a setting; the others as the mount option
        cdfs(["config", "set", "names", "strict"], home)
        m = mount()
    else:
        m = mount(None, "--names", "strict")
    (m.path / "ok.txt").write_text("fine")
    (m.path / "Ünïcödé is fine.txt").write_text("fine")
    with pytest.raises(OSError) as exc:
        (m.path / name).write_text("x")
    assert exc.value.errno == code
    with pytest.raises(OSError) as exc:
        os.mkdir(m.path / name)
    assert exc.value.errno == code
    with pytest.raises(OSError) as exc:
        os.rename(m.path / "Ünïcödé is fine.txt", m.path / name)
    assert exc.value.errno == code
    assert sorted(os.listdir(m.path)) == ["ok.txt", "Ünïcödé is fine.txt"]
    # Renaming a name to another case of itself is fine.
    os.rename(m.path / "ok.txt", m.path / "Ok.txt")


def test_non_utf8_and_overlong_names_keep_the_daemon_serving(mount: Any) -> None:
    m = mount()
    mp = os.fsencode(m.path)
    with pytest.raises(OSError) as exc:
        os.open(mp + b"/bad\xff\xfename", os.O_CREAT | os.O_WRONLY, 0o644)
    assert exc.value.errno == errno.EINVAL
    name255 = "n" * 251 + ".txt"
    (m.path / name255).write_text("255 bytes")
    with pytest.raises(OSError) as exc:
        (m.path / ("n" * 256)).write_text("too long")
    assert exc.value.errno == errno.ENAMETOOLONG
    deep = m.path
    for i in range(110):
        deep = deep / f"d{i}"
    os.makedirs(deep)
    (deep / "bottom.txt").write_text("110 levels down")
    assert (deep / "bottom.txt").read_text() == "110 levels down"
    m.burn()
    assert (deep / "bottom.txt").read_text() == "110 levels down"
    assert (m.path / name255).read_text() == "255 bytes"
    info = json.loads(cdfs(["media", "info", "--json", str(m.disc)], m.env).stdout)
    assert len(info["sessions"]) == 1
    out = Path(m.path).parent / "out"
    run(["xorriso", "-osirrox", "on", "-indev", f"stdio:{m.disc}", "-extract", "/", str(out)])
    assert (
        out / Path(*[f"d{i}" for i in range(110)]) / "bottom.txt"
    ).read_text() == "110 levels down"
