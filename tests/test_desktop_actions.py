"""The file managers' actions (issue 15 item 2): ``cdfs desktop install``.

The installed files are checked with each format's own tools
(desktop-file-validate for Dolphin's service menus, xmllint for Thunar's
uca.xml, GLib's key-file parser, which Nemo uses, for ``.nemo_action`` files,
``sh -n`` for the Nautilus and Caja scripts); then the commands they name are
run as each file manager runs them (its substitution of the selection), against
real mounts, and the discs are read back with xorriso and compared byte for
byte.  Uninstalling removes exactly what install added.
"""

from __future__ import annotations

import configparser
import filecmp
import json
import os
import shlex
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conftest import cdfs, run, xorriso_extract

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture
def user(tmp_path: Path, home: dict[str, str]) -> dict[str, str]:
    """The environment of a desktop user whose home is under tmp_path."""
    h = tmp_path / "home"
    h.mkdir(exist_ok=True)
    env = {**home, "HOME": str(h)}
    # No display: "Write these files to disc" burns without the wizard.
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def data(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"])


def config(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"])


def installed(env: dict[str, str]) -> dict[str, Path]:
    return {
        "nautilus": data(env) / "nautilus" / "scripts",
        "caja": config(env) / "caja" / "scripts",
        "nemo": data(env) / "nemo" / "actions",
        "dolphin": data(env) / "kio" / "servicemenus",
        "thunar": config(env) / "Thunar" / "uca.xml",
    }


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for a folder)."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = None if p.is_dir() else p.read_bytes()
    return out


def canonical_uca(path: Path) -> str:
    return ET.canonicalize(from_file=str(path), strip_text=True)


# -- the files parse with each file manager's rules ---------------------------


def test_installed_files_follow_each_format(user: dict[str, str]) -> None:
    cdfs(["desktop", "install"], user)
    where = installed(user)

    menus = sorted(where["dolphin"].glob("*.desktop"))
    assert [m.name for m in menus] == ["cdfs-image.desktop", "cdfs.desktop"]
    for menu in menus:
        assert menu.stat().st_mode & stat.S_IXUSR, "KIO ignores service menus not executable"
        res = run(["desktop-file-validate", str(menu)], check=False)
        # desktop-file-validate knows the types Application, Link and
        # Directory; KIO's service menus are Type=Service (as KDE documents
        # them), for which it names MimeType and Actions.  Nothing else.
        complaints = [
            line
            for line in res.stdout.splitlines()
            if not (
                ('key "MimeType" is present' in line or 'key "Actions" is present' in line)
                and 'the type is "Service"' in line
            )
        ]
        assert complaints == [], res.stdout
        entry = configparser.ConfigParser(interpolation=None)
        entry.optionxform = str  # type: ignore[assignment,method-assign]
        entry.read(menu)
        actions = [a for a in entry["Desktop Entry"]["Actions"].split(";") if a]
        assert actions and all(f"Desktop Action {a}" in entry for a in actions)

    uca = where["thunar"]
    run(["xmllint", "--noout", str(uca)])
    root = ET.parse(uca).getroot()
    ids = sorted(a.findtext("unique-id") or "" for a in root.findall("action"))
    assert ids == ["cdfs-burn-image", "cdfs-erase", "cdfs-send", "cdfs-write"]
    for action in root.findall("action"):
        assert action.findtext("name") and "%F" in (action.findtext("command") or "")
        assert action.findtext("patterns")

    nemo = sorted(where["nemo"].glob("*.nemo_action"))
    assert len(nemo) == 4
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip("python3-gi is needed to read key files as GLib does")
    check = (
        "import sys\nfrom gi.repository import GLib\n"
        "for name in sys.argv[1:]:\n"
        "    k = GLib.KeyFile()\n"
        "    k.load_from_file(name, GLib.KeyFileFlags.NONE)\n"
        "    for key in ('Name', 'Exec', 'Selection', 'Extensions'):\n"
        "        assert k.get_string('Nemo Action', key), (name, key)\n"
        "    print(k.get_string('Nemo Action', 'Exec'))\n"
    )
    out = run([SYSTEM_PYTHON, "-c", check, *map(str, nemo)]).stdout
    assert out.count("desktop") == 4

    for manager in ("nautilus", "caja"):
        scripts = sorted(where[manager].iterdir())
        assert [s.name for s in scripts] == [
            "Burn image to disc",
            "Erase disc",
            "Write these files to disc",
            "Write to disc",
        ]
        for s in scripts:
            assert os.access(s, os.X_OK)
            run(["sh", "-n", str(s)])


def test_uninstall_removes_exactly_what_install_added(user: dict[str, str]) -> None:
    where = installed(user)
    # The user's own Thunar action (with a comment) and a script of their
    # own under one of cdfs's names.
    where["thunar"].parent.mkdir(parents=True)
    where["thunar"].write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<actions>\n<!-- mine -->\n<action>\n'
        "<icon>utilities-terminal</icon><name>Open Terminal Here</name>"
        "<unique-id>1234-1</unique-id><command>exo-open --launch TerminalEmulator</command>"
        "<description></description><patterns>*</patterns><startup-notify/>"
        "<directories/></action>\n</actions>\n"
    )
    where["nautilus"].mkdir(parents=True)
    (where["nautilus"] / "Write to disc").write_text("#!/bin/sh\necho my own\n")
    before = tree(Path(user["HOME"]).parent)
    uca_before = canonical_uca(where["thunar"])

    res = cdfs(["desktop", "install"], user)
    assert "left alone" in res.stderr and "Write to disc" in res.stderr
    assert (where["nautilus"] / "Write to disc").read_text() == "#!/bin/sh\necho my own\n"
    root = ET.parse(where["thunar"]).getroot()
    names = [a.findtext("name") for a in root.findall("action")]
    assert names[0] == "Open Terminal Here" and "Write to disc" in names
    cdfs(["desktop", "install"], user)  # again: replaces, does not add twice
    root = ET.parse(where["thunar"]).getroot()
    assert [a.findtext("name") for a in root.findall("action")].count("Write to disc") == 1

    cdfs(["desktop", "uninstall"], user)
    assert canonical_uca(where["thunar"]) == uca_before
    after = tree(Path(user["HOME"]).parent)
    after[str(where["thunar"].relative_to(Path(user["HOME"]).parent))] = before[
        str(where["thunar"].relative_to(Path(user["HOME"]).parent))
    ]
    assert after == before


