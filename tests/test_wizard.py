"""The wizard (issue 15 item 3), end to end under Xvfb on a real session bus.

``cdfs wizard`` is driven with the keyboard through xdotool, as a user
would; each page is photographed with ImageMagick's ``import`` and the
picture checked (a window of its size, not blank), and the texts and
buttons of each page are read through the wizard's test hook
(``CDFS_WIZARD_STATE``).  The burn it starts runs on the emulated recorder,
and the disc is read back with xorriso and compared byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdfs.desktop.commands import wizard_missing

from conftest import run, xorriso_extract

TOOLS = ("Xvfb", "xdotool", "import", "convert", "identify", "dbus-run-session")


@pytest.fixture
def display() -> Iterator[str]:
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing or wizard_missing():
        pytest.skip(f"needs {missing or wizard_missing()} (make deps installs them)")
    rfd, wfd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(wfd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(wfd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(wfd)
    with os.fdopen(rfd) as r:
        number = r.readline().strip()
    assert number.isdigit(), "Xvfb did not start"
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


class Driver:
    """One wizard process and what it shows."""

    def __init__(
        self,
        tmp: Path,
        env: dict[str, str],
        mp: Path,
        display: str,
        argv: list[str] | None = None,
        title: str = "Write to disc",
    ) -> None:
        """The wizard of mount ``mp`` (``cdfs wizard``), or what ``argv``
        starts in the mount's folder (a file manager's action)."""
        self.title = title
        self.state = tmp / "wizard-state.json"
        self.state.unlink(missing_ok=True)
        self.shots = tmp / "shots"
        self.shots.mkdir(exist_ok=True)
        self.env = {
            **env,
            "DISPLAY": display,
            "GDK_BACKEND": "x11",
            "GSK_RENDERER": "cairo",
            "GTK_A11Y": "none",
            "NO_AT_BRIDGE": "1",
            "CDFS_WIZARD_STATE": str(self.state),
        }
        self.env.pop("WAYLAND_DISPLAY", None)
        self.log = (tmp / "wizard.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "dbus-run-session",
                "--",
                *(argv or [sys.executable, "-m", "cdfs", "wizard", str(mp)]),
            ],
            cwd=mp,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.window = ""

    def page(self, name: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                state: dict[str, Any] = json.loads(self.state.read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("page") == name:
                return state
            assert self.proc.poll() is None, f"the wizard exited: {self.logtext()}"
            assert time.monotonic() < deadline, f"no page {name}: {state} {self.logtext()}"
            time.sleep(0.05)

    def logtext(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def focus(self) -> None:
        """Give the window the keyboard, once it is mapped (no window
        manager here: xdotool sets the input focus itself)."""
        out = run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", f"^{self.title}$"],
            env=self.env,
            timeout=30,
        ).stdout.split()
        self.window = out[0]
        deadline = time.monotonic() + 30
        focus = ["xdotool", "windowfocus", "--sync", self.window]
        while run(focus, env=self.env, check=False, timeout=30).returncode:
            assert time.monotonic() < deadline, "the window never took the focus"
            time.sleep(0.1)

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *_: object) -> None:
        """The wizard is killed if a test ends with it still open."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def ends_with(self, outcome: str, shot: str, code: int = 0) -> dict[str, Any]:
        """The result page says ``outcome``; closed with Enter, the wizard
        exits with ``code``."""
        result = self.page("result", timeout=120)
        assert result["texts"][1] == outcome, result
        assert result["buttons"] == ["Close"]
        self.shot(shot)
        self.keys("Return")
        assert self.proc.wait(timeout=30) == code
        return result

    def keys(self, *keys: str) -> None:
        run(["xdotool", "key", "--clearmodifiers", "--delay", "60", *keys], env=self.env)

    def type(self, text: str) -> None:
        run(["xdotool", "type", "--delay", "30", text], env=self.env)

    def write_with_what_is_offered(self) -> None:
        """Through the pages with Return, taking the name, files and options
        the wizard offers, then Write."""
        self.page("name")
        self.focus()
        self.keys("Return")
        self.page("files")
        self.keys("Return")
        self.page("options")
        self.keys("alt+w")

    def shot(self, name: str) -> Path:
        """A picture of the window, checked: its size, and not one flat colour."""
        path = self.shots / f"{name}.png"
        deadline = time.monotonic() + 15  # a window just mapped may not be drawn yet
        while True:
            run(["import", "-window", self.window, str(path)], env=self.env)
            colours = int(run(["convert", str(path), "-format", "%k", "info:"]).stdout)
            if colours > 20 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        w, h = map(int, run(["identify", "-format", "%w %h", str(path)]).stdout.split())
        assert w >= 300 and h >= 200, (w, h)
        assert colours > 20, f"{path}: {colours} colours, the window looks blank"
        return path


