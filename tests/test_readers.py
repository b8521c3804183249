"""The README's commands for reading the latest session of an emulated disc
with other programs (issue 11, item 10): run as written, they give that
session's files byte for byte."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from conftest import cdfs, run

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[str]:
    """The lines of the README's code block about sessions, comments left out."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if "sbsector" in b]
    lines = [line.split(" # ")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def tree(root: Path) -> dict[str, bytes | str]:
    """Regular files (their bytes) and symlinks (their targets) under root."""
    out: dict[str, bytes | str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            out[rel] = os.readlink(path) if path.is_symlink() else path.read_bytes()
    return out


def test_readme_commands_read_the_latest_session(
    tmp_path: Path, mount: Any, make_disc: Any, home: dict[str, str]
) -> None:
    disc = make_disc("cd-rw80")
    m = mount(disc, "--no-burn-on-unmount")
    mp = m.path
    (mp / "a.txt").write_text("first a\n")
    (mp / "old.txt").write_text("only in session 1\n")
    (mp / "dir").mkdir()
    (mp / "dir" / "b.txt").write_text("b, from session 1\n")
    os.symlink("a.txt", mp / "link")
    m.burn()
    (mp / "old.txt").unlink()
    (mp / "a.txt").write_text("second a, replaced in session 2\n")
    (mp / "c.txt").write_text("new in session 2\n")
    (mp / "dir" / "new.bin").write_bytes(os.urandom(300_000))
    m.burn()
    latest = tree(mp)
    m.kill()
    assert set(latest) == {"a.txt", "c.txt", "dir/b.txt", "dir/new.bin", "link"}
    files = {path: data for path, data in latest.items() if isinstance(data, bytes)}
    sessions = json.loads(cdfs(["media", "info", "--json", str(disc)], home).stdout)["sessions"]
    assert len(sessions) == 2
    start = str(sessions[-1]["start"])
    # What plain readers show: session 1.
    assert "old.txt" in run(["bsdtar", "-tf", str(disc)]).stdout

    counter = iter(range(100))
    results: dict[str, Path] = {}
    for line in readme_commands():
        words = [start if w == "N" else w for w in shlex.split(line.replace("DISC", str(disc)))]
        words = [w.replace("LATEST.iso", str(tmp_path / "latest.iso")) for w in words]
        if any("DIR" in w for w in words):  # "-extract / DIR", "-C DIR", "-oDIR"
            out = tmp_path / f"{words[0]}-{next(counter)}"
            out.mkdir()
            words = [str(out) if w == "DIR" else w.replace("DIR", str(out)) for w in words]
            results[words[0]] = out
        if "/PATH" in words:  # isoinfo -x /PATH > FILE: every file of the session
            out = tmp_path / "isoinfo-x"
            for path in files:
                cmd = [str(out / path) if w == "FILE" else w for w in words]
                cmd = ["/" + path if w == "/PATH" else w for w in cmd]
                (out / path).parent.mkdir(parents=True, exist_ok=True)
                run(["bash", "-c", shlex.join(cmd[:-2]) + " > " + shlex.quote(cmd[-1])])
            assert tree(out) == files
            continue
        res = run(words)
        if words[0] == "isoinfo":  # the listing: Rock Ridge names of the session
            listed = set(res.stdout.split())
            assert listed == {"/" + p for p in latest} | {"/dir"}, res.stdout
    assert set(results) == {"xorriso", "bsdtar", "7z"}
    assert tree(results["xorriso"]) == latest
    assert tree(results["bsdtar"]) == latest
    # 7z reads the Joliet tree: the same files, and no symbolic links.
    assert tree(results["7z"]) == files