def test_uninstall_after_install_in_an_empty_home_leaves_it_empty(
    user: dict[str, str],
) -> None:
    top = Path(user["HOME"]).parent
    before = tree(top)
    cdfs(["desktop", "install"], user)
    assert tree(top) != before
    cdfs(["desktop", "uninstall"], user)
    assert tree(top) == before


# -- the commands the files name run, and the disc reads back ---------------------


def desktop_exec(menu: Path, action: str, files: list[Path]) -> list[str]:
    """Dolphin's expansion of an action's Exec: %F is one argument per file."""
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(menu)
    words = shlex.split(entry[f"Desktop Action {action}"]["Exec"])
    i = words.index("%F")
    return [*words[:i], *map(str, files), *words[i + 1 :]]


def nemo_exec(path: Path, files: list[Path]) -> list[str]:
    """Nemo's: %F becomes the paths, each in double quotes (Quote=double),
    and the line is split as a shell would."""
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(path)
    line = entry["Nemo Action"]["Exec"]
    return shlex.split(line.replace("%F", " ".join(f'"{f}"' for f in files)))


def thunar_exec(uca: Path, unique_id: str, files: list[Path]) -> list[str]:
    """Thunar's: %F becomes the shell-quoted paths."""
    for action in ET.parse(uca).getroot().findall("action"):
        if action.findtext("unique-id") == unique_id:
            line = action.findtext("command") or ""
            return shlex.split(line.replace("%F", " ".join(shlex.quote(str(f)) for f in files)))
    raise AssertionError(f"no Thunar action {unique_id}")