def sample(root: Path) -> Path:
    root.mkdir()
    (root / "holiday").mkdir()
    (root / "holiday" / "beach.jpg").write_bytes(os.urandom(2_500_000))
    (root / "letter.txt").write_bytes(b"Dear all,\n" * 500)
    return root


def test_the_wizard_writes_the_files_end_to_end(tmp_path: Path, mount: Any, display: str) -> None:
    m = mount()
    src = sample(tmp_path / "src")
    for entry in src.iterdir():
        run(["cp", "-a", str(entry), str(m.path)])
    s = m.status()
    with Driver(tmp_path, m.env, m.path, display) as w:
        first = w.page("name")
        w.focus()
        assert "Name the disc" in first["texts"]
        assert re.fullmatch(r"[A-Z][a-z]{2} \d{2} \d{4}", first["entry"]), first["entry"]
        assert first["buttons"] == ["Cancel", "Next"]
        w.shot("1-name")
        w.keys("ctrl+a")
        w.type("Holiday 2026")
        w.keys("Return")

        files = w.page("files")
        assert files["entry"] == "Holiday 2026"
        text = " ".join(files["texts"])
        assert "2 files" in text and "holiday" in text and "letter.txt" in text
        assert f"{s['available_bytes'] / 1e6:.1f} MB" in text  # the space left
        w.shot("2-files")
        w.keys("Return")

        options = w.page("options")
        assert options["buttons"] == ["Cancel", "Back", "Write"]
        # The options start from the settings (defaults here).
        assert options["options"] == {
            "close": False,
            "eject": False,
            "verify": "full",
            "speed": "max",
        }
        # The speed list, by keyboard: back from Write past Back and Cancel.
        w.keys("shift+Tab", "shift+Tab", "shift+Tab", "space")
        time.sleep(0.5)  # the list pops up
        w.keys("Down", "Down", "Down", "Return")
        deadline = time.monotonic() + 20
        while json.loads(w.state.read_text())["options"]["speed"] != "4":
            assert time.monotonic() < deadline, w.state.read_text()
            time.sleep(0.05)
        w.shot("3-options")
        w.keys("alt+w")

        progress = w.page("progress")
        assert progress["buttons"] == [], "no Cancel once the burn has started"
        w.shot("4-progress")

        w.ends_with("The files were written to the disc.", "5-result")

    last = m.status()["last_burn"]
    assert last["ok"] and m.status()["staged_files"] == 0
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    assert sorted(os.listdir(out)) == ["holiday", "letter.txt"]
    assert (out / "holiday" / "beach.jpg").read_bytes() == (
        src / "holiday" / "beach.jpg"
    ).read_bytes()
    assert (out / "letter.txt").read_bytes() == (src / "letter.txt").read_bytes()
    pvd = run(["xorriso", "-indev", f"stdio:{m.disc}", "-pvd_info"]).stdout
    assert "HOLIDAY_2026" in pvd, pvd


def test_escape_cancels_before_anything_is_written(
    tmp_path: Path, home: dict[str, str], mount: Any, display: str
) -> None:
    # 6x is not in the wizard's list of speeds: it is added to it.
    for key, value in (("verify", "quick"), ("eject", "yes"), ("speed", "6")):
        run([sys.executable, "-m", "cdfs", "config", "set", key, value], env=home)
    m = mount()
    (m.path / "letter.txt").write_bytes(b"Dear all,\n")
    before = m.status()["requests"]
    with Driver(tmp_path, m.env, m.path, display) as w:
        w.page("name")
        w.focus()
        w.keys("Return")
        w.page("files")
        w.keys("Return")
        options = w.page("options")
        expected = {"close": False, "eject": True, "verify": "quick", "speed": "6"}
        assert options["options"] == expected, "the options start from the settings"
        assert "Cancel" in options["buttons"]
        w.keys("Escape")
        assert w.proc.wait(timeout=30) == 0
    assert m.status()["requests"] == before
    assert m.status()["staged_files"] == 1


