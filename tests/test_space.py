"""Space figures agree (issue 11 item 4).

``df -B1`` and ``df -i`` (the real programs, their output parsed),
``cat MNT/.status``, ``cdfs status --json`` and ``cdfs media info --json``
show one set of figures: capacity, used, free (what the next session can
take), staged and still fits (free minus what the staged changes need,
``df``'s available).  Staging takes exactly what the next burn can take: a
file of the size ``df`` shows is accepted and burns, one byte more is
refused with ENOSPC; the burned bytes read back with xorriso and isoinfo.
A closed disc shows 0 free and refuses writes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cdfs.burn.status import human_bytes
from cdfs.recorders.media import RECORDER_PADDING, SESSION_PADDING, media_type
from cdfs.units import SECTOR_SIZE

from conftest import cdfs, run

CD_R80_BYTES = 360_000 * SECTOR_SIZE
FIGURES = (
    "capacity_bytes",
    "used_bytes",
    "free_bytes",
    "staged_need_bytes",
    "available_bytes",
    "rewrite_available_bytes",
)


def df(mp: Path, *flags: str) -> dict[str, int]:
    """The figures the real ``df`` prints for ``mp`` (``-B1``: bytes;
    ``-i``: inodes): its header's columns and the mount's line."""
    out = run(["df", *flags, str(mp)]).stdout.splitlines()
    assert len(out) == 2, out
    head, line = out[0].split(), out[1].split()
    assert line[-1] == str(mp) and line[0] == "cdfs", out
    # Filesystem, then the figures, then Use% and "Mounted on".
    return {name: int(value) for name, value in zip(head[1:4], line[1:4], strict=True)}


def figures(m: Any) -> dict[str, Any]:
    """Every source of the figures, read one after the other (nothing
    changes in between), checked against each other; returns the status."""
    s: dict[str, Any] = json.loads(cdfs(["status", "--json", str(m.path)], m.env).stdout)
    text = (m.path / ".status").read_text()
    blocks, inodes = df(m.path, "-B1"), df(m.path, "-i")
    attr = m.status()  # the root's user.cdfs.status attribute says the same
    assert {k: attr[k] for k in FIGURES} == {k: s[k] for k in FIGURES}
    # df: size is the capacity, available is what still fits.
    assert blocks["1B-blocks"] == s["capacity_bytes"]
    assert blocks["Available"] == s["available_bytes"]
    assert blocks["Used"] == s["capacity_bytes"] - s["available_bytes"]
    # Still fits is free minus what the staged changes need.
    assert s["available_bytes"] == max(0, s["free_bytes"] - s["staged_need_bytes"])
    assert s["available_bytes"] <= s["free_bytes"] <= s["capacity_bytes"] - s["used_bytes"]
    # df -i: a sensible inode count, free ones from the room left.
    assert inodes["Inodes"] > 0 and inodes["IUsed"] >= 1
    assert inodes["IFree"] == s["available_bytes"] // 1024
    # The text of .status and cdfs status shows the same figures.
    assert text == cdfs(["status", str(m.path)], m.env).stdout
    lines = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    for key, name in (
        ("Capacity", "capacity_bytes"),
        ("Used", "used_bytes"),
        ("Free", "free_bytes"),
        ("Still fits", "available_bytes"),
    ):
        assert lines[key].strip().startswith(human_bytes(s[name])), (key, text)
    return s


def media_info(disc: Path, env: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(cdfs(["media", "info", "--json", str(disc)], env).stdout)
    return info


def same_disc_figures(s: dict[str, Any], disc: Path, env: dict[str, str]) -> None:
    """``cdfs media info`` shows the figures of the disc as the mount does."""
    info = media_info(disc, env)
    for key in ("capacity_bytes", "used_bytes", "free_bytes"):
        assert info[key] == s[key], key
    text = cdfs(["media", "info", str(disc)], env).stdout
    assert f"Free:      {human_bytes(s['free_bytes'])}" in text


def write_exactly(path: Path, size: int) -> None:
    """``head -c SIZE`` through the shell: must succeed."""
    run(["sh", "-c", f'head -c {size} /dev/urandom > "$1"', "sh", str(path)], timeout=300)
    assert path.stat().st_size == size


def one_byte_more(path: Path) -> None:
    """``head -c 1 >> FILE``: refused with ENOSPC, and the file unchanged."""
    size = path.stat().st_size
    res = run(["sh", "-c", 'head -c 1 /dev/zero >> "$1"', "sh", str(path)], check=False)
    assert res.returncode != 0 and "No space left on device" in res.stderr, res
    assert path.stat().st_size == size


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def isoinfo_sha256(disc: Path, start: int, name: str) -> str:
    script = 'isoinfo -i "$1" -T "$2" -R -x "$3" | sha256sum'
    out = run(["sh", "-c", script, "sh", str(disc), str(start), f"/{name}"], timeout=300).stdout
    return out.split()[0]


def fill_burn_and_read_back(m: Any, disc: Path, tmp_path: Path) -> None:
    """Fill staging with a file of exactly the size df shows, refuse one
    byte more, burn it, and read it back with isoinfo and xorriso."""
    before = figures(m)
    avail = df(m.path, "-B1")["Available"]
    assert avail == before["available_bytes"] > 100_000_000
    fill = m.path / "fill.bin"
    write_exactly(fill, avail)
    one_byte_more(fill)
    staged = figures(m)
    assert staged["available_bytes"] < SECTOR_SIZE  # no more than the new name's slack
    want = sha256(fill)
    m.burn()
    after = figures(m)
    assert after["staged_need_bytes"] == 0 and after["available_bytes"] == after["free_bytes"]
    start = media_info(disc, m.env)["sessions"][-1]["start"]
    assert isoinfo_sha256(disc, start, "fill.bin") == want
    out = tmp_path / "xorriso-out"
    run(["xorriso", "-osirrox", "on", "-load", "sbsector", str(start), "-indev",
         f"stdio:{disc}", "-extract", "/fill.bin", str(out)], timeout=300)  # fmt: skip
    assert sha256(out) == want
    out.unlink()


def test_blank_cd_r_figures(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    s = figures(m)
    assert s["capacity_bytes"] == CD_R80_BYTES and s["used_bytes"] == 0
    # Free is not capacity minus used: the first session costs its
    # padding, the run-out and its own descriptors and tables.
    overhead = s["capacity_bytes"] - s["used_bytes"] - s["free_bytes"]
    least = (RECORDER_PADDING + SESSION_PADDING + 2 + 16) * SECTOR_SIZE
    assert least <= overhead < least + 200 * SECTOR_SIZE
    assert s["available_bytes"] == s["free_bytes"] and s["staged_need_bytes"] == 0
    assert s["rewrite_available_bytes"] is None
    same_disc_figures(s, disc, m.env)
    # A staged file: the need is its data and its name's allowance.
    (m.path / "a.txt").write_bytes(b"a" * 5000)
    s = figures(m)
    assert 3 * SECTOR_SIZE <= s["staged_need_bytes"] <= 4 * SECTOR_SIZE
    assert "(free minus" in (m.path / ".status").read_text()


def test_cd_r_with_sessions_fills_exactly_and_burns(
    tmp_path: Path, mount: Any, make_disc: Any
) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "docs").mkdir()
    (m.path / "docs" / "one.txt").write_bytes(b"one\n")
    m.burn()
    s = figures(m)
    info = media_info(disc, m.env)
    (first,) = info["sessions"]
    # Used runs to the next writable address: the padded session, its
    # run-out and the Orange Book gap (lead-out, lead-in, pre-gap).
    assert s["used_bytes"] == (first["start"] + first["length"] + 2 + 11_400) * SECTOR_SIZE
    same_disc_figures(s, disc, m.env)
    fill_burn_and_read_back(m, disc, tmp_path)
    assert sorted(os.listdir(m.path)) == ["docs", "fill.bin"]
    assert (m.path / "docs" / "one.txt").read_bytes() == b"one\n"


def test_closed_cd_r_shows_nothing_free_and_refuses_writes(mount: Any, make_disc: Any) -> None:
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "one.txt").write_bytes(b"one\n")
    m.burn("--close")
    s = figures(m)
    assert s["state"] == "closed"
    assert s["used_bytes"] == s["capacity_bytes"]
    assert s["free_bytes"] == s["available_bytes"] == 0
    assert df(m.path, "-B1")["Available"] == 0
    inodes = df(m.path, "-i")
    assert inodes["IFree"] == 0 and inodes["Inodes"] == inodes["IUsed"] >= 2
    same_disc_figures(s, disc, m.env)
    assert "the disc is closed" in (m.path / ".status").read_text()
    # Writes are refused, with the reason in the log; nothing is staged.
    for cmd in ('echo x | cat > "$1/new.txt"', 'mkdir "$1/dir"', 'ln -s one.txt "$1/link"'):
        res = run(["sh", "-c", cmd, "sh", str(m.path)], check=False)
        assert res.returncode != 0 and "No space left on device" in res.stderr, (cmd, res)
    assert os.listdir(m.path) == ["one.txt"]
    assert list(m.staged().iterdir()) == []
    assert "the disc is closed: nothing more can be staged" in m.log.read_text()


def test_cd_rw_never_refuses_at_burn_time_what_staging_took(
    tmp_path: Path, mount: Any, make_disc: Any
) -> None:
    """The issue's case: a session accepted into staging was refused at burn
    time, as Still fits counted what only a rewrite could hold."""
    disc = make_disc("cd-rw74")
    m = mount(disc, "--no-burn-on-unmount")
    run(["sh", "-c", 'head -c 200000000 /dev/zero > "$1/old.bin"', "sh", str(m.path)])
    m.burn()
    os.unlink(m.path / "old.bin")  # staged: a rewrite would get its room back
    s = figures(m)
    assert s["rewrite_available_bytes"] > s["available_bytes"] + 190_000_000
    assert "If rewritten:" in (m.path / ".status").read_text()
    same_disc_figures(s, disc, m.env)
    fill_burn_and_read_back(m, disc, tmp_path)
    assert sorted(os.listdir(m.path)) == ["fill.bin"]
    # The rewrite figure is the one --rewrite checks: it fits, as one session.
    s = figures(m)
    assert s["rewrite_available_bytes"] > 0
    m.burn("--rewrite")
    after = media_info(disc, m.env)
    assert [x["start"] for x in after["sessions"]] == [0]
    assert sorted(os.listdir(m.path)) == ["fill.bin"]


def test_dvd_plus_rw_figures_and_exact_limit(mount: Any, make_disc: Any) -> None:
    disc = make_disc("dvd+rw")
    m = mount(disc, "--no-burn-on-unmount")
    s = figures(m)
    assert s["capacity_bytes"] == media_type("dvd+rw").capacity_bytes
    assert s["rewrite_available_bytes"] == s["available_bytes"]  # blank: the same session
    (m.path / "a.bin").write_bytes(os.urandom(3_000_000))
    m.burn()
    s = figures(m)
    same_disc_figures(s, disc, m.env)
    info = media_info(disc, m.env)
    (first,) = info["sessions"]
    assert s["used_bytes"] == -(-(first["start"] + first["length"]) // 16) * 16 * SECTOR_SIZE
    # Exactly what df shows is accepted (a sparse file), one byte more is not.
    avail = df(m.path, "-B1")["Available"]
    big = m.path / "big.bin"
    run(["truncate", "-s", str(avail), str(big)])
    res = run(["truncate", "-s", str(avail + 1), str(big)], check=False)
    assert res.returncode != 0 and "No space left on device" in res.stderr
    assert big.stat().st_size == avail
    big.unlink()
    assert figures(m)["available_bytes"] == avail


def test_what_is_staged_during_a_burn_fits_the_session_after(mount: Any, make_disc: Any) -> None:
    """While a burn runs, df's available is what the session after it can
    take: on a CD that one costs another 6,900 sectors of gap.  A file of
    that size staged during the burn burns next."""
    disc = make_disc("cd-r80")
    m = mount(disc, "--no-burn-on-unmount")
    (m.path / "first.txt").write_bytes(b"first\n")
    m.burn()
    data = os.urandom(1_500_000)
    (m.path / "slow.bin").write_bytes(data)
    before = figures(m)
    ticket = m.request(cdfs, ["burn", "--speed", "4", str(m.path)], m.env)
    m.wait_for(lambda s: s["burn"]["phase"] == "recording")
    during = df(m.path, "-B1")["Available"]
    gap = 6_900 * SECTOR_SIZE
    assert during <= before["available_bytes"] - gap
    run(["truncate", "-s", str(during), str(m.path / "during.bin")])
    assert m.wait_for_burn(ticket)["ok"]
    s = figures(m)
    assert s["staged_need_bytes"] <= s["free_bytes"]
    m.burn()
    assert sorted(os.listdir(m.path)) == ["during.bin", "first.txt", "slow.bin"]
    start = media_info(disc, m.env)["sessions"][-1]["start"]
    assert isoinfo_sha256(disc, start, "slow.bin") == hashlib.sha256(data).hexdigest()


def test_media_info_of_a_disc_whose_files_cannot_be_read(
    tmp_path: Path, make_disc: Any, home: dict[str, str]
) -> None:
    """The table of contents and the figures are still shown, with a warning."""
    from cdfs.recorders.emulated import EmulatedRecorder
    from cdfs.units import Lba

    disc = make_disc("cd-r80")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01" * 40 * SECTOR_SIZE)
    EmulatedRecorder(disc).record(junk, Lba(0))
    res = cdfs(["media", "info", "--json", str(disc)], home)
    assert "cannot read the disc's files" in res.stderr
    info = json.loads(res.stdout)
    assert len(info["sessions"]) == 1 and 0 < info["free_bytes"] < info["capacity_bytes"]


def test_auto_close_counts_the_recorder_padding() -> None:
    """The close policy's 'what would remain' is the room of the session
    after, with the 150 sectors the recorder writes after the image."""
    from cdfs.burn.options import AUTO_CLOSE_FRACTION, ClosePolicy, should_close
    from cdfs.recorders.media import DiscInfo, DiscState
    from cdfs.units import Lba

    cd = media_type("cd-r80")
    blank = DiscInfo(cd, DiscState.BLANK)
    limit = int(AUTO_CLOSE_FRACTION * cd.capacity)  # 7,200 sectors
    # The session after starts past the padding, the run-out and the gap,
    # and costs padding and run-out itself.
    for remaining, closes in ((limit, True), (limit + 1, False)):
        image = cd.capacity - remaining - 2 * (RECORDER_PADDING + 2) - 11_400
        assert should_close(blank, Lba(0), image, ClosePolicy.AUTO, None) is closes