def act(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{cmd}: {res.returncode}\n{res.stdout}\n{res.stderr}"


def same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not (cmp.left_only or cmp.right_only or cmp.funny_files), cmp.report()
    _match, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    for sub in cmp.common_dirs:
        same_tree(a / sub, b / sub)


def sample(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "notes.txt").write_bytes(b"notes\n" * 1000)
    (root / "My Photos").mkdir()
    (root / "My Photos" / "a b.jpg").write_bytes(os.urandom(300_000))
    (root / "song.ogg").write_bytes(os.urandom(70_000))
    return root


def test_send_then_write_from_each_file_manager_burns_the_selection(
    tmp_path: Path, user: dict[str, str], mount: Any
) -> None:
    m = mount()
    cdfs(["desktop", "install"], user)
    where = installed(user)
    src = sample(tmp_path / "src")

    # Nautilus runs a script in the folder shown, the selection as names.
    act([str(where["nautilus"] / "Write to disc"), "notes.txt"], user, cwd=src)
    # Thunar: a folder whose name has a space; Nemo: a file.
    act(thunar_exec(where["thunar"], "cdfs-send", [src / "My Photos"]), user)
    act(nemo_exec(where["nemo"] / "cdfs-send.nemo_action", [src / "song.ogg"]), user)
    assert sorted(os.listdir(m.path)) == ["My Photos", "notes.txt", "song.ogg"]
    assert m.status()["burn"]["phase"] in ("idle", "done")  # staged, nothing burned

    # "Write these files to disc" from Dolphin, on a file of the mount.
    act(desktop_exec(where["dolphin"] / "cdfs.desktop", "cdfsWrite", [m.path / "notes.txt"]), user)
    assert m.status()["staged_files"] == 0
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    same_tree(src, out)


def test_send_takes_file_uris(tmp_path: Path, user: dict[str, str], mount: Any) -> None:
    """Nautilus passes URIs from views that are not one folder (search)."""
    m = mount()
    src = sample(tmp_path / "src dir")
    uri = (src / "My Photos").as_uri()
    assert "%20" in uri
    cdfs(["desktop", "send", uri], user)
    same_tree(src / "My Photos", m.path / "My Photos")


def test_send_refuses_a_name_already_on_the_disc(
    tmp_path: Path, user: dict[str, str], mount: Any
) -> None:
    m = mount()
    src = sample(tmp_path / "src")
    (m.path / "notes.txt").write_bytes(b"other\n")
    res = cdfs(
        ["desktop", "send", str(src / "song.ogg"), str(src / "notes.txt")], user, check=False
    )
    assert res.returncode == 2 and "notes.txt" in res.stderr
    assert (m.path / "notes.txt").read_bytes() == b"other\n"
    assert not (m.path / "song.ogg").exists(), "nothing is copied when one name is taken"


def test_erase_from_caja_without_a_window_to_ask_in_erases_nothing(
    tmp_path: Path, user: dict[str, str], mount: Any, make_disc: Any
) -> None:
    """Erase disc always asks first (tests/test_wizard.py drives the
    window); with no display there is nowhere to ask, so it refuses.
    (It used to erase at once, with no question: this test failed then.)"""
    m = mount(make_disc("cd-rw80", "rw.iso"))
    (m.path / "old.txt").write_bytes(b"old\n")
    m.burn()
    cdfs(["desktop", "install", "--for", "caja"], user)
    # Caja runs the script in the folder shown (the mount), nothing selected.
    res = subprocess.run(
        [str(installed(user)["caja"] / "Erase disc")],
        env=user,
        cwd=m.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res
    assert "nothing was erased" in res.stderr and f"cdfs erase {m.path}" in res.stderr
    info = json.loads(cdfs(["media", "info", "--json", str(m.disc)], user).stdout)
    assert info["state"] == "appendable"
    assert (m.path / "old.txt").read_bytes() == b"old\n"


def test_burn_image_from_dolphin_records_the_iso(tmp_path: Path, user: dict[str, str]) -> None:
    if not shutil.which("xorriso"):
        pytest.skip("xorriso is needed")
    src = sample(tmp_path / "src")
    iso = tmp_path / "My Image.iso"
    run(["xorriso", "-as", "mkisofs", "-R", "-J", "-V", "IMG", "-o", str(iso), str(src)])
    disc = tmp_path / "blank.iso"
    cdfs(["media", "create", str(disc), "--type", "cd-r80"], user)
    env = {**user, "CDFS_DRIVE": str(disc)}
    cdfs(["desktop", "install", "--for", "dolphin"], user)
    menu = installed(user)["dolphin"] / "cdfs-image.desktop"
    act(desktop_exec(menu, "cdfsBurnimage", [iso]), env)
    with disc.open("rb") as d:
        assert d.read(iso.stat().st_size) == iso.read_bytes()
    out = tmp_path / "out"
    xorriso_extract(disc, out)
    same_tree(src, out)
