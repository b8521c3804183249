"""Context-menu actions of the file managers, installed per user.

Four actions, each running a ``cdfs desktop`` command (:mod:`cdfs.desktop.commands`):

- "Write to disc" (``send``): stage the selected files and folders into the
  cdfs mount, as XP's "Send To > CD Drive" did;
- "Write these files to disc" (``write``): burn what the mount has staged;
- "Erase disc" (``erase``): erase the rewritable disc of the mount, after
  asking in a window;
- "Burn image to disc" (``burn-image``): record the selected ``.iso`` file.

Written in each file manager's documented format: Nautilus scripts
(``$XDG_DATA_HOME/nautilus/scripts``, executable, selection as arguments
with the folder as working directory), Caja scripts (``$XDG_CONFIG_HOME/caja/scripts``,
the same convention), Nemo actions (``$XDG_DATA_HOME/nemo/actions/*.nemo_action``,
a GKeyFile with a ``[Nemo Action]`` group), Thunar custom actions
(``$XDG_CONFIG_HOME/Thunar/uca.xml``: cdfs's ``<action>`` elements, told apart
by their ``unique-id``, merged into the user's own), and Dolphin service
menus (``$XDG_DATA_HOME/kio/servicemenus/*.desktop``, executable, as KIO
requires).  Every file cdfs writes carries :data:`MARK`; uninstalling removes
exactly the files that still carry it, cdfs's Thunar actions, and the folders
install created that are left empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cdfs import paths

MARK = "cdfs desktop action"
"""In every file cdfs installs (a comment), so uninstall never removes a
user's file of the same name."""

ICON = "media-optical"
ISO_MIME = "application/x-cd-image"
"""The shared-mime-info type of ``.iso`` files."""
THUNAR_ID = "cdfs-"
"""Prefix of the ``unique-id`` of cdfs's Thunar actions."""
MANIFEST = "desktop-installed.json"
FILE_MANAGERS = ("nautilus", "caja", "nemo", "thunar", "dolphin")


@dataclass(frozen=True)
class Action:
    key: str
    """The ``cdfs desktop`` command it runs, and the tail of its file names."""
    name: str
    comment: str
    image_only: bool = False
    """Offered on ``.iso`` files only (the others on any file or folder)."""


ACTIONS = (
    Action("send", "Write to disc", "Copy the selection to the disc drive, to be written later"),
    Action("write", "Write these files to disc", "Burn the files waiting for the disc"),
    Action(
        "erase",
        "Erase disc",
        "Erase the rewritable disc in the drive, after asking (staged files are kept)",
    ),
    Action("burn-image", "Burn image to disc", "Record this disc image", image_only=True),
)


def cdfs_program() -> list[str]:
    """The command that runs this cdfs: its ``cdfs`` script beside the
    interpreter (the venv's), else the interpreter with ``-m cdfs``."""
    script = Path(sys.executable).with_name("cdfs")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "cdfs"]