def test_a_failed_burn_says_so_in_plain_words(
    tmp_path: Path, home: dict[str, str], mount: Any, display: str
) -> None:
    home["CDFS_EMULATED_FAULTS"] = json.dumps({"fail_after_bytes": 4096})
    m = mount()
    (m.path / "letter.txt").write_bytes(os.urandom(100_000))
    with Driver(tmp_path, m.env, m.path, display) as w:
        w.write_with_what_is_offered()
        result = w.ends_with("The disc was not written.", "failed", code=1)
        assert "still waiting to be written" in result["texts"][2]
    assert m.status()["staged_files"] == 1


def test_write_these_files_to_disc_opens_the_wizard(
    tmp_path: Path, mount: Any, display: str
) -> None:
    """The file manager's action, where there is a display, is the wizard."""
    m = mount()
    (m.path / "letter.txt").write_bytes(b"Dear all,\n")
    env = {**m.env, "HOME": str(tmp_path)}
    run([sys.executable, "-m", "cdfs", "desktop", "install", "--for", "nautilus"], env=env)
    script = Path(env["XDG_DATA_HOME"]) / "nautilus" / "scripts" / "Write these files to disc"
    with Driver(tmp_path, env, m.path, display, argv=[str(script), "letter.txt"]) as w:
        w.write_with_what_is_offered()
        w.ends_with("The files were written to the disc.", "from-nautilus")
    out = tmp_path / "out"
    xorriso_extract(m.disc, out)
    assert (out / "letter.txt").read_bytes() == b"Dear all,\n"


def erase_window(tmp: Path, m: Any, display: str) -> Driver:
    """Caja's "Erase disc" script, run as Caja runs it: in the folder shown
    (the mount), nothing selected, with the display."""
    env = {**m.env, "HOME": str(tmp)}
    run([sys.executable, "-m", "cdfs", "desktop", "install", "--for", "caja"], env=env)
    script = Path(env["XDG_CONFIG_HOME"]) / "caja" / "scripts" / "Erase disc"
    return Driver(tmp, env, m.path, display, argv=[str(script)], title="Erase disc")


def media_state(m: Any) -> str:
    out = run([sys.executable, "-m", "cdfs", "media", "info", "--json", str(m.disc)], env=m.env)
    return str(json.loads(out.stdout)["state"])


def test_erase_disc_asks_first_and_only_erase_erases(
    tmp_path: Path, mount: Any, make_disc: Any, display: str
) -> None:
    m = mount(make_disc("cd-rw80", "rw.iso"))
    (m.path / "old.txt").write_bytes(os.urandom(300_000))
    m.burn()
    (m.path / "waiting.txt").write_bytes(b"still waiting\n")
    before = m.status()["requests"]

    # Enter on the question keeps the disc: Cancel is the default button.
    with erase_window(tmp_path, m, display) as w:
        ask = w.page("erase")
        w.focus()
        text = " ".join(ask["texts"])
        assert "Erase this disc?" in text and "CD-RW" in text, text
        assert "everything on this CD-RW 80 min (700 MB) (1 session) for good" in text, text
        assert "Files waiting to be written are not touched" in text, text
        assert ask["buttons"] == ["Cancel", "Erase"] and ask["default"] == "Cancel", ask
        w.shot("erase-ask")
        w.keys("Return")
        assert w.proc.wait(timeout=30) == 0
    assert m.status()["requests"] == before, "nothing was requested"
    assert media_state(m) == "appendable"

    # Erase (Alt+E) erases, with progress, then says so.
    with erase_window(tmp_path, m, display) as w:
        w.page("erase")
        w.focus()
        w.keys("alt+e")
        w.ends_with("The disc was erased.", "erase-done")
    assert media_state(m) == "blank"
    assert m.status()["staged_files"] == 1
    assert (m.path / "waiting.txt").read_bytes() == b"still waiting\n"
    assert not (m.path / "old.txt").exists()


def test_erase_disc_on_a_write_once_disc_says_why_and_offers_no_erase(
    tmp_path: Path, mount: Any, display: str
) -> None:
    m = mount()  # a CD-R
    (m.path / "kept.txt").write_bytes(b"kept\n")
    m.burn()
    with erase_window(tmp_path, m, display) as w:
        ask = w.page("erase")
        w.focus()
        assert "cannot be erased" in " ".join(ask["texts"]), ask
        assert ask["buttons"] == ["Cancel"], ask
        w.shot("erase-write-once")
        w.keys("alt+e", "Escape")
        assert w.proc.wait(timeout=30) == 0
    assert media_state(m) == "appendable"
