"""The wizard: "Write these files to disc" in a small GTK 4 window.

Pages, as Windows XP's CD Writing Wizard had them: the disc's name (default:
today's date), what will be written and the space left, the options (close
the disc, verify, eject, speed), the progress (phase, percent, speed, time
left, from the daemon's status) and the result in plain words.  It talks to
the mount only through its public interface: the status xattr, the root's
``user.cdfs.state`` of each entry, and a ``.burn`` request.

Runs under Debian's ``/usr/bin/python3`` (python3-gi and gir1.2-gtk-4.0),
with the checkout on ``sys.path`` (``cdfs wizard`` starts it so), because
PyGObject is a compiled part of the system: the venv's interpreter (which
may not be Debian's) cannot load it.  So this module imports nothing but the
standard library and ``gi``.

Keyboard: every page has a default button (Enter), buttons have mnemonics
(Alt+N, Alt+B, Alt+W), Escape cancels before recording starts; once the
burn is requested nothing can cancel it, and no Cancel button is shown.

``mode=erase`` makes it the "Erase disc" window instead: one page that says
what will be lost and asks (Cancel is the default button, so Enter and
Escape both keep the disc; only Erase, Alt+E, erases), then the same
progress and result pages.  A disc that cannot be erased (write-once, no
disc) gets the reason and a Close button, never an Erase button.

For tests, ``CDFS_WIZARD_STATE=FILE`` makes it write, at each change, the
page shown, its texts and its buttons as JSON (replaced atomically).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gtk", "4.0")
gi.require_version("Gdk", "4.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402

STATUS_XATTR = "user.cdfs.status"
STATE_XATTR = "user.cdfs.state"
ERASE_XATTR = "user.cdfs.erase"
AT_REST = ("idle", "done", "failed")
SPEEDS = ["max", "1", "2", "4", "8", "16", "24", "48"]
VERIFY = ["quick", "full", "none"]
VERIFY_WORDS = ["Quick check (read the disc back)", "Full check (compare every byte)", "No check"]
POLL_MS = 200
PHASE_WORDS = {
    "idle": "Waiting for the drive",
    "checking": "Checking the disc",
    "mastering": "Preparing the files (making the disc image)",
    "recording": "Writing the files to the disc",
    "verifying": "Checking what was written",
    "erasing": "Erasing the disc",
}
SHOWN = 12
"""Names listed on the files page; the rest are counted."""


def human(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(seconds + 0.5)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def read_status(mp: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(os.getxattr(mp, STATUS_XATTR))
    return data


def staged_names(mp: Path) -> list[str]:
    out = []
    for name in sorted(os.listdir(mp)):
        try:
            state = os.getxattr(mp / name, STATE_XATTR, follow_symlinks=False)
        except OSError:
            continue
        if state == b"staged":
            out.append(name)
    return out


def burn_lines(label: str, close: bool, verify: str, eject: bool, speed: str) -> list[str]:
    lines = [f"label={label}", f"verify={verify}", f"eject={'yes' if eject else 'no'}"]
    if close:
        lines.append("close=yes")
    if speed != "max":
        lines.append(f"speed={speed}")
    return lines


def result_words(last: dict[str, Any], erase: bool = False) -> tuple[str, str]:
    if erase:
        if last.get("ok"):
            return "The disc was erased.", "It is blank: you can write new files to it."
        return (
            "The disc was not erased.",
            f"{last.get('message') or 'The erase failed.'} "
            "The files waiting to be written are still waiting; nothing was lost.",
        )
    if last.get("ok"):
        return (
            "The files were written to the disc.",
            str(last.get("message") or "You can now read the disc on any computer."),
        )
    return (
        "The disc was not written.",
        f"{last.get('message') or 'The burn failed.'} "
        "The files are still waiting to be written; nothing was lost.",
    )


class Wizard:
    """The window and its pages (composition: GTK classes are not subclassed)."""

    PAGES = ("name", "files", "options", "erase", "progress", "result")
    ERASE_MODES = ("quick", "full")
    ERASE_WORDS = ("Quick erase (a minute or two)", "Full erase (every sector: much longer)")

    def __init__(self, app: Any, mp: Path, defaults: dict[str, str] | None = None) -> None:
        self.mp = mp
        self.defaults = defaults or {}
        """The options' starting values (``verify``, ``eject``, ``speed``):
        the user's settings, as ``cdfs wizard`` passes them."""
        self.status = read_status(mp)
        self.ticket = 0
        self.ok: bool | None = None
        """None until a burn has ended (cancelled: still None)."""
        self.erasing = self.defaults.get("mode") == "erase"
        self.page = "erase" if self.erasing else "name"
        self.state_file = os.environ.get("CDFS_WIZARD_STATE")
        title = "Erase disc" if self.erasing else "Write to disc"
        self.win = Gtk.ApplicationWindow(application=app, title=title)
        self.win.set_default_size(560, 400)
        self.stack = Gtk.Stack()
        self.labels: dict[str, list[Any]] = {p: [] for p in self.PAGES}
        outer = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=12)
        for side in ("top", "bottom", "start", "end"):
            getattr(outer, f"set_margin_{side}")(18)
        outer.append(self.stack)
        self.stack.set_vexpand(True)
        self.buttons = Gtk.Box(spacing=8, halign=Gtk.Align.END)
        outer.append(self.buttons)
        self.win.set_child(outer)
        self.cancel = self.button("_Cancel", self.on_cancel)
        self.back = self.button("_Back", self.on_back)
        self.next = self.button("_Next", self.on_next)
        self.write = self.button("_Write", self.on_write)
        self.erase = self.button("_Erase", self.on_erase)
        self.close = self.button("_Close", lambda *_: self.win.close())
        for b in (self.next, self.write, self.close):
            b.add_css_class("suggested-action")
        self.erase.add_css_class("destructive-action")
        self.build_name()
        self.build_files()
        self.build_options()
        self.build_erase()
        self.build_progress()
        self.build_result()
        for dropdown in (self.verify, self.speed):
            dropdown.connect("notify::selected", lambda *_: self.dump())
        for check in (self.close_check, self.eject_check):
            check.connect("toggled", lambda *_: self.dump())
        keys = Gtk.EventControllerKey()
        keys.connect("key-pressed", self.on_key)
        self.win.add_controller(keys)
        self.win.connect("close-request", self.on_close_request)
        self.show(self.page)

    # -- building ------------------------------------------------------------

    def button(self, text: str, handler: Any) -> Any:
        b = Gtk.Button.new_with_mnemonic(text)
        b.connect("clicked", handler)
        self.buttons.append(b)
        return b

    def box(self, page: str, title: str) -> Any:
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=10)
        heading = self.label(page, title, box)
        heading.add_css_class("title-2")
        self.stack.add_named(box, page)
        return box

    def label(self, page: str, text: str, box: Any) -> Any:
        lab = Gtk.Label(label=text, xalign=0, wrap=True)
        box.append(lab)
        self.labels[page].append(lab)
        return lab

    def build_name(self) -> None:
        box = self.box("name", "Name the disc")
        self.label("name", "Type the name you want to give this disc (up to 16 characters).", box)
        self.entry = Gtk.Entry(text=time.strftime("%b %d %Y"), activates_default=True)
        self.entry.set_max_length(32)
        box.append(self.entry)

    def build_files(self) -> None:
        box = self.box("files", "Files waiting to be written")
        s = self.status
        names = staged_names(self.mp)
        count = int(s.get("staged_files", 0))
        if not count and not s.get("staged_folder_changes"):
            self.label("files", "There are no files waiting to be written to the disc.", box)
        else:
            shown = ", ".join(names[:SHOWN]) + (
                f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
            )
            noun = "file" if count == 1 else "files"
            self.label("files", f"{count} {noun}, {human(s.get('staged_bytes'))}: {shown}", box)
        avail = s.get("available_bytes")
        free = s.get("free_bytes")
        self.label("files", f"Free on the disc now: {human(free)}.", box)
        if avail is not None and avail < 0:
            self.label("files", f"They do not fit: {human(-avail)} too much.", box)
        else:
            self.label("files", f"Space left on the disc after writing: {human(avail)}.", box)
        self.label("files", f"Disc: {s.get('media_title', 'unknown')}, {s.get('state', '')}.", box)
        self.fits = bool(count or s.get("staged_folder_changes")) and (avail or 0) >= 0

    def build_options(self) -> None:
        box = self.box("options", "Options")
        self.close_check = Gtk.CheckButton.new_with_mnemonic(
            "C_lose the disc (nothing more can be added to it later)"
        )
        self.eject_check = Gtk.CheckButton.new_with_mnemonic("_Eject the disc when done")
        box.append(self.close_check)
        box.append(self.eject_check)
        self.label("options", "Check the disc after writing:", box)
        self.verify = Gtk.DropDown.new_from_strings(VERIFY_WORDS)
        box.append(self.verify)
        self.label("options", "Writing speed (x):", box)
        d = self.defaults
        configured = d.get("speed", "max")
        self.speeds = SPEEDS if configured in SPEEDS else [*SPEEDS, configured]
        self.speed = Gtk.DropDown.new_from_strings(
            ["Fastest possible", *[f"{s}x" for s in self.speeds[1:]]]
        )
        self.eject_check.set_active(d.get("eject") == "yes")
        if d.get("verify") in VERIFY:
            self.verify.set_selected(VERIFY.index(d["verify"]))
        self.speed.set_selected(self.speeds.index(configured))
        box.append(self.speed)

    def build_erase(self) -> None:
        box = self.box("erase", "Erase this disc?")
        s = self.status
        self.erasable = bool(s.get("rewritable")) and s.get("state") not in ("no disc", "")
        self.erase_mode = Gtk.DropDown.new_from_strings(list(self.ERASE_WORDS))
        if not self.erasable:
            self.labels["erase"][0].set_text("This disc cannot be erased")
        if s.get("state") == "no disc":
            self.label("erase", "There is no disc in the drive: insert the disc to erase.", box)
        elif not s.get("rewritable"):
            self.label(
                "erase",
                f"This {s.get('media_title', 'disc')} cannot be erased: it can only be "
                "written to once.",
                box,
            )
        else:
            sessions = len(s.get("sessions") or [])
            what = f" ({sessions} session{'s' if sessions != 1 else ''})" if sessions else ""
            self.label(
                "erase",
                f"Erasing deletes everything on this {s.get('media_title', 'disc')}{what} "
                "for good.",
                box,
            )
            self.label(
                "erase",
                "Files waiting to be written are not touched: they are still waiting "
                "after the erase.",
                box,
            )
            box.append(self.erase_mode)

    def build_progress(self) -> None:
        heading = "Erasing the disc" if self.erasing else "Writing the files to the disc"
        box = self.box("progress", heading)
        self.phase = self.label("progress", "Starting...", box)
        self.bar = Gtk.ProgressBar(show_text=True)
        box.append(self.bar)
        self.speed_label = self.label("progress", "Speed: unknown", box)
        self.eta = self.label("progress", "Time left: unknown", box)
        what = "erase" if self.erasing else "burn"
        self.label("progress", f"The {what} cannot be cancelled once it has started.", box)

    def build_result(self) -> None:
        box = self.box("result", "Done")
        self.outcome = self.label("result", "", box)
        self.detail = self.label("result", "", box)

    # -- pages ---------------------------------------------------------------

    def show(self, page: str) -> None:
        self.page = page
        self.stack.set_visible_child_name(page)
        before = page in ("name", "files", "options", "erase")
        self.cancel.set_visible(before)
        self.erase.set_visible(page == "erase" and self.erasable)
        self.back.set_visible(page in ("files", "options"))
        self.next.set_visible(page in ("name", "files"))
        self.next.set_sensitive(page != "files" or self.fits)
        self.write.set_visible(page == "options")
        self.close.set_visible(page == "result")
        default = {
            "name": self.next,
            "files": self.next,
            "options": self.write,
            "erase": self.cancel,  # Enter keeps the disc: only Erase erases
        }
        target = default.get(page, self.close if page == "result" else None)
        self.win.set_default_widget(target)
        if page == "name":
            self.entry.grab_focus()
        elif target is not None and target.get_visible():
            target.grab_focus()
        self.dump()

    def on_next(self, *_: Any) -> None:
        if self.page == "name":
            self.show("files")
        elif self.page == "files" and self.fits:
            self.show("options")

    def on_back(self, *_: Any) -> None:
        self.show({"files": "name", "options": "files"}.get(self.page, self.page))

    def on_cancel(self, *_: Any) -> None:
        if self.page in ("name", "files", "options", "erase"):
            self.win.close()

    def on_key(self, _ctl: Any, keyval: int, _code: int, _state: Any) -> bool:
        if keyval == Gdk.KEY_Escape:
            self.on_cancel()
            return True
        return False

    def on_close_request(self, *_: Any) -> bool:
        return self.page == "progress"  # True keeps the window open while burning

    def on_write(self, *_: Any) -> None:
        lines = burn_lines(
            self.entry.get_text().strip() or time.strftime("%b %d %Y"),
            self.close_check.get_active(),
            VERIFY[self.verify.get_selected()],
            self.eject_check.get_active(),
            self.speeds[self.speed.get_selected()],
        )
        before = read_status(self.mp)
        try:
            (self.mp / ".burn").write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
        except OSError as exc:
            self.finish({"ok": False, "message": f"cdfs refused the burn: {exc.strerror}."})
            return
        self.ticket = int(before.get("requests", 0)) + 1
        self.show("progress")
        GLib.timeout_add(POLL_MS, self.poll)

    def on_erase(self, *_: Any) -> None:
        if self.page != "erase" or not self.erasable:
            return
        mode = self.ERASE_MODES[self.erase_mode.get_selected()]
        before = read_status(self.mp)
        try:
            os.setxattr(self.mp, ERASE_XATTR, mode.encode())
        except OSError as exc:
            after = read_status(self.mp).get("last_burn") or {}
            self.finish({"ok": False, "message": after.get("message") or exc.strerror})
            return
        self.ticket = int(before.get("requests", 0)) + 1
        self.show("progress")
        GLib.timeout_add(POLL_MS, self.poll)

    def poll(self) -> bool:
        try:
            s = read_status(self.mp)
        except OSError as exc:
            self.finish({"ok": False, "message": f"the mount stopped answering ({exc.strerror})."})
            return False
        burn = s.get("burn", {})
        last = s.get("last_burn") or {}
        if burn.get("phase") in AT_REST and int(last.get("request", 0)) >= self.ticket:
            self.finish(last)
            return False
        phase = str(burn.get("phase", "idle"))
        self.phase.set_text(PHASE_WORDS.get(phase, phase.capitalize()))
        self.bar.set_fraction(min(1.0, float(burn.get("percent") or 0) / 100))
        self.bar.set_text(f"{float(burn.get('percent') or 0):.0f}%")
        bps = burn.get("bytes_per_second")
        x = burn.get("x_factor")
        self.speed_label.set_text(
            f"Speed: {human(bps)}/s" + (f" ({x:.1f}x)" if x else "") if bps else "Speed: unknown"
        )
        self.eta.set_text(f"Time left: {duration(burn.get('seconds_remaining'))}")
        self.dump()
        return True

    def finish(self, last: dict[str, Any]) -> None:
        outcome, detail = result_words(last, self.erasing)
        self.outcome.set_text(outcome)
        self.detail.set_text(detail)
        self.ok = bool(last.get("ok"))
        if self.ok:
            self.bar.set_fraction(1.0)
        self.show("result")

    # -- the test hook -------------------------------------------------------

    def dump(self) -> None:
        if not self.state_file:
            return
        state = {
            "page": self.page,
            "texts": [lab.get_text() for lab in self.labels[self.page]],
            "entry": self.entry.get_text(),
            "buttons": [
                b.get_label().replace("_", "")
                for b in (self.cancel, self.back, self.next, self.write, self.erase, self.close)
                if b.get_visible()
            ],
            "sensitive": [
                b.get_label().replace("_", "")
                for b in (self.next, self.write, self.erase, self.close)
                if b.get_visible() and b.get_sensitive()
            ],
            "default": next(
                (
                    b.get_label().replace("_", "")
                    for b in (self.cancel, self.next, self.write, self.close)
                    if b is self.win.get_default_widget()
                ),
                None,
            ),
            "progress": self.bar.get_fraction(),
            "options": {
                "close": self.close_check.get_active(),
                "eject": self.eject_check.get_active(),
                "verify": VERIFY[self.verify.get_selected()],
                "speed": self.speeds[self.speed.get_selected()],
            },
            "erase": self.ERASE_MODES[self.erase_mode.get_selected()],
        }
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, self.state_file)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(
            "usage: python3 -m cdfs.desktop.wizard MOUNTPOINT [KEY=VALUE...] (mode=erase: erase)",
            file=sys.stderr,
        )
        return 2
    mp = Path(args[0]).resolve()
    defaults = dict(a.partition("=")[::2] for a in args[1:])
    try:
        read_status(mp)
    except OSError:
        print(f"cdfs: {mp} is not a cdfs mount", file=sys.stderr)
        return 3
    app = Gtk.Application(application_id=None)
    holder: dict[str, Wizard] = {}

    def activate(a: Any) -> None:
        holder["w"] = Wizard(a, mp, defaults)
        holder["w"].win.present()

    app.connect("activate", activate)
    app.run([sys.argv[0]])
    w = holder.get("w")
    return 1 if w is not None and w.ok is False else 0


if __name__ == "__main__":
    sys.exit(main())