def exec_quote(arg: str) -> str:
    """One argument of a desktop entry ``Exec`` value (Desktop Entry spec,
    "The Exec key"): quoted when it has a reserved character."""
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`="):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def exec_line(action: Action, field_code: str) -> str:
    words = [*cdfs_program(), "desktop", action.key]
    return " ".join(exec_quote(w) for w in words) + f" {field_code}"


# -- the files of each file manager ------------------------------------------


def script(action: Action) -> str:
    """A Nautilus or Caja script: the selection comes as arguments."""
    words = " ".join(shlex.quote(w) for w in [*cdfs_program(), "desktop", action.key])
    return f'#!/bin/sh\n# {MARK}: {action.name}\nexec {words} -- "$@"\n'


def nemo_action(action: Action) -> str:
    selection = "s" if action.image_only else "any"
    extensions = "iso;" if action.image_only else "any;"
    return (
        f"# {MARK}\n"
        "[Nemo Action]\n"
        "Active=true\n"
        f"Name={action.name}\n"
        f"Comment={action.comment}\n"
        f"Exec={exec_line(action, '%F')}\n"
        f"Icon-Name={ICON}\n"
        f"Selection={selection}\n"
        f"Extensions={extensions}\n"
        "Quote=double\n"
        "EscapeSpaces=false\n"
    )


def dolphin_menu(actions: tuple[Action, ...], mime: str) -> str:
    ids = [f"cdfs{a.key.replace('-', '').title()}" for a in actions]
    lines = [
        f"# {MARK}",
        "[Desktop Entry]",
        "Type=Service",
        "Name=cdfs",
        f"MimeType={mime}",
        "Actions=" + "".join(f"{i};" for i in ids),
        "X-KDE-ServiceTypes=KonqPopupMenu/Plugin",
        "X-KDE-Submenu=Disc",
    ]
    for ident, action in zip(ids, actions, strict=True):
        lines += [
            "",
            f"[Desktop Action {ident}]",
            f"Name={action.name}",
            f"Icon={ICON}",
            f"Exec={exec_line(action, '%F')}",
        ]
    return "\n".join(lines) + "\n"


def thunar_actions() -> list[ET.Element]:
    out = []
    for action in ACTIONS:
        el = ET.Element("action")
        for tag, text in (
            ("icon", ICON),
            ("name", action.name),
            ("submenu", ""),
            ("unique-id", THUNAR_ID + action.key),
            ("command", exec_line(action, "%F")),
            ("description", action.comment),
            ("range", "1-1" if action.image_only else "*"),
            ("patterns", "*.iso;*.ISO" if action.image_only else "*"),
        ):
            ET.SubElement(el, tag).text = text
        kinds = ["other-files"] if action.image_only else [
            "directories", "audio-files", "image-files", "other-files", "text-files", "video-files"
        ]  # fmt: skip
        for kind in kinds:
            ET.SubElement(el, kind)
        out.append(el)
    return out


# -- where they go -----------------------------------------------------------


def config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def planned_files(managers: tuple[str, ...]) -> Iterator[tuple[Path, str, int]]:
    """(path, text, mode) of every file cdfs installs, Thunar's aside."""
    for action in ACTIONS:
        name = action.name
        if "nautilus" in managers:
            yield data_home() / "nautilus" / "scripts" / name, script(action), 0o755
        if "caja" in managers:
            yield config_home() / "caja" / "scripts" / name, script(action), 0o755
        if "nemo" in managers:
            path = data_home() / "nemo" / "actions" / f"cdfs-{action.key}.nemo_action"
            yield path, nemo_action(action), 0o644
    if "dolphin" in managers:
        menus = data_home() / "kio" / "servicemenus"
        files = tuple(a for a in ACTIONS if not a.image_only)
        images = tuple(a for a in ACTIONS if a.image_only)
        yield (
            menus / "cdfs.desktop",
            dolphin_menu(files, "application/octet-stream;inode/directory;"),
            0o755,
        )
        yield menus / "cdfs-image.desktop", dolphin_menu(images, f"{ISO_MIME};"), 0o755


def uca_path() -> Path:
    return config_home() / "Thunar" / "uca.xml"


def manifest_path() -> Path:
    return paths.data_dir() / MANIFEST


# -- install and uninstall ---------------------------------------------------


def carries_mark(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return MARK.encode() in f.read(4096)
    except OSError:
        return False


def write_atomic(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def make_dirs(path: Path, created: list[str]) -> None:
    missing = []
    for parent in [path, *path.parents]:
        if parent.exists():
            break
        missing.append(parent)
    for d in reversed(missing):
        d.mkdir(mode=0o755)
        created.append(str(d))


def install(managers: tuple[str, ...] = FILE_MANAGERS) -> list[Path]:
    """Install the actions; returns the files written.  A file of the same
    name that cdfs did not write is left alone (and said)."""
    record = load_manifest()
    created: list[str] = record.get("dirs", [])
    written: list[Path] = []
    for path, text, mode in planned_files(managers):
        if path.exists() and not carries_mark(path):
            print(f"cdfs: left alone {path}: not written by cdfs", file=sys.stderr)
            continue
        make_dirs(path.parent, created)
        write_atomic(path, text, mode)
        written.append(path)
    if "thunar" in managers:
        make_dirs(uca_path().parent, created)
        if not uca_path().exists():
            record["files"] = [str(uca_path())]
        merge_thunar(add=True)
        written.append(uca_path())
    make_dirs(paths.data_dir(), created)
    record["dirs"] = created
    write_atomic(manifest_path(), json.dumps(record), 0o600)
    return written


def uninstall() -> list[Path]:
    """Remove what :func:`install` added: its files (those still carrying
    :data:`MARK`), its Thunar actions, and the folders it created, when empty."""
    removed = []
    for path, _text, _mode in planned_files(FILE_MANAGERS):
        if path.is_file() and carries_mark(path):
            path.unlink()
            removed.append(path)
    record = load_manifest()
    if uca_path().is_file() and merge_thunar(add=False):
        removed.append(uca_path())
        if str(uca_path()) in record.get("files", []) and not len(ET.parse(uca_path()).getroot()):
            uca_path().unlink()  # install made it, and nothing else is in it
    manifest_path().unlink(missing_ok=True)
    for d in sorted(record.get("dirs", []), key=len, reverse=True):
        with contextlib.suppress(OSError):  # not empty (the user's files), or gone
            Path(d).rmdir()
    return removed


def load_manifest() -> dict[str, list[str]]:
    try:
        data = json.loads(manifest_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def merge_thunar(*, add: bool) -> bool:
    """Rewrite uca.xml with cdfs's actions added (replacing older ones) or
    removed, keeping the user's actions and comments; returns whether
    anything of cdfs's was there or added.  A uca.xml that does not parse is
    not touched (it is the user's)."""
    path = uca_path()
    if path.exists():
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
        try:
            root = ET.parse(path, parser).getroot()
        except ET.ParseError as exc:
            print(f"cdfs: left alone {path}: it does not parse ({exc})", file=sys.stderr)
            return False
    else:
        root = ET.Element("actions")
    ours = [
        el
        for el in root.findall("action")
        if (el.findtext("unique-id") or "").startswith(THUNAR_ID)
    ]
    for el in ours:
        root.remove(el)
    if add:
        root.extend(thunar_actions())
    if not add and not ours:
        return False
    ET.indent(root, space="\t")
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    write_atomic(path, text + "\n", 0o644)
    return True
